"""Predicted time of a product from this machine's limits: a fixed call cost plus the larger
of its FLOPs over the matrix-multiply rate and its bytes moved over the streaming bandwidth
(a roofline with a latency term)."""

from __future__ import annotations

from typing import Iterable

from .calibrate import Calibration
from .chain import DIAGONAL, KRON, stored_entries
from .cost import ProductCount


def result_structure(product: ProductCount) -> str:
    if product.left_structure == DIAGONAL and product.right_structure in (DIAGONAL, KRON):
        return product.right_structure
    return "dense"


def bytes_moved(product: ProductCount, itemsize: int) -> int:
    """Bytes read (both operands) and written (the result), each as stored.

    >>> from jacchain.cost import product_count
    >>> bytes_moved(product_count((1, 512, "dense"), (512, 784, "dense"))[0], 8)
    3221632
    """
    (m, n), (_, k) = product.left, product.right
    entries = (
        stored_entries(m, n, product.left_structure)
        + stored_entries(n, k, product.right_structure)
        + stored_entries(m, k, result_structure(product))
    )
    return entries * itemsize


def product_time(product: ProductCount, calibration: Calibration, itemsize: int) -> float:
    """call + max(FLOPs / rate, bytes / bandwidth), in seconds. The rate is the GEMM rate
    measured at the product's smallest dimension; the bandwidth is the cache's when the bytes
    moved fit in it, memory's otherwise.

    >>> from jacchain.cost import product_count
    >>> c = Calibration("x", "float64", 1, gemm_gflops=100.0, stream_gbps=10.0, gemm_size=1, stream_bytes=1,
    ...                 measured_at=0, cache_gbps=40.0, cache_bytes=2**20)
    >>> product_time(product_count((1000, 1000, "dense"), (1000, 1000, "dense"))[0], c, 8)  # compute-bound
    0.02
    >>> round(product_time(product_count((1, 1000, "dense"), (1000, 1000, "dense"))[0], c, 8), 7)  # from memory
    0.0008016
    >>> round(product_time(product_count((1, 100, "dense"), (100, 100, "dense"))[0], c, 8), 9)  # from cache
    2.04e-06
    """
    (m, n), (_, k) = product.left, product.right
    dense = product.left_structure == product.right_structure == "dense"
    compute = product.flops / float(calibration.gemm_rate(min(m, n, k)) if dense else calibration.gemm_gflops * 1e9)
    moved = bytes_moved(product, itemsize)
    return calibration.call_s + max(compute, moved / calibration.bandwidth(moved))


def plan_time(products: Iterable[ProductCount], calibration: Calibration, itemsize: int) -> float:
    return sum(product_time(product, calibration, itemsize) for product in products)


def rates(calibration: Calibration):
    """(FLOP/s as a function of the smallest dimension, cache bytes/s, memory bytes/s, cache
    bytes) for the time-minimising bracketing (every bracketing has the same number of
    products, so the call term does not matter)."""
    cache = calibration.cache_gbps if calibration.cache_gbps > 0 else calibration.stream_gbps
    return calibration.gemm_rate, cache * 1e9, calibration.stream_gbps * 1e9, calibration.cache_bytes
