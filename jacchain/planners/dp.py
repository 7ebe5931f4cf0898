"""The optimal bracketing of one chain by the matrix-chain dynamic program, structure-aware,
pricing every split with the single product rule (FLOPs, or the time model's seconds)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt

from ..chain.factors import Chain, stored_entries
from ..chain.plan import Plan, PlanBuilder
from ..cost.product import ProductKind
from ..cost.time_model import TimeObjective
from ..errors import JacchainError
from ..types import Structure

# Products of at most this many multiply-adds run exactly in int64 inside the vectorised
# dynamic program; beyond it the program switches to Python integers (object arrays).
_INT64_SAFE = 2**62
# Chains at least this long split each length's segments over two threads.
THREADED_FROM = 128
IntArray = npt.NDArray[np.int64]


DP_BUDGET_S = 10.0  # the longest the optimal order may take before it refuses to start
# Seconds per n^3 of the dynamic program over n factors, measured with scripts/bench_dp.py on a
# 2-core EPYC: vectorised (int64 or float) tables, and object arrays of Python integers.
SECONDS_PER_CUBE = {True: 1.0e-9, False: 1.1e-7}


def estimated_seconds(chain: Chain) -> float:
    """About how long the dynamic program over this chain takes."""
    n = len(chain)
    return SECONDS_PER_CUBE[_int64_safe(chain)] * n**3


def _int64_safe(chain: Chain) -> bool:
    return 2 * (len(chain) - 1) * max(chain.dims) ** 3 < _INT64_SAFE


def optimal_plan(chain: Chain, objective: TimeObjective | None = None, budget_s: float | None = DP_BUDGET_S) -> Plan:
    """The bracketing of least FLOPs (or, with a time objective, least predicted time). A
    chain the dynamic program would need more than `budget_s` for is refused up front."""
    if budget_s is not None and estimated_seconds(chain) > budget_s:
        raise JacchainError(
            f"the optimal order over {len(chain):,} factors would take about {estimated_seconds(chain):,.0f} s "
            f"(its dynamic program is O(n^3)); leave it out with --order loss-first,input-first (analyze, sweep)"
        )
    return solve_chain(chain, objective)[0]


def solve_chain(chain: Chain, objective: TimeObjective | None = None) -> tuple[Plan, Any]:
    """The best bracketing and its cost, by the matrix-chain dynamic program, structure-aware.

    With a time `objective` it minimises the predicted time instead: each product costs the
    larger of its FLOPs over the compute rate and its bytes moved over the bandwidth, exactly
    as `product_time` prices it.

    Vectorised over all segments of one length at a time. Costs are stored by (start, length)
    and, reversed, by (end, length), so both halves of every split are forward slices, and the
    arithmetic runs in preallocated buffers, split over two threads for long chains (numpy
    releases the GIL). int64 is used where no plan's cost can reach 2**62 (exact); beyond
    that, Python integers in object arrays (exact, slower).
    """
    n = len(chain)
    if n == 1:
        return Plan(1, ()), 0
    dims = chain.dims
    diagonal = [f.structure == Structure.DIAGONAL for f in chain.factors]
    table = _DynamicProgram(dims, diagonal, _int64_safe(chain), objective)
    pool = None
    if table.vectorised and n >= THREADED_FROM:
        pool = ThreadPoolExecutor(max_workers=2)
    try:
        for length in range(2, n + 1):
            count = n - length + 1
            if pool is not None and count * (length - 1) >= 20_000:
                half = count // 2
                jobs = ((length, 0, half, 0), (length, half, count, 1))
                list(pool.map(lambda job: table.solve(*job), jobs))
            else:
                table.solve(length, 0, count)
    finally:
        if pool is not None:
            pool.shutdown()
    return _plan_from_splits(table.split, n), table.by_start[0, n]


class _DynamicProgram:
    """The tables of the matrix-chain program; `solve` fills one length for a range of starts."""

    def __init__(
        self, dims: list[int], diagonal: list[bool], exact_int64: bool, objective: TimeObjective | None = None
    ) -> None:
        n = len(dims) - 1
        self.n, self.objective = n, objective
        # Time is a float objective; FLOPs are exact, in int64 where safe, else Python ints.
        dtype: Any = np.float64 if objective else (np.int64 if exact_int64 else object)
        self.vectorised = dtype is not object
        self.p = np.array(dims, dtype=dtype)
        # by_start[i, l]: best cost of the l factors starting at i.
        # by_end[j, n - l]: best cost of the l factors ending at j (columns reversed on purpose).
        self.by_start = np.zeros((n, n + 1), dtype=dtype)
        self.by_end = np.zeros((n, n + 1), dtype=dtype)
        self.split = np.zeros((n, n + 1), dtype=np.int64)
        self.runs_from, self.runs_to = _diagonal_runs(diagonal)
        self.any_diagonal = any(diagonal)
        # hankel[i, s - 1] = p[i + s]: the inner width of every split, as one strided view.
        padded = np.concatenate([self.p, np.zeros(n + 1, dtype=dtype)])
        if self.vectorised:
            step = padded.strides[0]
            self.hankel = np.lib.stride_tricks.as_strided(
                padded[1:], shape=(n, n), strides=(step, step), writeable=False
            )
        else:
            self.hankel = padded[1:][np.add.outer(np.arange(n), np.arange(n))]
        self.rows = np.arange(n)
        # Reused scratch (total, product) per worker: fresh temporaries cost page faults.
        size = (n + 1) ** 2 // 4 + n + 1
        self.buffers = [(np.empty(size, dtype=dtype), np.empty(size, dtype=dtype)) for _ in range(2)]

    def solve(self, length: int, first: int, last: int, worker: int = 0) -> None:
        """Best split of every segment of `length` factors starting at first..last-1.

        Writes only rows first..last-1 of the tables, so two workers may share them.
        """
        n, p, width, count = self.n, self.p, length - 1, last - first
        total, product = (buffer[: count * width].reshape(count, width) for buffer in self.buffers[worker])
        mid = self.hankel[first:last, :width]
        outer = p[first:last] * p[first + length : last + length]
        if self.objective:
            self._time_products(self.objective, product, mid, first, last, length)
        else:
            # ProductKind.DENSE.flops, m*n*k MACs at 2 FLOPs each, written into the buffer.
            np.multiply(mid, (ProductKind.DENSE.flops_per_mac * outer)[:, None], out=product)
            if self.any_diagonal:
                self._diagonal_corrections(product, mid, first, last, length)
        np.add(self.by_start[first:last, 1:length], self.by_end[first + width : last + width, n - width : n], out=total)
        np.add(total, product, out=total)
        best = total.argmin(axis=1) if self.vectorised else _argmin_rows(total)
        best_cost = total[self.rows[:count], best]
        self.by_start[first:last, length] = best_cost
        self.by_end[first + width : last + width, n - length] = best_cost
        self.split[first:last, length] = best + 1

    def _diagonal_splits(self, first: int, last: int, length: int) -> tuple[IntArray, IntArray, Any, Any]:
        """Entries (row, col) of the splits where a half is a diagonal segment, and which half.

        A segment is diagonal when every factor in it is; such segments are square and lie in
        runs of consecutive diagonal factors, so few entries are concerned.
        """
        starts = np.arange(first, last)
        s = np.arange(1, length)
        left_diag = s[None, :] <= self.runs_from[starts][:, None]
        right_diag = (length - s)[None, :] <= self.runs_to[starts + length - 1][:, None]
        rows, cols = np.nonzero(left_diag | right_diag)
        return rows, cols, left_diag[rows, cols], right_diag[rows, cols]

    def _structured(self, first: int, length: int, mid: Any, rows: IntArray, cols: IntArray) -> tuple[Any, ...]:
        """m, n, k of the splits at (rows, cols)."""
        return self.p[first + rows], mid[rows, cols], self.p[first + length + rows]

    def _diagonal_corrections(self, product: Any, mid: Any, first: int, last: int, length: int) -> None:
        """Replace, in place, the dense FLOPs where a half of the split is diagonal: the product
        rule's SCALE kind with one diagonal half, ELEMENTWISE with two."""
        rows, cols, left, right = self._diagonal_splits(first, last, length)
        if rows.size:
            m, n, k = self._structured(first, length, mid, rows, cols)
            product[rows, cols] = np.where(
                left & right, ProductKind.ELEMENTWISE.flops(m, n, k), ProductKind.SCALE.flops(m, n, k)
            )

    def _time_products(
        self, objective: TimeObjective, product: Any, mid: Any, first: int, last: int, length: int
    ) -> None:
        """Predicted seconds of every split's product, by the time model's own rule."""
        m = self.p[first:last][:, None]
        k = self.p[first + length : last + length][:, None]
        dense = Structure.DENSE
        entries = stored_entries(m, mid, dense) + stored_entries(mid, k, dense) + stored_entries(m, k, dense)
        vector = (m == 1) | (k == 1)
        product[...] = objective.seconds(
            ProductKind.DENSE.flops(m, mid, k), entries * objective.itemsize, (m, mid, k), True, vector
        )
        if not self.any_diagonal:
            return
        rows, cols, left, right = self._diagonal_splits(first, last, length)
        if rows.size:
            m, n, k = self._structured(first, length, mid, rows, cols)
            both = left & right
            flops = np.where(both, ProductKind.ELEMENTWISE.flops(m, n, k), ProductKind.SCALE.flops(m, n, k))
            diagonal = Structure.DIAGONAL
            entries = (
                np.where(left, stored_entries(m, n, diagonal), stored_entries(m, n, dense))
                + np.where(right, stored_entries(n, k, diagonal), stored_entries(n, k, dense))
                + np.where(both, stored_entries(m, k, diagonal), stored_entries(m, k, dense))
            )
            product[rows, cols] = objective.seconds(flops, entries * objective.itemsize, (m, n, k), False)


def _diagonal_runs(diagonal: list[bool]) -> tuple[IntArray, IntArray]:
    """For each factor, how many consecutive diagonal factors start (end) at it."""
    n = len(diagonal)
    runs_from, runs_to = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    for index in range(n - 1, -1, -1):
        runs_from[index] = (runs_from[index + 1] + 1 if index + 1 < n else 1) if diagonal[index] else 0
    for index in range(n):
        runs_to[index] = (runs_to[index - 1] + 1 if index > 0 else 1) if diagonal[index] else 0
    return runs_from, runs_to


def _argmin_rows(total: Any) -> IntArray:
    return np.array([min(range(len(row)), key=row.__getitem__) for row in total], dtype=np.int64)


def _plan_from_splits(split: IntArray, n: int) -> Plan:
    """Rebuild the bracketing in post-order without recursion (chains can be 1,000 deep)."""
    build = PlanBuilder(n)
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
            done.append(build.multiply(left, right))
            continue
        s = int(split[start, length])
        stack.append((start, length, True))
        stack.append((start + s, length - s, False))
        stack.append((start, s, False))
    return build.plan()
