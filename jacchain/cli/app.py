"""The commands: each parses its options, calls the library and hands the result to render."""

from __future__ import annotations

import functools
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import click

from ..types import COST_CHOICES, DTYPES
from .errors import InputError, OneLineErrors, user_errors
from .options import (
    ChainChoice,
    ElementalChoice,
    NetworkChoice,
    RunChoice,
    TrainChoice,
    chain_options,
    elemental_options,
    max_memory_option,
    memory_option,
    network_options,
    output_options,
    run_options,
    threads_option,
    train_options,
    writable_path,
)

if TYPE_CHECKING:
    from ..model.spec import NetworkSpec


def load(spec: str, network: NetworkChoice) -> NetworkSpec:
    from ..model.config import load_network

    return load_network(spec, **asdict(network))


def show(result: Any, fmt: str, output: str | None) -> None:
    from ..render import render
    from .emit import emit

    emit(render(result, fmt), output)


def refuse_overlap(inputs: list[str], **outputs: str | None) -> None:
    """Refuse an output that is an input of the command, or another of its outputs."""
    from ..io import refuse_overlap as refuse

    refuse({_option(name): path for name, path in outputs.items()}, inputs)


def _option(name: str) -> str:
    return "-o" if name == "output" else f"--{name.replace('_', '-')}"


def is_chain(spec: str) -> bool:
    from ..chain.config import is_chain_config

    return is_chain_config(spec)


def analyze_chains(
    specs: tuple[str, ...],
    network: NetworkChoice,
    chain: ChainChoice,
    run: RunChoice,
    elementals: ElementalChoice,
    plot_path: str | None,
    fmt: str,
) -> list[Any]:
    """Chain configs, and networks read as chains of elementals (--order matrix-free, ...)."""
    from ..chain.config import load_chain
    from ..chain.elementals import network_chain
    from ..jobs.chain import analyze_chain, run_plans
    from ..run.calibrate import calibration_for
    from .progress import progress_bar

    if plot_path and not elementals.machines:
        raise InputError("--plot draws the schedules: give --machines P too")
    if plot_path:
        from ..render.plot import check_plot_path

        check_plot_path(plot_path)
    results = []
    with progress_bar(fmt != "json") as progress:
        for spec in specs:
            net = None if is_chain(spec) else load(spec, network)
            if net is None:
                given = [name for name in ("activation", "output_activation", "loss") if getattr(network, name)]
                if given:
                    raise InputError(
                        f"{_option(given[0])} applies to networks; {spec} is a chain config "
                        "(its elementals carry their own costs)"
                    )
                chain_of, source = load_chain(spec), "chain config"
            else:
                chain_of = network_chain(net, chain.of)
                source = f"network read as a chain of elementals, of={chain.of}"
            result = analyze_chain(
                chain_of,
                run.order_names or None,
                elementals.memory,
                elementals.machines,
                elementals.time_limit,
                source,
                progress,
            )
            if not (run.analytic or (net is not None and net.analytic)):
                progress(f"running the plans of {result.chain.label}", 0, 1)
                result = run_plans(
                    result,
                    net,
                    chain.of,
                    network.dtype,
                    network.seed,
                    run.repeats,
                    run.threads,
                    memory_limit(run.max_memory),
                    functools.partial(
                        calibration_for,
                        measure_if_missing=run.time_model,
                        progress=progress,
                        max_memory=memory_limit(run.max_memory),
                    ),
                )
            results.append(result)
    if plot_path:
        from ..render.plot import gantt

        gantt(results, plot_path)
    return results


def preflight(run: RunChoice, chain: ChainChoice) -> None:
    """Check the order names and the chain options before anything is measured."""
    from ..chain.factors import check_chain_choice
    from ..planners.orders import resolve_orders

    resolve_orders(run.order_names)
    check_chain_choice(chain.of, chain.granularity, chain.wrt)


def memory_limit(max_memory: str | None) -> int | None:
    from ..cost.memory import parse_bytes

    return parse_bytes(max_memory, "--max-memory") if max_memory is not None else None


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="jacchain")
def cli() -> None:
    """jacchain: what multiplying the chain of layer Jacobians costs, in which order, and why
    backpropagation wins.

    SPEC is an inline size list, input width first (784,512,256,10), or a YAML config.
    """


