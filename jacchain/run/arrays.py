"""Structured factors as arrays: dense 2-D, diagonal 1-D, and the Kronecker factor P_i."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..types import Array, Structure


@dataclass(frozen=True)
class Kron:
    """dz_i/dtheta_i = diag(d) [I (x) z^T, I], shape n_i x (n_i n_{i-1} + n_i), never formed."""

    d: Array
    z: Array

    @property
    def shape(self) -> tuple[int, int]:
        rows = self.d.shape[0]
        return (rows, rows * self.z.shape[0] + rows)

    def dense(self) -> Array:
        """The matrix itself: row r holds d_r z^T in its r-th block of width n_{i-1} and d_r in
        column n_i n_{i-1} + r, zeros elsewhere, written into the one array it allocates (a
        Kronecker product, a concatenation and a scaling took three of its size)."""
        (rows,), (width,) = self.d.shape, self.z.shape
        out = np.zeros(self.shape, dtype=np.result_type(self.d, self.z))
        diagonal = np.arange(rows)
        out[:, : rows * width].reshape(rows, rows, width)[diagonal, diagonal] = np.multiply.outer(self.d, self.z)
        out[diagonal, rows * width + diagonal] = self.d
        return out


Value = Array | Kron  # a factor or intermediate as the executor holds it


def max_abs_difference(value: Array, reference: Array) -> float:
    """The largest |value - reference|, in one temporary of their size (np.abs of the
    difference would be a second, which the memory models do not hold room for)."""
    difference = np.subtract(value, reference)
    return float(np.max(np.abs(difference, out=difference)))


def structure_of(value: Value) -> Structure:
    """Read a value's structure off the value itself."""
    if isinstance(value, Kron):
        return Structure.KRON
    return Structure.DIAGONAL if value.ndim == 1 else Structure.DENSE


def densify(value: Value) -> Array:
    """Any factor or result as its full matrix: a diagonal (1-D) or Kron is expanded."""
    if isinstance(value, Kron):
        return value.dense()
    return np.diag(value) if value.ndim == 1 else value
