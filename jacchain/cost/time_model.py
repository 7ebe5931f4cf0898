"""Predicted time of a product from this machine's limits: a fixed call cost plus the larger
of its FLOPs over the compute rate and its bytes moved over the bandwidth (a roofline with a
latency term). One rule for `analyze`'s predictions and for the DP's `--cost time`."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .machine import SMALL_MACS, SMALL_SIDE, Calibration
from .product import ProductCount
from .ratio import FLOAT_MAX


@dataclass(frozen=True)
class TimeObjective:
    """What `--cost time` minimises: the modelled seconds of each product on this machine.
    Every bracketing of a chain has the same number of products, so the call term is left out."""

    machine: Calibration
    itemsize: int
    resident: int = 0  # the bytes a whole pass moves, what the caches must hold between repeats

    def seconds(self, flops: Any, n_bytes: Any, dims: tuple[Any, Any, Any], dense: Any, vector: Any = False) -> Any:
        """max(FLOPs / rate, bytes / bandwidth), elementwise over numpy arrays too, for an
        (m x k)(k x n) product (`dims`: m, k, n); a dense one at the GEMM curve's rate where
        `gemm_dimension` reads it, a structured one moving its bytes at numpy's measured
        elementwise rate, not BLAS's; one whose result has fewer columns than rows on the
        narrow-result curve, and one of at most SMALL_MACS multiply-adds on the small-product
        curves, read by the same rule on their side, where measured. A dense product whose
        result is a row or a column (`vector`) is a matrix-vector product (BLAS's gemv, not its
        gemm): it streams its matrix once at two FLOPs an entry, so its bytes alone price it
        (the GEMM curve's fewest rows, a gemm, ran 1.3-3x slower than gemv here)."""
        gemv = np.asarray(vector) & dense
        at = gemm_dimension(*dims, self.machine.gemm_size)
        small = np.asarray(flops) <= 2 * SMALL_MACS  # a dense product's FLOPs are twice its MACs
        small_at = gemm_dimension(*dims, SMALL_SIDE)
        rate = self.machine.compute_rate(at, dense, narrow_result(*dims), small, small_at)
        compute = np.where(gemv, 0.0, flops / rate)
        # a gemv's matrix has flops / 2 entries; a gemm streams on all threads
        entries = np.where(gemv, flops / 2, np.inf)
        streamed = self.machine.transfer_seconds(n_bytes, self.resident, entries)
        transfer = np.where(dense, streamed, self.machine.structured_seconds(n_bytes))
        return np.maximum(compute, transfer)


def gemm_dimension(m: Any, k: Any, n: Any, size: int) -> Any:
    """Where the GEMM curve, measured on (r x size)(size x size) products, prices an
    (m x k)(k x n) one: at the d with 1/d = 1/m + 1/k + 1/n - 2/size, which is r on the curve's
    own products, never above the smallest dimension nor below 1. A product small in two or
    three dimensions runs below the curve at its smallest: a BLAS amortises its packing and
    edge work over the other dimensions, and the curve's are `size`. On the chain configs'
    surrogates, (58 x 349)(349 x 63) ran at 40 GFLOP/s, the curve at 58 reading 65 and at its
    d of 29 53; over nine runs of the time-model check the rule lifted the chain configs' plans
    within 30% from 72% to 91% and left the network specs' hit rates where they were.

    >>> int(gemm_dimension(32, 1024, 1024, 1024)), round(float(gemm_dimension(64, 128, 64, 1024)), 1)
    (32, 26.9)
    >>> int(gemm_dimension(128, 2048, 2048, 1024)), int(gemm_dimension(1000, 1000, 1000, 1))
    (128, 1000)
    """
    m, k, n = (np.maximum(np.asarray(dim, dtype=np.float64), 1.0) for dim in (m, k, n))
    smallest = np.minimum(np.minimum(m, k), n)
    inverse = 1 / m + 1 / k + 1 / n - 2 / size
    # the smallest dimension where the sum is not positive (larger than the curve's in two)
    harmonic = np.divide(1.0, inverse, out=np.array(smallest), where=inverse > 0)
    return np.maximum(np.minimum(harmonic, smallest), 1.0)


def narrow_result(m: Any, k: Any, n: Any) -> Any:
    """Whether an (m x k)(k x n) product's result is narrow (fewer columns than rows), what the
    narrow-result GEMM curve prices: input-first's products carry the input's few columns
    through wide matrices.

    >>> bool(narrow_result(512, 256, 16)), bool(narrow_result(16, 256, 512)), bool(narrow_result(64, 8, 64))
    (True, False, False)
    """
    return np.asarray(n) < np.asarray(m)


def product_time(product: ProductCount, calibration: Calibration, itemsize: int, resident: int = 0) -> float:
    """call + max(FLOPs / rate, bytes / bandwidth), in seconds, a call for each library call
    that makes it (a product with an empty operand is its call alone). A dense product runs
    at the GEMM curve's rate at `gemm_dimension` (a matrix-vector one by its bytes alone),
    with the bandwidth the calibration's sweep measured where the caches hold
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
    moved = product.bytes_moved(itemsize)
    if max(product.flops, moved) >= FLOAT_MAX:
        return math.inf  # beyond any machine: no finite prediction
    if not product.macs:  # an empty operand: the call and nothing more
        return calibration.call_s * product.calls
    objective = TimeObjective(calibration, itemsize, resident)
    seconds = objective.seconds(product.flops, moved, product.dims, product.dense, product.vector)
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