@cli.command()
@click.argument("specs", metavar="SPEC...", nargs=-1, required=True)
@network_options
@chain_options
@run_options
@click.option(
    "--measure-memory", is_flag=True, help="Also measure each order's peak bytes with tracemalloc, beside the model."
)
@click.option(
    "--cost",
    type=click.Choice(COST_CHOICES),
    default="flops",
    show_default=True,
    help="What the optimal order minimises: FLOPs, or time predicted from `jacchain calibrate`.",
)
@elemental_options
@click.option(
    "--plot",
    "plot_path",
    callback=writable_path,
    help="With --machines: draw each optimum's schedule as a Gantt chart (.png or .svg).",
)
@output_options
@user_errors
def analyze(
    specs: tuple[str, ...],
    network: NetworkChoice,
    chain: ChainChoice,
    run: RunChoice,
    measure_memory: bool,
    cost: Any,
    elementals: ElementalChoice,
    plot_path: str | None,
    fmt: str,
    output: str | None,
) -> None:
    """Count, time and cross-check every multiplication order of the chain.

    \b
    Example:
      jacchain analyze 784,512,256,10
      jacchain analyze configs/seed.yaml --format json -o seed.json
      jacchain analyze configs/autoencoder.yaml --of output
      jacchain analyze 784,512,256,10 --wrt params --granularity op
      jacchain analyze configs/jcdp-example.yaml --machines 2 --plot schedule.png
      jacchain analyze 784,512,256,10 --order matrix-free,accumulate --memory 100000
    """
    from ..jobs.analyze import analyze as run_analysis
    from ..jobs.analyze import machine_for
    from .progress import progress_bar

    refuse_overlap(list(specs), output=output, plot=plot_path)
    if any(is_chain(spec) for spec in specs) or elementals.wanted(run.order_names):
        show(analyze_chains(specs, network, chain, run, elementals, plot_path, fmt), fmt, output)
        return
    if plot_path:
        raise InputError("--plot draws schedules: give --machines and a chain config or --order matrix-free")
    preflight(run, chain)
    limit = memory_limit(run.max_memory)
    networks = [load(spec, network) for spec in specs]
    results = []
    with progress_bar(fmt != "json") as progress:
        for spec in networks:
            calibrate = functools.partial(
                machine_for, spec, run.time_model, cost, run.analytic, run.threads, progress, limit
            )
            results.append(
                run_analysis(
                    spec,
                    orders=run.order_names,
                    **asdict(chain),
                    analytic=run.analytic,
                    repeats=run.repeats,
                    max_memory=limit,
                    threads=run.threads,
                    measure_memory=measure_memory,
                    cost=cost,
                    progress=progress,
                    calibrate=calibrate,
                )
            )
    show(results, fmt, output)


@cli.command()
@click.argument("spec", metavar="SPEC")
@network_options
@chain_options
@memory_option
@output_options
@user_errors
def explain(
    spec: str, network: NetworkChoice, chain: ChainChoice, memory: int | None, fmt: str, output: str | None
) -> None:
    """Write out the article's sums with this network's numbers, and the optimal tree.

    \b
    Example:
      jacchain explain 784,512,256,10
      jacchain explain configs/autoencoder.yaml --of output
      jacchain explain configs/jcdp-example.yaml
    """
    from ..jobs.explain import explain as run_explain

    refuse_overlap([spec], output=output)
    if is_chain(spec):
        from ..chain.config import load_chain
        from ..jobs.chain import explain_chain

        show(explain_chain(load_chain(spec), memory), fmt, output)
        return
    if memory is not None:
        raise InputError("--memory applies to a chain config (explain writes out its matrix-free plan)")
    show(run_explain(load(spec, network), **asdict(chain)), fmt, output)


@cli.command()
@click.argument("spec", metavar="SPEC")
@network_options
@train_options
@threads_option
@max_memory_option
@output_options
@user_errors
def train(
    spec: str,
    network: NetworkChoice,
    training: TrainChoice,
    threads: int | None,
    max_memory: str | None,
    fmt: str,
    output: str | None,
) -> None:
    """Train the network on real data with the efficient (loss-first) order.

    \b
    Example:
      jacchain train configs/digits.yaml
      jacchain train 64,128,64,10 --loss cross_entropy --dataset digits --epochs 5
    """
    from ..training.data import SYNTHETIC_SAMPLES, load_dataset
    from ..training.loop import check_train_memory
    from ..training.loop import train as run_train
    from ..training.settings import TrainSettings
    from .progress import progress_bar

    net = load(spec, network)
    given = asdict(training)
    settings = TrainSettings.resolve(net.train, given, given.pop("mode"), given.pop("grad_check"))
    refuse_overlap([spec, settings.dataset], output=output)
    limit = memory_limit(max_memory)
    check_train_memory(net, settings, limit, SYNTHETIC_SAMPLES if settings.dataset == "synthetic" else 0)
    data = load_dataset(settings.dataset, net, seed=net.seed, test_fraction=settings.test_fraction)
    with progress_bar(fmt != "json") as progress:
        result = run_train(net, data, settings, seed=net.seed, threads=threads, progress=progress, max_memory=limit)
    show(result, fmt, output)


