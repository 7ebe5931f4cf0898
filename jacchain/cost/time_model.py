"""Predicted time of a product from this machine's limits: a fixed call cost plus the larger
of its FLOPs over the compute rate and its bytes moved over the bandwidth (a roofline with a
latency term). One rule for `analyze`'s predictions and for the DP's `--cost time`."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .machine import Calibration
from .product import ProductCount
from .ratio import FLOAT_MAX


@dataclass(frozen=True)
class TimeObjective:
    """What `--cost time` minimises: the modelled seconds of each product on this machine.
    Every bracketing of a chain has the same number of products, so the call term is left out."""

    machine: Calibration
    itemsize: int
    resident: int = 0  # the bytes a whole pass moves, what the caches must hold between repeats

    def seconds(self, flops: Any, n_bytes: Any, smallest: Any, dense: Any, vector: Any = False) -> Any:
        """max(FLOPs / rate, bytes / bandwidth), elementwise over numpy arrays too; a structured
        product moves its bytes at numpy's measured elementwise rate, not BLAS's. A dense
        product whose result is a row or a column (`vector`) is a matrix-vector product (BLAS's
        gemv, not its gemm): it streams its matrix once at two FLOPs an entry, so its bytes alone
        price it (the GEMM curve's fewest rows, a gemm, ran 1.3-3x slower than gemv here)."""
        gemv = np.asarray(vector) & dense
        compute = np.where(gemv, 0.0, flops / self.machine.compute_rate(smallest, dense))
        # a gemv's matrix has flops / 2 entries; a gemm streams on all threads
        entries = np.where(gemv, flops / 2, np.inf)
        streamed = self.machine.transfer_seconds(n_bytes, self.resident, entries)
        transfer = np.where(dense, streamed, self.machine.structured_seconds(n_bytes))
        return np.maximum(compute, transfer)


def product_time(product: ProductCount, calibration: Calibration, itemsize: int, resident: int = 0) -> float:
    """call + max(FLOPs / rate, bytes / bandwidth), in seconds, a call for each library call
    that makes it (a product with an empty operand is its call alone). A dense product runs
    at the GEMM rate measured at its smallest dimension (a matrix-vector one by its bytes
    alone), with the bandwidth the calibration's sweep measured where the caches hold
    `resident` bytes (at least its own; without a sweep, the cache's when they fit in it,
    memory's otherwise); a structured one (a diagonal or Kronecker operand) or a broadcast
    term at numpy's measured elementwise rate for that many bytes.

    >>> from jacchain.cost.product import product_count
    >>> from jacchain.types import Structure
    >>> c = Calibration("x", "float64", 1, gemm_gflops=100.0, stream_gbps=10.0, gemm_size=1, stream_bytes=1,
    ...                 measured_at=0, cache_gbps=40.0, cache_bytes=2**20)
    >>> D = Structure.DENSE
    >>> product_time(product_count((1000, 1000, D), (1000, 1000, D)), c, 8)  # compute-bound
    0.02
    >>> round(product_time(product_count((1, 1000, D), (1000, 1000, D)), c, 8), 7)  # from memory
    0.0008016
    >>> round(product_time(product_count((1, 100, D), (100, 100, D)), c, 8), 9)  # from cache
    2.04e-06
    """
    if max(product.flops, product.bytes_moved(itemsize)) >= FLOAT_MAX:
        return math.inf  # beyond any machine: no finite prediction
    if not product.macs:  # an empty operand: the call and nothing more
        return calibration.call_s * product.calls
    objective = TimeObjective(calibration, itemsize, resident)
    seconds = objective.seconds(
        product.flops, product.bytes_moved(itemsize), product.smallest_dim, product.dense, product.vector
    )
    return calibration.call_s * product.calls + float(seconds)


def plan_time(products: Iterable[ProductCount], calibration: Calibration, itemsize: int) -> float:
    """Predicted seconds of a plan: the fixed cost of a run plus the sum over its products
    (inf where a count is beyond a float), each product's bytes moved at the rate where the
    caches hold everything the pass moves: a plan is timed by running it over and over, so a
    product's operands have been through the others' before it runs again."""
    products = list(products)
    resident = pass_bytes(products, itemsize)
    return calibration.run_s + sum(product_time(product, calibration, itemsize, resident) for product in products)


def pass_bytes(products: list[ProductCount], itemsize: int) -> int:
    """The bytes one pass of a plan moves (operands and results, as stored): what the caches
    hold between two runs of any one of its products."""
    return sum(product.bytes_moved(itemsize) for product in products)
