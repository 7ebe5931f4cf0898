"""The single product rule: what multiplying two factors costs (MACs, FLOPs), what structure
the result has, and how many entries it reads and writes. The plan cost, the time model,
`explain` and the optimal DP all price products through here.

Convention (DESIGN.md section 1): a dense (m x n)(n x k) product is m*n*k MACs and 2*m*n*k
FLOPs; a product with a diagonal factor (or a dense one meeting a Kronecker factor) scales
rows or columns, m*k multiplies counted as both MACs and FLOPs; two diagonals (or a diagonal
meeting a Kronecker factor's row scale) multiply elementwise in m. All counts are exact
Python integers; the helpers also take numpy arrays, for the vectorised DP.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from ..chain.factors import stored_entries
from ..types import Count, Structure


class ProductKind(Enum):
    """Which dimensions of (m x n)(n x k) make up the multiply-adds, and FLOPs per MAC."""

    DENSE = ((0, 1, 2), 2)  # m*n*k
    SCALE = ((0, 2), 1)  # m*k: rows or columns scaled
    ELEMENTWISE = ((0,), 1)  # m: two diagonals

    def __init__(self, dims: tuple[int, ...], flops_per_mac: int) -> None:
        self.dims = dims
        self.flops_per_mac = flops_per_mac

    def macs(self, m: Count, n: Count, k: Count) -> Count:
        """
        >>> ProductKind.DENSE.macs(1, 10, 256), ProductKind.SCALE.macs(256, 256, 784)
        (2560, 200704)
        """
        factors = (m, n, k)
        result = factors[self.dims[0]]
        for index in self.dims[1:]:
            result = result * factors[index]
        return result

    def flops(self, m: Count, n: Count, k: Count) -> Count:
        """
        >>> ProductKind.DENSE.flops(1, 10, 256)
        5120
        """
        macs = self.macs(m, n, k)
        return macs + macs if self.flops_per_mac == 2 else macs


def product_kind(left: Structure, right: Structure) -> ProductKind:
    """How a product of these two structures is performed."""
    if left == Structure.KRON:
        raise ValueError("a Kronecker factor is only ever the right operand")
    if left == Structure.DIAGONAL and right in (Structure.DIAGONAL, Structure.KRON):
        return ProductKind.ELEMENTWISE
    if Structure.DIAGONAL in (left, right) or right == Structure.KRON:
        return ProductKind.SCALE
    return ProductKind.DENSE


def result_structure(left: Structure, right: Structure) -> Structure:
    """A diagonal times a diagonal (or a Kronecker factor) keeps the right operand's structure;
    everything else is dense."""
    if left == Structure.DIAGONAL and right in (Structure.DIAGONAL, Structure.KRON):
        return right
    return Structure.DENSE


@dataclass(frozen=True)
class ProductCount:
    """One product as performed: operand shapes and structures, its exact counts, and the
    structure of what it makes."""

    left: tuple[int, int]
    right: tuple[int, int]
    left_structure: Structure
    right_structure: Structure
    macs: int
    flops: int
    result_structure: Structure = Structure.DENSE
    # Made by numpy broadcasting a column by a row and adding the term into a block already
    # made (a surrogate elemental's rank-one part), not by BLAS: two calls, priced as numpy's
    # elementwise work on what they move (the term written, then it and the block read and the
    # block written back).
    broadcast: bool = False

    @property
    def calls(self) -> int:
        """The library calls that make the product."""
        return 2 if self.broadcast else 1

    @property
    def dims(self) -> tuple[int, int, int]:
        """(m, k, n) of the (m x k)(k x n) product."""
        return self.left[0], self.left[1], self.right[1]

    @property
    def vector(self) -> bool:
        """Whether the result is a row or a column (a matrix-vector product)."""
        return self.left[0] == 1 or self.right[1] == 1

    @property
    def dense(self) -> bool:
        """Dense operands multiplied by BLAS."""
        return self.left_structure == self.right_structure == Structure.DENSE and not self.broadcast

    def entries_moved(self) -> int:
        """Entries read (both operands) and written (the result), each as stored; a broadcast
        term's result four times over (written, read with the block, the block written)."""
        (m, n), (_, k) = self.left, self.right
        result = stored_entries(m, k, self.result_structure) * (4 if self.broadcast else 1)
        return stored_entries(m, n, self.left_structure) + stored_entries(n, k, self.right_structure) + result

    def bytes_moved(self, itemsize: int) -> int:
        """
        >>> product_count((1, 512, Structure.DENSE), (512, 784, Structure.DENSE)).bytes_moved(8)
        3221632
        """
        return self.entries_moved() * itemsize

    def to_dict(self) -> dict[str, Any]:
        return {
            "left": list(self.left),
            "right": list(self.right),
            "left_structure": str(self.left_structure),
            "right_structure": str(self.right_structure),
            "macs": self.macs,
            "flops": self.flops,
        }


def product_count(left: tuple[int, int, Structure], right: tuple[int, int, Structure]) -> ProductCount:
    """Counts of (rows, cols, structure) x (rows, cols, structure).

    >>> D = Structure.DIAGONAL
    >>> product_count((1, 10, Structure.DENSE), (10, 256, Structure.DENSE)).flops
    5120
    >>> c = product_count((8, 8, D), (8, 8, D)); c.macs, c.flops, c.result_structure
    (8, 8, <Structure.DIAGONAL: 'diagonal'>)
    >>> product_count((1, 4, Structure.DENSE), (4, 4 * 3 + 4, Structure.KRON)).flops
    16
    """
    m, n, left_structure = left
    n_right, k, right_structure = right
    if n != n_right:
        raise ValueError(f"cannot multiply {m}x{n} by {n_right}x{k}")
    kind = product_kind(left_structure, right_structure)
    return ProductCount(
        (m, n),
        (n_right, k),
        left_structure,
        right_structure,
        kind.macs(m, n, k),
        kind.flops(m, n, k),
        result_structure(left_structure, right_structure),
    )
