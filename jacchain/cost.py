"""Exact cost model of a plan from shapes alone: MACs, FLOPs, peak bytes; optimal bracketing.

Convention (DESIGN.md §1): a dense (m x n)(n x k) product is m*n*k MACs and 2*m*n*k FLOPs; a
product with a diagonal factor scales rows or columns, m*k multiplies counted as both MACs
and FLOPs; two diagonals multiply elementwise in m. All counts are Python integers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .chain import DENSE, DIAGONAL, KRON, Chain, Plan, stored_entries

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
    result_bytes: int = 0


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

    A Kronecker factor P = D [I (x) z^T, I] (n x |theta|) costs one multiply per entry of the
    result when a dense matrix meets it, and n to rescale its D when a diagonal does.

    >>> product_count((1, 10, "dense"), (10, 256, "dense"))[0].flops
    5120
    >>> product_count((8, 8, "diagonal"), (8, 8, "diagonal"))
    (ProductCount(left=(8, 8), right=(8, 8), left_structure='diagonal', right_structure='diagonal', macs=8, flops=8), 'diagonal')
    >>> product_count((1, 4, "dense"), (4, 4 * 3 + 4, "kron"))[0].flops
    16
    """
    m, n, left_structure = left
    n_right, k, right_structure = right
    if n != n_right:
        raise ValueError(f"cannot multiply {m}x{n} by {n_right}x{k}")
    if left_structure == KRON:
        raise ValueError("a Kronecker factor is only ever the right operand")
    if left_structure == DIAGONAL and right_structure in (DIAGONAL, KRON):
        macs = flops = m
        structure = right_structure
    elif DIAGONAL in (left_structure, right_structure) or right_structure == KRON:
        macs = flops = diagonal_flops(m, k)
        structure = DENSE
    else:
        macs, flops = matmul_macs(m, n, k), matmul_flops(m, n, k)
        structure = DENSE
    return ProductCount((m, n), (n_right, k), left_structure, right_structure, macs, flops), structure


def stored_bytes(rows: int, cols: int, structure: str, itemsize: int) -> int:
    return stored_entries(rows, cols, structure) * itemsize


def plan_cost(plan: Plan, chain: Chain) -> PlanCost:
    """Model a plan: every product's counts and the peak bytes of live intermediate results.

    An intermediate lives from the step that makes it to the step that last uses it (outputs
    to the end); the factors themselves are not counted (see Chain.factor_bytes).
    """
    values = [(f.rows, f.cols, f.structure) for f in chain.factors]
    products, live, peak = [], 0, 0
    for (left, right), freed in zip(plan.steps, plan.frees()):
        count, structure = product_count(values[left], values[right])
        rows, cols = values[left][0], values[right][1]
        out_bytes = stored_bytes(rows, cols, structure, chain.itemsize)
        peak = max(peak, live + out_bytes)
        live += out_bytes - sum(stored_bytes(*values[value], chain.itemsize) for value in freed)
        values.append((rows, cols, structure))
        products.append(count)
    return PlanCost(
        macs=sum(p.macs for p in products),
        flops=sum(p.flops for p in products),
        peak_bytes=peak,
        products=tuple(products),
        result_bytes=sum(stored_bytes(*values[value], chain.itemsize) for value in plan.results),
    )


def optimal_plan(chain: Chain, rates: tuple | None = None) -> Plan:
    """The bracketing of least FLOPs, by the matrix-chain dynamic program, structure-aware.

    With `rates` = (FLOP/s as a function of a product's smallest dimension, cache bytes/s,
    memory bytes/s, cache bytes) it minimises the predicted time instead: each product costs the larger of its FLOPs over the rate and its
    bytes moved over the bandwidth (the cache's if they fit in it).

    Vectorised over all segments of one length at a time. Costs are stored by (start, length)
    and, reversed, by (end, length), so both halves of every split are forward slices, and the
    arithmetic runs in preallocated buffers, split over two threads for long chains (numpy
    releases the GIL). int64 is used where no plan's cost can reach 2**62 (exact); beyond
    that, Python integers in object arrays (exact, slower).
    """
    n = len(chain)
    if n == 1:
        return Plan(1, ())
    dims = chain.dims
    bound = 2 * (n - 1) * max(dims) ** 3
    diagonal = [f.structure == DIAGONAL for f in chain.factors]
    table = _DynamicProgram(dims, diagonal, bound < _INT64_SAFE, rates, chain.itemsize)
    pool = None
    if table.vectorised and n >= 128:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=2)
    try:
        for length in range(2, n + 1):
            count = n - length + 1
            if pool is not None and count * (length - 1) >= 20_000:
                half = count // 2
                list(pool.map(lambda job: table.solve(length, *job), ((0, half, 0), (half, count, 1))))
            else:
                table.solve(length, 0, count)
    finally:
        if pool is not None:
            pool.shutdown()
    return _plan_from_splits(table.split, n)


