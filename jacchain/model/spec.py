"""Parse and validate a network: an inline size list such as "784,512,256,10" -> NetworkSpec."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import JacchainError
from ..types import Dtype
from .activations import ACTIVATIONS
from .losses import LOSSES
from .validate import NAME, check_dtype, check_seed, is_int

_INTEGER = re.compile(r"[+]?[0-9]+")  # ASCII digits only: int() would also take "٣" or "３"


@dataclass(frozen=True)
class NetworkSpec:
    """A feed-forward network: widths n_0..n_L, one activation per layer, a loss, a dtype."""

    sizes: tuple[int, ...]
    activations: tuple[str, ...]
    loss: str = "mse"
    dtype: Dtype = "float64"
    seed: int = 0
    name: str | None = None
    train: Mapping[str, Any] | None = field(default=None, hash=False)
    analytic: bool = False  # a config at real model widths: count only, never build

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    @property
    def itemsize(self) -> int:
        return np.dtype(self.dtype).itemsize

    @property
    def n_params(self) -> int:
        return sum(n_out * n_in + n_out for n_in, n_out in zip(self.sizes, self.sizes[1:]))

    @property
    def label(self) -> str:
        return self.name or ",".join(map(str, self.sizes))


def parse_sizes(text: str) -> tuple[int, ...]:
    """Turn "784,512,256,10" into (784, 512, 256, 10), input width first.

    >>> parse_sizes(" 784, 512,10 ")
    (784, 512, 10)
    >>> parse_sizes("784,-3,10")
    Traceback (most recent call last):
    ...
    jacchain.errors.JacchainError: spec '784,-3,10': width 2 must be a positive integer, got '-3'
    """
    pieces = text.split(",")
    sizes = []
    for position, piece in enumerate(pieces, start=1):
        token = piece.strip()
        if not token:
            raise JacchainError(f"spec {text!r}: width {position} is empty; write widths as N0,N1,...,NL")
        if not _INTEGER.fullmatch(token):
            raise JacchainError(f"spec {text!r}: width {position} must be a positive integer, got {token!r}")
        sizes.append(int(token))
    return validate_sizes(sizes, where=f"spec {text!r}")


def validate_sizes(sizes: Sequence[Any], where: str) -> tuple[int, ...]:
    """Check that there are at least two widths and that each is a positive integer."""
    if len(sizes) < 2:
        raise JacchainError(
            f"{where}: needs at least two widths (input and output), got {len(sizes)}; for example 784,512,10"
        )
    for position, width in enumerate(sizes, start=1):
        if not is_int(width) or width <= 0:
            raise JacchainError(f"{where}: width {position} must be a positive integer, got {width!r}")
    return tuple(int(width) for width in sizes)


def make_spec(
    sizes: Sequence[int],
    activation: str = "relu",
    output_activation: str = "identity",
    loss: str = "mse",
    dtype: Dtype = "float64",
    seed: int = 0,
    name: str | None = None,
    activations: Sequence[str] | None = None,
    train: Mapping[str, Any] | None = None,
    where: str = "network",
    analytic: bool = False,
) -> NetworkSpec:
    """Validate every field and return a NetworkSpec with canonical names.

    `activations` (one per layer) overrides `activation`/`output_activation` when given.
    """
    sizes = validate_sizes(list(sizes), where)
    n_layers = len(sizes) - 1
    if activations is None:
        activations = [activation] * (n_layers - 1) + [output_activation]
    if len(activations) != n_layers:
        raise JacchainError(f"{where}: {n_layers} layers need {n_layers} activations, got {len(activations)}")
    canonical = tuple(ACTIVATIONS.canonical(NAME.check(a, f"{where}: activation")) for a in activations)
    loss_name = LOSSES.canonical(NAME.check(loss, f"{where}: loss"))
    return NetworkSpec(
        sizes, canonical, loss_name, check_dtype(dtype, where), check_seed(seed, where), name, train, bool(analytic)
    )
