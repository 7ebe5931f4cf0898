"""The buffers a trainer keeps per batch size for the backward pass, allocated and counted by
one rule (the training memory model prices them through `entries`)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..model.spec import NetworkSpec
from ..types import Array


class BackwardBuffers(NamedTuple):
    """dl/dz_i and dl/da_i per layer, and a 1 x batch row of ones: dl/db_i is its product with
    dl/da_i, the sum over the batch, on the step's BLAS (2x faster than np.sum below a few
    hundred thousand entries here); counted as the sum it is, one FLOP per entry."""

    dz: list[Array]
    delta: list[Array]
    ones: Array

    @classmethod
    def allocate(cls, spec: NetworkSpec, batch: int) -> BackwardBuffers:
        return cls(
            [np.empty((batch, n), dtype=spec.dtype) for n in spec.sizes[1:]],
            [np.empty((batch, n), dtype=spec.dtype) for n in spec.sizes[1:]],
            np.ones((1, batch), dtype=spec.dtype),
        )

    @staticmethod
    def entries(spec: NetworkSpec, batch: int) -> int:
        """How many numbers `allocate` holds for a batch of this size."""
        return 2 * batch * sum(spec.sizes[1:]) + batch