class _DynamicProgram:
    """The tables of the matrix-chain program; `solve` fills one length for a range of starts."""

    def __init__(self, dims: list[int], diagonal: list[bool], exact_int64: bool,
                 rates: tuple | None = None, itemsize: int = 8) -> None:
        n = len(dims) - 1
        self.n, self.rates, self.itemsize = n, rates, itemsize
        # Time is a float objective; FLOPs are exact, in int64 where safe, else Python ints.
        dtype = np.float64 if rates else (np.int64 if exact_int64 else object)
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
            self.hankel = np.lib.stride_tricks.as_strided(padded[1:], shape=(n, n), strides=(step, step), writeable=False)
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
        if self.rates:
            self._time_products(product, mid, outer, first, last, length)
        else:
            np.multiply(mid, (2 * outer)[:, None], out=product)
            if self.any_diagonal:
                self._diagonal_corrections(product, outer, first, last, length)
        np.add(self.by_start[first:last, 1:length], self.by_end[first + width : last + width, n - width : n], out=total)
        np.add(total, product, out=total)
        best = total.argmin(axis=1) if self.vectorised else _argmin_rows(total)
        best_cost = total[self.rows[:count], best]
        self.by_start[first:last, length] = best_cost
        self.by_end[first + width : last + width, n - length] = best_cost
        self.split[first:last, length] = best + 1

    def _diagonal_splits(self, first, last, length):
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

    def _diagonal_corrections(self, product, outer, first, last, length) -> None:
        """Replace, in place, the dense FLOPs where a half of the split is diagonal."""
        rows, cols, left, right = self._diagonal_splits(first, last, length)
        if rows.size:
            product[rows, cols] = np.where(left & right, self.p[first + rows], outer[rows])

    def _time_products(self, product, mid, outer, first, last, length) -> None:
        """Predicted seconds of every split's product: max(FLOPs / rate, bytes / bandwidth)."""
        flop_rate = self.rates[0]
        m = self.p[first:last][:, None]
        k = self.p[first + length : last + length][:, None]
        flops = 2 * m * mid * k
        moved = (m * mid + mid * k + m * k) * self.itemsize
        smallest = np.minimum(np.minimum(m, mid), k)
        np.maximum(flops / flop_rate(smallest), self._transfer_time(moved), out=product)
        if not self.any_diagonal:
            return
        rows, cols, left, right = self._diagonal_splits(first, last, length)
        if rows.size:
            m, n, k = self.p[first + rows], mid[rows, cols], self.p[first + length + rows]
            flops = np.where(left & right, m, m * k)
            left_entries = np.where(left, m, m * n)
            right_entries = np.where(right, n, n * k)
            out_entries = np.where(left & right, m, m * k)
            moved = (left_entries + right_entries + out_entries) * self.itemsize
            product[rows, cols] = np.maximum(flops / flop_rate(np.inf), self._transfer_time(moved))

    def _transfer_time(self, moved):
        _, cache_rate, memory_rate, cache_bytes = self.rates
        return np.where(moved <= cache_bytes, moved / cache_rate, moved / memory_rate)


def _diagonal_runs(diagonal: list[bool]) -> tuple[np.ndarray, np.ndarray]:
    """For each factor, how many consecutive diagonal factors start (end) at it."""
    n = len(diagonal)
    runs_from, runs_to = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    for index in range(n - 1, -1, -1):
        runs_from[index] = (runs_from[index + 1] + 1 if index + 1 < n else 1) if diagonal[index] else 0
    for index in range(n):
        runs_to[index] = (runs_to[index - 1] + 1 if index > 0 else 1) if diagonal[index] else 0
    return runs_from, runs_to


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
