"""The command line: click commands that parse options, call the library and render. No maths."""

from __future__ import annotations

import functools
import sys
from dataclasses import replace
from typing import Any, Callable

import click

from .errors import JacchainError
from .formats import FORMATS


class InputError(click.ClickException):
    """A user error: one line on stderr, exit code 2."""

    exit_code = 2


def user_errors(command: Callable) -> Callable:
    """Turn library errors into clean one-line CLI errors at the boundary."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except JacchainError as error:
            raise InputError(str(error)) from None
        except MemoryError:
            raise InputError("out of memory; lower the sizes, or use --analytic to count without building") from None

    return wrapper


def writable_path(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse an output path whose folder does not exist before any work is done."""
    if value is None:
        return value
    from pathlib import Path

    folder = Path(value).parent
    if not folder.is_dir():
        raise InputError(f"cannot write {value}: folder {folder} does not exist")
    if Path(value).is_dir():
        raise InputError(f"cannot write {value}: it is a folder")
    return value


def output_options(command: Callable) -> Callable:
    command = click.option("-o", "--output", callback=writable_path, help="Write to FILE (atomically) instead of stdout.")(command)
    command = click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True, help="Output format.")(command)
    return command


def network_options(command: Callable) -> Callable:
    """Options that shape the network; with a YAML SPEC they override the file."""
    from .activations import ACTIVATIONS
    from .losses import LOSSES
    from .spec import DTYPES

    options = [
        click.option("--activation", metavar="NAME", help=f"Hidden-layer activation [default: relu; {'|'.join(ACTIVATIONS.names())}]."),
        click.option("--output-activation", metavar="NAME", help="Output-layer activation [default: identity]."),
        click.option("--loss", metavar="NAME", help=f"Loss [default: mse; {'|'.join(LOSSES.names())}]."),
        click.option("--dtype", type=click.Choice(DTYPES), help="Floating-point type [default: float64]."),
        click.option("--seed", type=click.IntRange(min=0), help="Seed of the parameters and the point [default: 0]."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def load(spec: str, options: dict[str, Any]):
    from .config import load_network

    keys = ("activation", "output_activation", "loss", "dtype", "seed")
    return load_network(spec, **{key: options.pop(key) for key in keys})


def machine_calibration(dtype: str, threads: int | None, measure_if_missing: bool, progress):
    """The cached calibration for this dtype and thread count; measured now (once) if missing
    and wanted."""
    from .calibrate import cached, load_or_measure

    found = cached(dtype, threads)
    if found is None and measure_if_missing:
        progress("calibrating this machine (once; then cached)", 0, 1)
        found = load_or_measure(dtype, threads)
    return found


def split_names(values: tuple[str, ...]) -> list[str]:
    return [name for value in values for name in value.split(",") if name.strip()]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="jacchain")
def cli() -> None:
    """jacchain: what multiplying the chain of layer Jacobians costs, in which order, and why
    backpropagation wins.

    SPEC is an inline size list, input width first (784,512,256,10), or a YAML config.
    """


@cli.command()
@click.argument("specs", metavar="SPEC...", nargs=-1, required=True)
@network_options
@click.option("--order", "orders", multiple=True, metavar="NAME[,NAME]", help="Orders to run: loss-first, input-first, optimal (aliases: forwards, backwards, vjp, jvp) [default: all].")
@click.option("--of", type=click.Choice(("loss", "output")), default="loss", show_default=True, help="Differentiate the loss (chain starts with g) or the output z_L (full Jacobian).")
@click.option("--wrt", type=click.Choice(("input", "params")), default="input", show_default=True, help="Differentiate with respect to the input x, or every W_i, b_i (needs --of loss).")
@click.option("--granularity", type=click.Choice(("layer", "op")), default="layer", show_default=True, help="One J_i per layer, or W_i and D_i as separate factors.")
@click.option("--analytic", is_flag=True, help="Count from shapes alone; build and time nothing (any size).")
@click.option("--repeats", type=click.IntRange(min=1), help="Timed repeats per order [default: enough for ~0.2 s, at least 3].")
@click.option("--threads", type=click.IntRange(min=1), help="BLAS threads (threadpoolctl) [default: as is].")
@click.option("--max-memory", metavar="SIZE", help="Refuse explicit runs needing more (e.g. 4GiB) [default: half the available memory].")
@click.option("--measure-memory", is_flag=True, help="Also measure each order's peak bytes with tracemalloc, beside the model.")
@click.option("--cost", type=click.Choice(("flops", "time")), default="flops", show_default=True, help="What the optimal order minimises: FLOPs, or time predicted from `jacchain calibrate`.")
@click.option("--time-model/--no-time-model", default=True, show_default=True, help="Show each order's predicted time (calibrates this machine once, then uses the cache).")
@output_options
@user_errors
def analyze(specs, orders, of, wrt, granularity, analytic, repeats, threads, max_memory, measure_memory, cost, time_model, fmt, output, **network):
    """Count, time and cross-check every multiplication order of the chain.

    \b
    Example:
      jacchain analyze 784,512,256,10
      jacchain analyze configs/seed.yaml --format json -o seed.json
      jacchain analyze configs/autoencoder.yaml --of output
      jacchain analyze 784,512,256,10 --wrt params --granularity op
    """
    from .analysis import analyze as run_analysis
    from .memory import parse_bytes
    from .progress import progress_bar
    from .report import render_analyses
    from .output import emit

    limit = parse_bytes(max_memory) if max_memory is not None else None
    networks = [load(spec, dict(network)) for spec in specs]
    results = []
    with progress_bar(fmt != "json") as progress:
        for spec in networks:
            calibration = None
            if time_model or cost == "time":
                needed = cost == "time" or not (analytic or spec.analytic)
                calibration = machine_calibration(spec.dtype, threads, needed, progress)
            results.append(run_analysis(
                spec, orders=split_names(orders), of=of, wrt=wrt, granularity=granularity,
                analytic=analytic, repeats=repeats, max_memory=limit, threads=threads,
                measure_memory=measure_memory, calibration=calibration, cost=cost, progress=progress,
            ))
    emit(render_analyses(results, fmt), output)


@cli.command()
@click.argument("spec", metavar="SPEC")
@network_options
@click.option("--of", type=click.Choice(("loss", "output")), default="loss", show_default=True, help="Differentiate the loss or the output z_L.")
@click.option("--wrt", type=click.Choice(("input", "params")), default="input", show_default=True, help="Differentiate with respect to x or every W_i, b_i.")
@click.option("--granularity", type=click.Choice(("layer", "op")), default="layer", show_default=True, help="One J_i per layer, or W_i and D_i apart.")
@output_options
@user_errors
def explain(spec, of, wrt, granularity, fmt, output, **network):
    """Write out the article's sums with this network's numbers, and the optimal tree.

    \b
    Example:
      jacchain explain 784,512,256,10
      jacchain explain configs/autoencoder.yaml --of output
    """
    from .explain import explain as run_explain
    from .output import emit
    from .report_explain import render_explanation

    result = run_explain(load(spec, dict(network)), of=of, granularity=granularity, wrt=wrt)
    emit(render_explanation(result, fmt), output)


@cli.command()
@click.argument("spec", metavar="SPEC")
@network_options
@click.option("--dataset", metavar="NAME|PATH", help="digits, synthetic, or a .npz (X, y) / .csv file [default: the config's, else synthetic].")
@click.option("--steps", type=int, help="Number of SGD steps.")
@click.option("--epochs", type=int, help="Number of passes over the training set [default: 10].")
@click.option("--batch", type=int, help="Mini-batch size [default: 32].")
@click.option("--lr", type=float, help="Learning rate [default: 0.05].")
@click.option("--momentum", type=float, help="Momentum in [0, 1) [default: 0].")
@click.option("--weight-decay", type=float, help="L2 weight decay [default: 0].")
@click.option("--mode", type=click.Choice(("vjp", "explicit")), default="vjp", show_default=True, help="Batched VJPs, or each sample's explicit Jacobians multiplied loss-first (slow; for teaching).")
@click.option("--grad-check", is_flag=True, help="Compare the first step's gradients with finite differences (float64).")
@click.option("--threads", type=click.IntRange(min=1), help="BLAS threads (threadpoolctl).")
@output_options
@user_errors
def train(spec, dataset, steps, epochs, batch, lr, momentum, weight_decay, mode, grad_check, threads, fmt, output, **network):
    """Train the network on real data with the efficient (loss-first) order.

    \b
    Example:
      jacchain train configs/digits.yaml
      jacchain train 64,128,64,10 --loss cross_entropy --dataset digits --epochs 5
    """
    from dataclasses import fields

    from .data import load_dataset
    from .output import emit
    from .progress import progress_bar
    from .report_train import render_train
    from .timing import blas_info, blas_threads
    from .train import Diverged, TrainSettings, train as run_train

    net = load(spec, dict(network))
    given = {"dataset": dataset, "steps": steps, "epochs": epochs, "batch": batch, "lr": lr,
             "momentum": momentum, "weight_decay": weight_decay}
    values = {key: value for key, value in (net.train or {}).items() if key in {f.name for f in fields(TrainSettings)}}
    if steps is not None:
        values.pop("epochs", None)
    if epochs is not None:
        values.pop("steps", None)
    values.update({key: value for key, value in given.items() if value is not None})
    settings = TrainSettings(**values, mode=mode, grad_check=grad_check).validated()
    data = load_dataset(settings.dataset, net, seed=net.seed, test_fraction=settings.test_fraction)
    try:
        with blas_threads(threads), progress_bar(fmt != "json") as progress:
            result = run_train(net, data, settings, seed=net.seed, progress=progress)
            result = replace(result, blas=blas_info())
    except Diverged as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(1)
    emit(render_train(result, fmt), output)


@cli.command()
@click.argument("specs", metavar="SPEC...", nargs=-1, required=True)
@click.option("--baseline", required=True, type=click.Path(dir_okay=False), help="Baseline JSON file of exact counts.")
@click.option("--update", is_flag=True, help="Rewrite the baseline with the counts of SPEC... (atomically).")
@output_options
@user_errors
def check(specs, baseline, update, fmt, output):
    """Compare exact FLOP counts with a baseline file: exit 1 on any change (for CI).

    \b
    Example:
      jacchain check configs/*.yaml --baseline configs/flops-baseline.json
      jacchain check configs/*.yaml --baseline configs/flops-baseline.json --update
    """
    from pathlib import Path

    from .config import is_config_path, load_network
    from .output import emit
    from .regress import check as run_check
    from .report_check import render_check

    named = [(Path(spec).name if is_config_path(spec) else spec, load_network(spec)) for spec in specs]
    result = run_check(named, baseline, update=update)
    emit(render_check(result, fmt), output)
    if not result.ok and not update:
        sys.exit(1)


@cli.command()
@click.argument("spec", metavar="SPEC")
@network_options
@click.option("--vary", required=True, metavar="WHAT=LO:HI", help="The width to vary: input or layerN, e.g. input=16:65536.")
@click.option("--points", type=int, default=8, show_default=True, help="Number of widths.")
@click.option("--log", "log_spacing", is_flag=True, help="Space the widths geometrically.")
@click.option("--order", "orders", multiple=True, metavar="NAME[,NAME]", help="Orders to run [default: all].")
@click.option("--of", type=click.Choice(("loss", "output")), default="loss", show_default=True)
@click.option("--granularity", type=click.Choice(("layer", "op")), default="layer", show_default=True)
@click.option("--analytic", is_flag=True, help="Count only; time nothing.")
@click.option("--repeats", type=click.IntRange(min=1), help="Timed repeats per order and width.")
@click.option("--threads", type=click.IntRange(min=1), help="BLAS threads (threadpoolctl).")
@click.option("--max-memory", metavar="SIZE", help="Widths whose explicit run needs more are counted only.")
@click.option("--time-model/--no-time-model", default=True, show_default=True, help="Add the predicted time of each order.")
@click.option("--plot", "plot_path", callback=writable_path, help="Draw FLOPs and time against the width (.png or .svg; needs jacchain[plot]).")
@output_options
@user_errors
def sweep(spec, vary, points, log_spacing, orders, of, granularity, analytic, repeats, threads, max_memory,
          time_model, plot_path, fmt, output, **network):
    """Vary one width; tabulate and plot the cost and time of every order.

    \b
    Example:
      jacchain sweep configs/seed.yaml --vary input=16:65536 --points 13 --log --plot sweep.png
      jacchain sweep 784,512,256,10 --vary layer2=8:1024 --points 8 --log --format csv
    """
    from .memory import parse_bytes
    from .output import emit
    from .progress import progress_bar
    from .report_sweep import check_plot_path, plot, render_sweep
    from .sweep import parse_vary, run_sweep, sweep_widths

    net = load(spec, dict(network))
    how = parse_vary(vary, net)
    widths = sweep_widths(how.low, how.high, points, log_spacing)
    limit = parse_bytes(max_memory) if max_memory is not None else None
    if plot_path:
        check_plot_path(plot_path)
    calibration = None
    with progress_bar(fmt != "json") as progress:
        if time_model:
            calibration = machine_calibration(net.dtype, threads, not (analytic or net.analytic), progress)
        result = run_sweep(net, how, widths, progress=progress, orders=split_names(orders), of=of,
                           granularity=granularity, analytic=analytic, repeats=repeats, max_memory=limit,
                           threads=threads, calibration=calibration)
    if plot_path:
        plot(result, plot_path)
    emit(render_sweep(result, fmt), output)


@cli.command()
@click.option("--dtype", type=click.Choice(("float64", "float32")), default="float64", show_default=True)
@click.option("--threads", type=click.IntRange(min=1), help="BLAS threads [default: as is].")
@output_options
@user_errors
def calibrate(dtype, threads, fmt, output):
    """Measure this machine's matrix-multiply rate and streaming bandwidth; cache them.

    \b
    Example:
      jacchain calibrate
      jacchain calibrate --dtype float32 --threads 1 --format json
    """
    from .calibrate import cache_path, measure, store
    from .formats import to_csv, to_json
    from .output import emit

    result = measure(dtype, threads)
    path = store(result)
    if fmt == "json":
        emit(to_json({**result.to_dict(), "cache": str(path)}), output)
    elif fmt == "csv":
        emit(to_csv([result.to_dict()], list(result.to_dict())), output)
    else:
        lines = [
            f"BLAS {result.blas}, {result.dtype}, {result.threads} thread(s)",
            f"matrix multiply ({result.gemm_size}^3): {result.gemm_gflops:.1f} GFLOP/s",
            f"vector-matrix streaming from memory ({result.stream_bytes / 2**20:.0f} MiB matrix): {result.stream_gbps:.1f} GB/s",
            f"vector-matrix streaming from cache (up to {result.cache_bytes / 2**20:.0f} MiB): {result.cache_gbps:.1f} GB/s",
            f"fixed cost of one tiny product: {result.call_s * 1e6:.2f} us",
            f"cached in {cache_path()}",
        ]
        emit("\n".join(("- " if fmt == "markdown" else "") + line for line in lines) + "\n", output)


def main() -> None:
    cli(prog_name="jacchain")


if __name__ == "__main__":  # pragma: no cover
    main()
