"""Option groups shared by the commands: each option is declared once, with one help text,
and its choices come from the library's vocabulary."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, TypeVar

import click

from ..types import (
    BLAS_BACKENDS,
    DTYPES,
    FORMATS,
    GRANULARITIES,
    OF_CHOICES,
    TRAIN_MODES,
    WRT_CHOICES,
    Dtype,
    Granularity,
    Of,
    TrainMode,
    Wrt,
)
from .errors import InputError

F = TypeVar("F", bound=Callable[..., Any])


def _apply(options: list[Callable[[F], F]], command: F) -> F:
    for option in reversed(options):
        command = option(command)
    return command


@dataclass(frozen=True)
class NetworkChoice:
    """--activation, --output-activation, --loss, --dtype, --seed (None: not given)."""

    activation: str | None
    output_activation: str | None
    loss: str | None
    dtype: Dtype | None
    seed: int | None


@dataclass(frozen=True)
class ChainChoice:
    """--of, --wrt, --granularity, as keyword arguments of the library's jobs."""

    of: Of
    wrt: Wrt
    granularity: Granularity


@dataclass(frozen=True)
class RunChoice:
    """--order, --analytic, --repeats, --threads, --max-memory, --time-model."""

    orders: tuple[str, ...]
    analytic: bool
    repeats: int | None
    threads: int | None
    max_memory: str | None
    time_model: bool

    @property
    def order_names(self) -> list[str]:
        """--order a,b --order c -> [a, b, c]. A value that names no order (`--order ,`) is kept
        whole, so that it is refused as an unknown order instead of read as every order."""
        names = []
        for value in self.orders:
            names += [name for name in value.split(",") if name.strip()] or [value]
        return names


@dataclass(frozen=True)
class ElementalChoice:
    """--memory, --machines, --time-limit: for chains of elementals."""

    memory: int | None
    machines: int | None
    time_limit: float

    def wanted(self, order_names: list[str]) -> bool:
        """Whether a network is to be read as a chain of elementals."""
        from ..planners.orders import wants_elementals

        return wants_elementals(order_names) or self.memory is not None or self.machines is not None


@dataclass(frozen=True)
class TrainChoice:
    """The options of `jacchain train` that override a config's `train:` section."""

    dataset: str | None
    steps: int | None
    epochs: int | None
    batch: int | None
    lr: float | None
    momentum: float | None
    weight_decay: float | None
    mode: TrainMode
    grad_check: bool
    blas: str


def _packed(name: str, choice: type) -> Callable[[F], F]:
    """Hand a group's option values to the command as one `name=choice(...)` argument."""
    keys = [field.name for field in fields(choice)]

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            values = {key: kwargs.pop(key) for key in keys}
            return command(*args, **kwargs, **{name: choice(**values)})

        return wrapper  # type: ignore[return-value]  # functools.wraps keeps the signature

    return decorate


