"""Vary one width of a network and collect every order's counts, times and predictions."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..errors import JacchainError, MemoryLimitError
from ..model.spec import NetworkSpec
from ..types import Progress
from .analyze import Analysis, CountOnly, CountOnlyReason, analyze

_VARY = re.compile(r"\s*(input|layer(\d+))\s*=\s*(\d+)\s*:\s*(\d+)\s*")


@dataclass(frozen=True)
class Vary:
    """Which width to vary (index into sizes: 0 for the input, i for layer i) and its range."""

    what: str
    index: int
    low: int
    high: int


@dataclass(frozen=True)
class Sweep:
    spec: NetworkSpec
    vary: Vary
    widths: tuple[int, ...]
    analyses: tuple[Analysis, ...]


def parse_vary(text: str, spec: NetworkSpec) -> Vary:
    """`input=16:65536` or `layer2=8:512`.

    >>> from jacchain.model.spec import make_spec
    >>> parse_vary("layer2=8:512", make_spec((784, 512, 256, 10)))
    Vary(what='layer2', index=2, low=8, high=512)
    """
    match = _VARY.fullmatch(text)
    if not match:
        raise JacchainError(f"--vary {text!r}: expected WHAT=LO:HI with WHAT input or layerN, e.g. input=16:65536")
    what, layer, low, high = match.group(1), match.group(2), int(match.group(3)), int(match.group(4))
    index = 0 if what == "input" else int(layer)
    if what != "input" and not 1 <= index <= spec.n_layers:  # layer0 is not a layer: the input is `input`
        layers = f"the network has layers 1..{spec.n_layers}; its input width is input=LO:HI"
        raise JacchainError(f"--vary {text!r}: {layers}")
    if not 0 < low <= high:
        raise JacchainError(f"--vary {text!r}: need 0 < LO <= HI, got {low}:{high}")
    return Vary(what, index, low, high)


def sweep_widths(low: int, high: int, points: int, log: bool) -> tuple[int, ...]:
    """Distinct integer widths from low to high, evenly spaced (geometrically with log).

    >>> sweep_widths(16, 65536, 13, True)
    (16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)
    >>> sweep_widths(10, 50, 5, False)
    (10, 20, 30, 40, 50)
    """
    if points < 1:
        raise JacchainError(f"--points must be a positive integer, got {points}")
    if points == 1 or low == high:
        return (low,)
    steps = range(points)
    if log:
        ratio = math.log(high / low) / (points - 1)
        values = [round(low * math.exp(ratio * step)) for step in steps]
    else:
        values = [round(low + (high - low) * step / (points - 1)) for step in steps]
    return tuple(sorted(set(values)))


def run_sweep(
    spec: NetworkSpec,
    vary: Vary,
    widths: Sequence[int],
    progress: Progress | None = None,
    **options: Any,
) -> Sweep:
    """analyze() at every width; points whose explicit run would not fit are counted only."""
    notify = progress or (lambda description, done, total: None)
    analyses = []
    for done, width in enumerate(widths):
        notify(f"{vary.what} = {width:,}", done, len(widths))
        sizes = list(spec.sizes)
        sizes[vary.index] = width
        point = replace(spec, sizes=tuple(sizes))
        try:
            analyses.append(analyze(point, **options))
        except MemoryLimitError as error:
            reason = CountOnly(CountOnlyReason.RUN_OVER_LIMIT, error.needed, error.limit)
            analyses.append(replace(analyze(point, **{**options, "analytic": True}), count_only=(reason,)))
    notify("done", len(widths), len(widths))
    return Sweep(spec, vary, tuple(widths), tuple(analyses))
