"""The buffers a trainer keeps per batch size for the backward pass, allocated and counted by
one rule (the training memory model prices them through `entries`)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..model.losses import LOSSES
from ..model.spec import NetworkSpec
from ..types import Array


class BackwardBuffers(NamedTuple):
    """dl/dz_i and dl/da_i per layer, and a vector of ones, one per sample: the forward pass
    adds b_i to every row of a_i as a rank-1 update by it, and dl/db_i is the product of
    dl/da_i with it, the sum over the batch, on the step's BLAS (2x faster than np.sum below a
    few hundred thousand entries here); counted as the sum it is, one FLOP per entry."""

    dz: list[Array]
    delta: list[Array]
    ones: Array

    @classmethod
    def allocate(cls, spec: NetworkSpec, batch: int) -> BackwardBuffers:
        """dl/dz_L, the last of `dz`, is the loss's gradient, in the layout the loss writes."""
        dtype, widths = np.dtype(spec.dtype), spec.sizes[1:]
        loss = LOSSES.get(spec.loss).gradient_buffer(batch, widths[-1], dtype)
        return cls(
            [*(np.empty((batch, n), dtype=dtype) for n in widths[:-1]), loss],
            [np.empty((batch, n), dtype=dtype) for n in widths],
            np.ones(batch, dtype=dtype),
        )

    @staticmethod
    def entries(spec: NetworkSpec, batch: int) -> int:
        """How many numbers `allocate` holds for a batch of this size."""
        return 2 * batch * sum(spec.sizes[1:]) + batch
