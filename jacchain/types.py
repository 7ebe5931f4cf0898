"""The shared vocabulary: structures, factor kinds and every closed set of choices, typed.

The CLI's choices, the library's validation and the type checker all read these, so a new
choice is added in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, Literal, TypeVar, get_args

import numpy.typing as npt

Array = npt.NDArray[Any]  # float arrays, and the integer class labels of a classifier

# A count or a dimension: an exact int, or an array of them (the vectorised DP uses the same
# cost functions over all splits at once).
Count = TypeVar("Count", int, npt.NDArray[Any])

# A progress callback: (what is being done, how much is done, out of how much).
Progress = Callable[[str, int, int], None]


class Structure(StrEnum):
    """How a factor or intermediate is stored, and so what multiplying it costs."""

    DENSE = "dense"
    DIAGONAL = "diagonal"
    # dz_i/dtheta_i = D [I (x) z^T, I] in op granularity: stored as its row scale D and z alone.
    KRON = "kron"


class FactorKind(StrEnum):
    """Where a factor of the chain comes from (DESIGN.md section 1)."""

    LOSS = "loss"  # g = dl/dz_L
    LAYER = "layer"  # J_i = D_i W_i
    WEIGHT = "weight"  # W_i (op granularity)
    ACTIVATION = "activation"  # D_i (op granularity)
    PARAMS = "params"  # P_i = dz_i/dtheta_i


Of = Literal["loss", "output"]
Wrt = Literal["input", "params"]
Granularity = Literal["layer", "op"]
CostObjective = Literal["flops", "time"]
TrainMode = Literal["vjp", "explicit"]
Dtype = Literal["float64", "float32"]
Format = Literal["table", "json", "markdown", "csv"]

OF_CHOICES: tuple[Of, ...] = get_args(Of)
WRT_CHOICES: tuple[Wrt, ...] = get_args(Wrt)
GRANULARITIES: tuple[Granularity, ...] = get_args(Granularity)
COST_CHOICES: tuple[CostObjective, ...] = get_args(CostObjective)
TRAIN_MODES: tuple[TrainMode, ...] = get_args(TrainMode)
BLAS_BACKENDS: tuple[str, ...] = ("numpy", "mkl")  # a training step's BLAS (run/blas.py)
DTYPES: tuple[Dtype, ...] = get_args(Dtype)
FORMATS: tuple[Format, ...] = get_args(Format)
