"""This machine's limits as plain data: the figures `jacchain calibrate` measures (run/) and
the time model (here) reads."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

DEFAULT_CACHE_BYTES = 8 * 2**20
Numeric = float | int | npt.NDArray[np.float64]


@dataclass(frozen=True)
class Calibration:
    """GFLOP/s of a large square GEMM; GB/s of a vector-matrix product streaming a matrix from
    memory (far larger than the caches) and from cache (a quarter of the largest cache); and
    the fixed time of one tiny product; for one BLAS, dtype and thread count."""

    blas: str
    dtype: str
    threads: int
    gemm_gflops: float
    stream_gbps: float
    gemm_size: int
    stream_bytes: int
    measured_at: float
    cache_gbps: float = 0.0
    cache_bytes: int = DEFAULT_CACHE_BYTES
    call_s: float = 0.0
    # GFLOP/s of (s x 1024)(1024 x 1024) for growing s: skinny products run below the peak.
    gemm_curve: tuple[tuple[int, float], ...] = ()

    def gemm_rate(self, smallest: Numeric) -> Any:
        """FLOP/s of a dense product whose smallest dimension is `smallest` (log-interpolated
        on the measured curve; the square GEMM rate where there is no curve)."""
        if not self.gemm_curve:
            return self.gemm_gflops * 1e9  # np.where and arithmetic broadcast it over arrays
        sizes = np.log([size for size, _ in self.gemm_curve])
        rates = [rate for _, rate in self.gemm_curve]
        return np.interp(np.log(np.maximum(smallest, 1)), sizes, rates) * 1e9

    def compute_rate(self, smallest: Numeric, dense: Any) -> Any:
        """FLOP/s of a product: the GEMM curve for dense x dense, the square GEMM rate for a
        product with a structured operand (no GEMM runs there; one multiply per entry)."""
        return np.where(dense, self.gemm_rate(smallest), self.gemm_gflops * 1e9)

    def transfer_seconds(self, n_bytes: Numeric) -> Any:
        """Seconds to move n_bytes: from cache if they fit in it (the timed repeats reuse the
        same arrays, so what fits stays resident), from memory otherwise."""
        in_cache = (np.asarray(n_bytes) <= self.cache_bytes) & (self.cache_gbps > 0)
        cache_rate = self.cache_gbps if self.cache_gbps > 0 else self.stream_gbps
        return np.where(in_cache, n_bytes / (cache_rate * 1e9), n_bytes / (self.stream_gbps * 1e9))

    @property
    def key(self) -> str:
        return calibration_key(self.blas, self.dtype, self.threads)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def calibration_key(blas: str, dtype: str, threads: int) -> str:
    return f"{blas}|{dtype}|{threads}"