@cli.command()
@click.argument("specs", metavar="SPEC...", nargs=-1, required=True)
@click.option("--baseline", required=True, type=click.Path(dir_okay=False), help="Baseline JSON file of exact counts.")
@click.option(
    "--update", is_flag=True, help="Rewrite the entries of SPEC... in the baseline, keeping the others (atomically)."
)
@click.option("--prune", is_flag=True, help="With --update, also drop entries whose config file no longer exists.")
@output_options
@user_errors
def check(specs: tuple[str, ...], baseline: str, update: bool, prune: bool, fmt: str, output: str | None) -> None:
    """Compare exact FLOP counts with a baseline file: exit 1 on any change (for CI).

    \b
    Example:
      jacchain check configs/*.yaml --baseline configs/flops-baseline.json
      jacchain check configs/*.yaml --baseline configs/flops-baseline.json --update
      jacchain check configs/*.yaml --baseline configs/flops-baseline.json --update --prune
    """
    from ..jobs.regress import check as run_check
    from ..jobs.regress import load_named

    refuse_overlap([*specs, baseline], output=output)
    result = run_check(load_named(specs, baseline), baseline, update=update, prune=prune)
    show(result, fmt, output)
    if not result.ok and not update:
        sys.exit(1)


@cli.command()
@click.argument("spec", metavar="SPEC")
@network_options
@click.option(
    "--vary", required=True, metavar="WHAT=LO:HI", help="The width to vary: input or layerN, e.g. input=16:65536."
)
@click.option("--points", type=int, default=8, show_default=True, help="Number of widths.")
@click.option("--log", "log_spacing", is_flag=True, help="Space the widths geometrically.")
@chain_options
@run_options
@click.option(
    "--plot",
    "plot_path",
    callback=writable_path,
    help="Draw FLOPs and time against the width (.png or .svg; needs jacchain[plot]).",
)
@output_options
@user_errors
def sweep(
    spec: str,
    network: NetworkChoice,
    vary: str,
    points: int,
    log_spacing: bool,
    chain: ChainChoice,
    run: RunChoice,
    plot_path: str | None,
    fmt: str,
    output: str | None,
) -> None:
    """Vary one width; tabulate and plot the cost and time of every order.

    \b
    Example:
      jacchain sweep configs/seed.yaml --vary input=16:65536 --points 13 --log --plot sweep.png
      jacchain sweep 784,512,256,10 --vary layer2=8:1024 --points 8 --log --format csv
    """
    from ..jobs.analyze import machine_for
    from ..jobs.sweep import parse_vary, run_sweep, sweep_widths
    from ..render.plot import check_plot_path, plot
    from .progress import progress_bar

    refuse_overlap([spec], output=output, plot=plot_path)
    preflight(run, chain)
    net = load(spec, network)
    how = parse_vary(vary, net)
    widths = sweep_widths(how.low, how.high, points, log_spacing)
    limit = memory_limit(run.max_memory)
    if plot_path:
        check_plot_path(plot_path)
    with progress_bar(fmt != "json") as progress:
        calibration = machine_for(net, run.time_model, "flops", run.analytic, run.threads, progress, limit)
        result = run_sweep(
            net,
            how,
            widths,
            progress=progress,
            orders=run.order_names,
            **asdict(chain),
            analytic=run.analytic,
            repeats=run.repeats,
            max_memory=limit,
            threads=run.threads,
            calibration=calibration,
        )
    if plot_path:
        plot(result, plot_path)
    show(result, fmt, output)


@cli.command()
@click.option("--dtype", type=click.Choice(DTYPES), default="float64", show_default=True, help="Floating-point type.")
@threads_option
@output_options
@user_errors
def calibrate(dtype: str, threads: int | None, fmt: str, output: str | None) -> None:
    """Measure this machine's matrix-multiply rate and streaming bandwidth; cache them.

    \b
    Example:
      jacchain calibrate
      jacchain calibrate --dtype float32 --threads 1 --format json
    """
    from ..run.calibrate import cache_path
    from ..run.calibrate import calibrate as run_calibrate

    refuse_overlap([str(cache_path())], output=output)
    show(run_calibrate(dtype, threads), fmt, output)


@cli.command()
@click.argument("what", type=click.Choice(("config", "analyze", "check", "train")))
@user_errors
def schema(what: str) -> None:
    """Print the JSON Schema of a YAML config, or of a command's JSON output.

    \b
    Example:
      jacchain schema config > jacchain-config.schema.json
      jacchain schema analyze
    """
    from ..render.schema import SCHEMAS
    from ..render.text import to_json

    click.echo(to_json(SCHEMAS.get(what)()), nl=False)


def main() -> None:
    cli(prog_name="jacchain")
