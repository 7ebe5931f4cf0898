"""This machine's limits as plain data: the figures `jacchain calibrate` measures (run/) and
the time model (here) reads."""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

DEFAULT_CACHE_BYTES = 8 * 2**20
# The small products' side: (100 x 100)(100 x 100) is 10^6 multiply-adds, the most OpenBLAS
# runs through its small-matrix kernels (no packing, one thread, whatever threads it may use).
SMALL_SIDE = 100
SMALL_MACS = SMALL_SIDE**3
# The measured GEMM curves, by field: results short (few rows) and narrow (few columns).
GEMM_CURVES = {"gemm_curve": ("GEMM curve", "rows"), "gemm_curve_narrow": ("narrow-result GEMM curve", "columns")}
# ... and the same two shapes of small products, on SMALL_SIDE instead of the GEMM's size.
SMALL_CURVES = {
    "small_curve": ("small-product curve", "rows"),
    "small_curve_narrow": ("narrow small-product curve", "columns"),
}
STALE_DAYS = 30  # a calibration older than this is called stale
BUSY_LOAD_PER_CORE = 0.5  # a load average above this many runnable tasks per core: "under load"
Numeric = float | int | npt.NDArray[np.float64]


@dataclass(frozen=True)
class Calibration:
    """GFLOP/s of a large square GEMM; GB/s of a vector-matrix product streaming a matrix from
    memory (far larger than the caches) and from cache (at a quarter of cache_bytes, the
    largest matrix that streams markedly faster than from memory, or at the smallest matrix
    the BLAS streams on all its threads where that is larger; both measured); and the fixed
    time of one tiny product; for one BLAS, dtype and thread count."""

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
    # The 1-minute load average and usable cores when it was taken (None: not recorded).
    load_average: float | None = None
    cores: int = 0
    # Figures that did not agree within 10% over the bounded repeats.
    unsettled: tuple[str, ...] = ()
    # GB/s of numpy scaling the rows of a matrix (a diagonal times a dense factor: one thread,
    # a fresh result) against the bytes it reads and writes: what a structured product runs at.
    elementwise_curve: tuple[tuple[int, float], ...] = ()
    # The fixed cost of running a plan at all, over its products' (the executor's loop).
    run_s: float = 0.0
    # GB/s of the vector-matrix product by matrix bytes (64 KiB to 128 MiB), the time of a
    # tiny product's call taken out: what a product moves its bytes at, by how many bytes the
    # caches must hold (the cache's capacity and rate above are read off it).
    stream_curve: tuple[tuple[int, float], ...] = ()
    # The same sweep on one thread, and the matrix entries below which the BLAS streams a
    # vector-matrix product on one thread (0: on all of them at every size; no second sweep).
    stream_curve_one: tuple[tuple[int, float], ...] = ()
    threaded_from: int = 0
    # GFLOP/s of (1024 x 1024)(1024 x s), the same products with the result narrow, not short:
    # the BLAS packs and blocks the two differently, and on one processor the narrow ones ran
    # 1.2-1.9x faster in float32 and 0.74-0.9x as fast in float64 at s up to 8 (empty: not
    # measured, the short curve prices both).
    gemm_curve_narrow: tuple[tuple[int, float], ...] = ()
    # GFLOP/s of small products, (s x 100)(100 x 100) and (100 x 100)(100 x s) for s up to 100,
    # each its call's time taken out (empty: not measured): what a product of at most
    # SMALL_MACS multiply-adds runs at. On OpenBLAS's SkylakeX kernels these skip packing and
    # run on one thread, the same on one thread and on two, where the GEMM curves, a 1024 x 1024
    # operand packed afresh for few rows, read them 1.5-3x slow on one thread; on its Haswell
    # kernels they are packed, and few rows or columns cost them more than the curves say.
    small_curve: tuple[tuple[int, float], ...] = ()
    small_curve_narrow: tuple[tuple[int, float], ...] = ()

    def problems(self) -> list[str]:
        """Why these figures cannot be right (empty when they are plausible): non-finite or
        non-positive rates, a GEMM curve whose product time does not grow with its size (a busy
        machine: every call took the same time), a GEMM slower than streaming a matrix."""
        rates = {"gemm_gflops": self.gemm_gflops, "stream_gbps": self.stream_gbps, "cache_gbps": self.cache_gbps}
        found = [f"{name} = {value!r}" for name, value in rates.items() if not _positive(value)]
        for name in ("call_s", "run_s"):
            value = getattr(self, name)
            if not _positive(value) and value != 0:
                found.append(f"{name} = {value!r}")
        if not (isinstance(self.cache_bytes, int) and self.cache_bytes > 0):
            found.append(f"cache_bytes = {self.cache_bytes!r}")
        for name, (label, sizes_are) in GEMM_CURVES.items():
            found += _gemm_curve_problems(name, getattr(self, name), label, sizes_are)
        for name, (label, sizes_are) in SMALL_CURVES.items():  # where a BLAS threads the larger, they may fall
            found += _gemm_curve_problems(name, getattr(self, name), label, sizes_are, rising=False)
        found += _points_problems("elementwise_curve", self.elementwise_curve, "(bytes, positive GB/s)")
        found += _points_problems("stream_curve", self.stream_curve, "(bytes, positive GB/s)")
        found += _points_problems("stream_curve_one", self.stream_curve_one, "(bytes, positive GB/s)")
        if not found and self.dtype in ("float32", "float64"):
            streaming_flops = 2 * self.stream_gbps / np.dtype(self.dtype).itemsize
            if self.gemm_gflops < streaming_flops:
                found.append(
                    f"the GEMM rate {self.gemm_gflops:.3g} GFLOP/s is below the streaming rate "
                    f"{streaming_flops:.3g} GFLOP/s"
                )
        return found

    def notes(self, now: float) -> list[str]:
        """What makes these figures doubtful though plausible: age, load while measuring,
        figures that did not settle."""
        found = []
        days = (now - self.measured_at) / 86400
        if days > STALE_DAYS:
            found.append(f"it is {days:,.0f} days old")
        if self.load_average is not None and self.cores and self.load_average > BUSY_LOAD_PER_CORE * self.cores:
            found.append(f"it was taken under load (load average {self.load_average:.2f} on {self.cores} core(s))")
        if self.unsettled:
            found.append(f"{', '.join(self.unsettled)} did not settle within 10%")
        return found

    def gemm_rate(self, at: Numeric, narrow: Any = False) -> Any:
        """FLOP/s of a dense product the curve reads at `at` rows (cost/time_model.gemm_dimension;
        log-interpolated on the measured curve; the square GEMM rate where there is no curve),
        or at `at` columns on the narrow-result curve where the result is `narrow` (its columns
        fewer than its rows) and that curve was measured."""
        if not self.gemm_curve:
            return self.gemm_gflops * 1e9  # np.where and arithmetic broadcast it over arrays
        return _curves_rate(self.gemm_curve, self.gemm_curve_narrow, at, narrow)

    def compute_rate(
        self, at: Numeric, dense: Any, narrow: Any = False, small: Any = False, small_at: Numeric = SMALL_SIDE
    ) -> Any:
        """FLOP/s of a product: the GEMM curve at `at` for dense x dense (the narrow-result one
        where the result is `narrow`), or for a `small` one the small-product curves at
        `small_at` (by default the square's) where measured, the square GEMM rate for a product
        with a structured operand (no GEMM runs there; one multiply per entry)."""
        rate = self.gemm_rate(at, narrow)
        if self.small_curve:
            rate = np.where(small, _curves_rate(self.small_curve, self.small_curve_narrow, small_at, narrow), rate)
        return np.where(dense, rate, self.gemm_gflops * 1e9)

    def transfer_seconds(self, n_bytes: Numeric, resident: Numeric = 0, entries: Numeric = math.inf) -> Any:
        """Seconds to move n_bytes at the rate the streaming sweep measured where the caches
        hold `resident` bytes (a product's own, or more: everything a timed pass moves before
        the product runs again), log-interpolated between the sweep's sizes and at memory's
        rate past them; on the one-thread sweep for a vector-matrix product whose matrix has
        fewer `entries` than the BLAS streams on all its threads. Without a sweep, from cache
        if the bytes fit in it, from memory otherwise."""
        moved = np.asarray(n_bytes, dtype=np.float64)  # counts beyond int64 too (the DP's exact ints)
        held = np.maximum(moved, np.asarray(resident, dtype=np.float64))
        if not self.stream_curve:
            in_cache = (held <= self.cache_bytes) & (self.cache_gbps > 0)
            cache_rate = self.cache_gbps if self.cache_gbps > 0 else self.stream_gbps
            return np.where(in_cache, moved / (cache_rate * 1e9), moved / (self.stream_gbps * 1e9))
        memory = (max(self.stream_bytes, self.stream_curve[-1][0] + 1), self.stream_gbps)
        rate = _log_interp((*self.stream_curve, memory), held)
        if self.stream_curve_one and self.threaded_from:
            one = np.asarray(entries, dtype=np.float64) < self.threaded_from
            rate = np.where(one, _log_interp(self.stream_curve_one, held), rate)
        return moved / (rate * 1e9)

    def structured_seconds(self, n_bytes: Numeric) -> Any:
        """Seconds numpy takes over a structured product moving n_bytes (log-interpolated on
        the measured elementwise curve; the transfer time where there is no curve)."""
        if not self.elementwise_curve:
            return self.transfer_seconds(n_bytes)
        moved = np.asarray(n_bytes, dtype=np.float64)  # counts beyond int64 too (the DP's exact ints)
        return moved / (_log_interp(self.elementwise_curve, moved) * 1e9)

    @property
    def key(self) -> str:
        return calibration_key(self.blas, self.dtype, self.threads)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FixedCosts:
    """An executor's fixed costs (seconds per library call, per run) timed beside the work they
    price, in the same alternating rounds (run/calibrate.time_with_fixed_costs; a chain's plans
    by their model's own probe, run/elemental.model_probe): on a shared
    host they move by up to 2x within seconds (a product's call here: 1.1 us in one spell,
    2.2 in the next), so they replace the calibration's, measured minutes before, in the
    predictions. The rates stay the calibration's."""

    call_s: float
    run_s: float

    def to_dict(self) -> dict[str, float]:
        return {"call_s": self.call_s, "run_s": self.run_s}


