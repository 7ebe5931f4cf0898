"""Exact cost model of a plan from shapes alone: MACs, FLOPs, peak bytes; optimal bracketing.

Convention (DESIGN.md §1): a dense (m x n)(n x k) product is m*n*k MACs and 2*m*n*k FLOPs; a
product with a diagonal factor scales rows or columns, m*k multiplies counted as both MACs
and FLOPs; two diagonals multiply elementwise in m. All counts are Python integers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .chain import DENSE, DIAGONAL, Chain, Plan

# Products of at most this many multiply-adds run exactly in int64 inside the vectorised
# dynamic program; beyond it the program switches to Python integers (object arrays).
_INT64_SAFE = 2**62


@dataclass(frozen=True)
class ProductCount:
    """One product as performed: operand shapes, structures, and its exact counts."""

    left: tuple[int, int]
    right: tuple[int, int]
    left_structure: str
    right_structure: str
    macs: int
    flops: int

    def to_dict(self) -> dict:
        return {
            "left": list(self.left),
            "right": list(self.right),
            "left_structure": self.left_structure,
            "right_structure": self.right_structure,
            "macs": self.macs,
            "flops": self.flops,
        }


@dataclass(frozen=True)
class PlanCost:
    macs: int
    flops: int
    peak_bytes: int
    products: tuple[ProductCount, ...]


def matmul_macs(m: int, n: int, k: int) -> int:
    """Multiply-adds of a dense (m x n)(n x k) product.

    >>> matmul_macs(1, 10, 256)
    2560
    """
    return m * n * k


def matmul_flops(m: int, n: int, k: int) -> int:
    """FLOPs of a dense (m x n)(n x k) product, two per multiply-add.

    >>> matmul_flops(1, 10, 256)
    5120
    """
    return 2 * matmul_macs(m, n, k)


def diagonal_flops(m: int, k: int) -> int:
    """FLOPs of scaling an m x k matrix by a diagonal: one multiply per entry.

    >>> diagonal_flops(256, 784)
    200704
    """
    return m * k


def product_count(left: tuple[int, int, str], right: tuple[int, int, str]) -> tuple[ProductCount, str]:
    """Counts of (rows, cols, structure) x (rows, cols, structure), and the result's structure.

    >>> product_count((1, 10, "dense"), (10, 256, "dense"))[0].flops
    5120
    >>> product_count((8, 8, "diagonal"), (8, 8, "diagonal"))
    (ProductCount(left=(8, 8), right=(8, 8), left_structure='diagonal', right_structure='diagonal', macs=8, flops=8), 'diagonal')
    """
    m, n, left_structure = left
    n_right, k, right_structure = right
    if n != n_right:
        raise ValueError(f"cannot multiply {m}x{n} by {n_right}x{k}")
    if left_structure == DIAGONAL and right_structure == DIAGONAL:
        macs = flops = m
        structure = DIAGONAL
    elif DIAGONAL in (left_structure, right_structure):
        macs = flops = diagonal_flops(m, k)
        structure = DENSE
    else:
        macs, flops = matmul_macs(m, n, k), matmul_flops(m, n, k)
        structure = DENSE
    return ProductCount((m, n), (n_right, k), left_structure, right_structure, macs, flops), structure


def stored_bytes(rows: int, cols: int, structure: str, itemsize: int) -> int:
    return (rows if structure == DIAGONAL else rows * cols) * itemsize


def plan_cost(plan: Plan, chain: Chain) -> PlanCost:
    """Model a plan: every product's counts and the peak bytes of live intermediate results.

    Intermediates stay alive from the step that makes them to the step that consumes them;
    the factors themselves are not counted (see Chain.factor_bytes).
    """
    values = [(f.rows, f.cols, f.structure) for f in chain.factors]
    products, live, peak = [], 0, 0
    for left, right in plan.steps:
        count, structure = product_count(values[left], values[right])
        rows, cols = values[left][0], values[right][1]
        out_bytes = stored_bytes(rows, cols, structure, chain.itemsize)
        peak = max(peak, live + out_bytes)
        for operand in (left, right):
            if operand >= plan.n_factors:
                live -= stored_bytes(*values[operand], chain.itemsize)
        live += out_bytes
        values.append((rows, cols, structure))
        products.append(count)
    return PlanCost(
        macs=sum(p.macs for p in products),
        flops=sum(p.flops for p in products),
        peak_bytes=peak,
        products=tuple(products),
    )


def optimal_plan(chain: Chain) -> Plan:
    """The bracketing of least FLOPs, by the matrix-chain dynamic program, structure-aware.

    Vectorised over all segments of one length at a time: costs are held by (start, length)
    and by (end, length) so that both halves of every split are plain slices, not gathers.
    """
    n = len(chain)
    if n == 1:
        return Plan(1, ())
    dims = chain.dims
    diagonal = [f.structure == DIAGONAL for f in chain.factors]
    # Upper bound of any single plan's FLOPs decides whether int64 is exact enough.
    bound = 2 * (n - 1) * max(dims) ** 3
    dtype = np.int64 if bound < _INT64_SAFE else object
    p = np.array(dims, dtype=dtype)
    by_start = np.zeros((n, n + 1), dtype=dtype)  # cost of segment [i, i + l - 1]
    by_end = np.zeros((n, n + 1), dtype=dtype)  # cost of segment [j - l + 1, j]
    split = np.zeros((n, n + 1), dtype=np.int64)  # best left length s of segment (i, l)
    runs_from, runs_to = _diagonal_runs(diagonal)
    any_diagonal = any(diagonal)
    for length in range(2, n + 1):
        count = n - length + 1
        starts = np.arange(count)
        s = np.arange(1, length)
        left = by_start[:count, 1:length]
        right = by_end[length - 1 : n, length - 1 : 0 : -1]
        mid = np.lib.stride_tricks.sliding_window_view(p[1:n], length - 1)[:count]
        outer = p[:count] * p[length : n + 1]
        product = (2 * outer)[:, None] * mid
        if any_diagonal:
            product = _diagonal_corrections(product, outer, p, starts, s, length, runs_from, runs_to)
        total = left + right + product
        best = np.argmin(total, axis=1) if dtype is not object else _argmin_rows(total)
        best_cost = total[starts, best]
        by_start[:count, length] = best_cost
        by_end[length - 1 : n, length] = best_cost
        split[:count, length] = best + 1
    return _plan_from_splits(split, n)


def _diagonal_runs(diagonal: list[bool]) -> tuple[np.ndarray, np.ndarray]:
    """For each factor, how many consecutive diagonal factors start (end) at it."""
    n = len(diagonal)
    runs_from, runs_to = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    for index in range(n - 1, -1, -1):
        runs_from[index] = (runs_from[index + 1] + 1 if index + 1 < n else 1) if diagonal[index] else 0
    for index in range(n):
        runs_to[index] = (runs_to[index - 1] + 1 if index > 0 else 1) if diagonal[index] else 0
    return runs_from, runs_to


def _diagonal_corrections(product, outer, p, starts, s, length, runs_from, runs_to):
    """Replace the dense price where a half of the split is a diagonal segment.

    A segment is diagonal when every factor in it is; such segments are square and short
    (runs of consecutive diagonal factors), so few entries need the fix.
    """
    left_diag = s[None, :] <= runs_from[starts][:, None]
    right_diag = (length - s)[None, :] <= runs_to[starts + length - 1][:, None]
    either = left_diag | right_diag
    if not either.any():
        return product
    product = product.copy()
    rows, cols = np.nonzero(either)
    both = left_diag[rows, cols] & right_diag[rows, cols]
    fixed = np.where(both, p[rows], outer[rows])
    product[rows, cols] = fixed
    return product


def _argmin_rows(total: np.ndarray) -> np.ndarray:
    return np.array([min(range(len(row)), key=row.__getitem__) for row in total], dtype=np.int64)


def _plan_from_splits(split: np.ndarray, n: int) -> Plan:
    """Rebuild the bracketing in post-order without recursion (chains can be 1,000 deep)."""
    steps: list[tuple[int, int]] = []
    # Each frame: (start, length, state); results of finished children wait on `done`.
    stack: list[tuple[int, int, bool]] = [(0, n, False)]
    done: list[int] = []
    while stack:
        start, length, expanded = stack.pop()
        if length == 1:
            done.append(start)
            continue
        if expanded:
            right, left = done.pop(), done.pop()
            steps.append((left, right))
            done.append(n + len(steps) - 1)
            continue
        s = int(split[start, length])
        stack.append((start, length, True))
        stack.append((start + s, length - s, False))
        stack.append((start, s, False))
    return Plan(n, tuple(steps))