def writable_path(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse, before any work is done, an output that cannot or must not be written."""
    from ..errors import JacchainError
    from ..io import check_writable

    if value is not None:
        try:
            check_writable(value)
        except JacchainError as error:
            raise InputError(str(error)) from None
    return value


def output_options(command: F) -> F:
    """--format and -o, for every command."""
    return _apply(
        [
            click.option(
                "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True, help="Output format."
            ),
            click.option(
                "-o",
                "--output",
                callback=writable_path,
                help="Write to FILE (atomically) instead of stdout; - is stdout.",
            ),
        ],
        command,
    )


def network_options(command: F) -> F:
    """Options that shape the network; with a YAML SPEC they override the file. The command
    gets them as `network: NetworkChoice`."""
    from ..model.activations import ACTIVATIONS
    from ..model.losses import LOSSES

    command = _packed("network", NetworkChoice)(command)
    return _apply(
        [
            click.option(
                "--activation",
                metavar="NAME",
                help=f"Hidden-layer activation [default: relu; {'|'.join(ACTIVATIONS.names())}].",
            ),
            click.option("--output-activation", metavar="NAME", help="Output-layer activation [default: identity]."),
            click.option("--loss", metavar="NAME", help=f"Loss [default: mse; {'|'.join(LOSSES.names())}]."),
            click.option("--dtype", type=click.Choice(DTYPES), help="Floating-point type [default: float64]."),
            click.option(
                "--seed", type=click.IntRange(min=0), help="Seed of the parameters and the point [default: 0]."
            ),
        ],
        command,
    )


def chain_options(command: F) -> F:
    """What is differentiated, with respect to what, at which granularity: `chain: ChainChoice`."""
    command = _packed("chain", ChainChoice)(command)
    return _apply(
        [
            click.option(
                "--of",
                type=click.Choice(OF_CHOICES),
                default="loss",
                show_default=True,
                help="Differentiate the loss (chain starts with g) or the output z_L (full Jacobian).",
            ),
            click.option(
                "--wrt",
                type=click.Choice(WRT_CHOICES),
                default="input",
                show_default=True,
                help="Differentiate with respect to the input x, or every W_i, b_i (needs --of loss).",
            ),
            click.option(
                "--granularity",
                type=click.Choice(GRANULARITIES),
                default="layer",
                show_default=True,
                help="One J_i per layer, or W_i and D_i as separate factors.",
            ),
        ],
        command,
    )


def train_options(command: F) -> F:
    """Data, schedule and optimiser of a training run: `training: TrainChoice`."""
    command = _packed("training", TrainChoice)(command)
    return _apply(
        [
            click.option(
                "--dataset",
                metavar="NAME|PATH",
                help="digits, synthetic, or a .npz (X, y) / .csv file [default: the config's, else synthetic].",
            ),
            click.option("--steps", type=int, help="Number of SGD steps."),
            click.option("--epochs", type=int, help="Number of passes over the training set [default: 10]."),
            click.option("--batch", type=int, help="Mini-batch size [default: 32]."),
            click.option("--lr", type=float, help="Learning rate [default: 0.05]."),
            click.option("--momentum", type=float, help="Momentum in [0, 1) [default: 0]."),
            click.option("--weight-decay", type=float, help="L2 weight decay [default: 0]."),
            click.option(
                "--mode",
                type=click.Choice(TRAIN_MODES),
                default="vjp",
                show_default=True,
                help="Batched VJPs, or each sample's explicit Jacobians multiplied loss-first (slow; for teaching).",
            ),
            click.option(
                "--grad-check",
                is_flag=True,
                help="Compare the first step's gradients with finite differences (float64).",
            ),
            click.option(
                "--blas",
                type=click.Choice(BLAS_BACKENDS),
                default="numpy",
                show_default=True,
                help="The step's BLAS: numpy's own, or Intel's MKL for every product (pip install 'jacchain[mkl]').",
            ),
        ],
        command,
    )


def usable_threads(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    """Cap --threads at the usable cores, saying so in one line on stderr."""
    from ..run.timing import usable_cores

    cores = usable_cores()
    if value is not None and value > cores:
        click.echo(f"Warning: --threads {value} is more than the {cores} usable core(s); using {cores}", err=True)
        return cores
    return value


def threads_option(command: F) -> F:
    return click.option(
        "--threads",
        type=click.IntRange(min=1),
        callback=usable_threads,
        help="BLAS threads (threadpoolctl), at most the usable cores [default: as is].",
    )(command)


def some_seconds(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """Refuse NaN, which passes click's range (every comparison with NaN is false, so it is never
    below the minimum) and would never time out; inf is allowed: no limit."""
    if math.isnan(value):
        raise click.BadParameter(f"{value} is not in the range x>0.", ctx, param)
    return value


def memory_option(command: F) -> F:
    return click.option(
        "--memory",
        type=click.IntRange(min=0),
        help="Chains of elementals: the adjoint tape limit (tape units; for a network, entries); "
        "0 means no limit, as in JCDP [default: no limit].",
    )(command)


def elemental_options(command: F) -> F:
    """What a chain of elementals is solved under: `elementals: ElementalChoice`."""
    command = _packed("elementals", ElementalChoice)(command)
    return _apply(
        [
            memory_option,
            click.option(
                "--machines",
                type=click.IntRange(min=1),
                help="Schedule the accumulate and matrix-free plans on P machines (exact makespan).",
            ),
            click.option(
                "--time-limit",
                type=click.FloatRange(min=0, min_open=True),
                callback=some_seconds,
                default=10.0,
                show_default=True,
                help="Seconds the exact schedule search may take before it returns its best, marked not exact.",
            ),
        ],
        command,
    )


def max_memory_option(command: F) -> F:
    return click.option(
        "--max-memory",
        metavar="SIZE",
        help="Refuse runs whose modelled memory is more (e.g. 4GiB) [default: half the available memory].",
    )(command)


def run_options(command: F) -> F:
    """Which orders, and how the explicit runs are made, timed and bounded: `run: RunChoice`."""
    command = _packed("run", RunChoice)(command)
    return _apply(
        [
            click.option(
                "--order",
                "orders",
                multiple=True,
                metavar="NAME[,NAME]",
                help="Orders to run: loss-first, input-first, optimal (aliases: forwards, backwards, vjp, jvp) "
                "[default: all].",
            ),
            click.option(
                "--analytic", is_flag=True, help="Count from shapes alone; build and time nothing (any size)."
            ),
            click.option(
                "--repeats",
                type=click.IntRange(min=1),
                help="Timed repeats per order [default: enough for ~0.2 s, at least 3].",
            ),
            threads_option,
            max_memory_option,
            click.option(
                "--time-model/--no-time-model",
                default=True,
                show_default=True,
                help="Show each order's predicted time (calibrates this machine once, then uses the cache).",
            ),
        ],
        command,
    )