def with_fixed_costs(calibration: Calibration | None, fixed: FixedCosts | None) -> Calibration | None:
    """The calibration with its fixed costs replaced by those timed beside the work, if any."""
    if calibration is None or fixed is None:
        return calibration
    return replace(calibration, call_s=fixed.call_s, run_s=fixed.run_s)


def _gemm_curve_problems(name: str, points: Any, label: str, sizes_are: str, rising: bool = True) -> list[str]:
    """Why a measured GEMM curve cannot be right: malformed, falling where it should be `rising`
    (a later point below 0.7x the one before), or its product times not growing with the
    product (a busy machine)."""
    malformed = _points_problems(name, points, f"({sizes_are}, positive GFLOP/s)", sizes_are)
    if malformed:
        return malformed
    sizes, rates = [size for size, _ in points], [rate for _, rate in points]
    if rising and any(later < 0.7 * earlier for earlier, later in itertools.pairwise(rates)):
        return [f"the {label} is not increasing: {', '.join(f'{r:.3g}' for r in rates)} GFLOP/s"]
    if len(points) >= 2 and (sizes[-1] / rates[-1]) / (sizes[0] / rates[0]) < 2:
        return [f"the {label}'s times do not grow with the product's size (the machine was busy?)"]
    return []


def _curves_rate(short: Any, narrow_curve: Any, at: Numeric, narrow: Any) -> Any:
    """FLOP/s read at `at` on the short-result curve, or on the narrow-result one where the
    result is `narrow` and that curve was measured (both in GFLOP/s)."""
    rate = _log_interp(short, at) * 1e9
    if not narrow_curve:
        return rate
    return np.where(narrow, _log_interp(narrow_curve, at) * 1e9, rate)


def _log_interp(points: tuple[tuple[int, float], ...], at: Numeric) -> Any:
    """The measured curve's value at `at`, interpolated in log size (held flat past its ends)."""
    sizes = np.log([size for size, _ in points])
    at = np.asarray(at, dtype=np.float64)
    return np.interp(np.log(np.maximum(at, 1.0)), sizes, [value for _, value in points])


def _points_problems(name: str, points: Any, shape: str, sizes_are: str = "sizes") -> list[str]:
    """Why a measured curve is malformed: not (positive int size, positive value) pairs, or its
    sizes not increasing."""
    if not isinstance(points, tuple) or not all(
        isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], int) and p[0] > 0 and _positive(p[1]) for p in points
    ):
        return [f"{name} = {points!r} is not a list of {shape}"]
    sizes = [size for size, _ in points]
    if sizes != sorted(set(sizes)):
        return [f"{name} {sizes_are} are not increasing"]
    return []


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def calibration_key(blas: str, dtype: str, threads: int) -> str:
    return f"{blas}|{dtype}|{threads}"
