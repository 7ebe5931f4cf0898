"""Option groups shared by the commands: each option is declared once, with one help text,
and its choices come from the library's vocabulary."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..types import DTYPES, FORMATS, GRANULARITIES, OF_CHOICES, WRT_CHOICES

F = TypeVar("F", bound=Callable[..., Any])


class InputError(click.ClickException):
    """A user error: one line on stderr, exit code 2."""

    exit_code = 2


class FailedError(click.ClickException):
    """The work itself failed (training diverged): one line on stderr, exit code 1."""

    exit_code = 1


def _apply(options: list[Callable[[F], F]], command: F) -> F:
    for option in reversed(options):
        command = option(command)
    return command


def writable_path(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse an output path whose folder does not exist before any work is done."""
    if value is None:
        return value
    folder = Path(value).parent
    if not folder.is_dir():
        raise InputError(f"cannot write {value}: folder {folder} does not exist")
    if Path(value).is_dir():
        raise InputError(f"cannot write {value}: it is a folder")
    return value


def output_options(command: F) -> F:
    """--format and -o, for every command."""
    return _apply(
        [
            click.option(
                "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True, help="Output format."
            ),
            click.option(
                "-o", "--output", callback=writable_path, help="Write to FILE (atomically) instead of stdout."
            ),
        ],
        command,
    )


def network_options(command: F) -> F:
    """Options that shape the network; with a YAML SPEC they override the file."""
    from ..model.activations import ACTIVATIONS
    from ..model.losses import LOSSES

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
    """What is differentiated, with respect to what, at which granularity."""
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


def threads_option(command: F) -> F:
    return click.option("--threads", type=click.IntRange(min=1), help="BLAS threads (threadpoolctl) [default: as is].")(
        command
    )


def run_options(command: F) -> F:
    """Which orders, and how the explicit runs are made, timed and bounded."""
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
            click.option(
                "--max-memory",
                metavar="SIZE",
                help="Refuse explicit runs needing more (e.g. 4GiB) [default: half the available memory].",
            ),
            click.option(
                "--time-model/--no-time-model",
                default=True,
                show_default=True,
                help="Show each order's predicted time (calibrates this machine once, then uses the cache).",
            ),
        ],
        command,
    )


def split_names(values: tuple[str, ...]) -> list[str]:
    """--order a,b --order c -> [a, b, c]."""
    return [name for value in values for name in value.split(",") if name.strip()]
