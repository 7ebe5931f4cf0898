"""Honest timings: warm-up, repeats to fill a time budget, median and spread; BLAS facts."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .allocator import keep_freed_memory

DEFAULT_TARGET_S = 0.2
MIN_REPEATS = 3
MAX_REPEATS = 10_000


@dataclass(frozen=True)
class Timing:
    median: float
    min: float
    max: float
    repeats: int

    def to_dict(self) -> dict:
        return {"median": self.median, "min": self.min, "max": self.max, "repeats": self.repeats}


@dataclass(frozen=True)
class BlasInfo:
    library: str
    threads: int

    def to_dict(self) -> dict:
        return {"library": self.library, "threads": self.threads}


def time_call(function: Callable[[], object], repeats: int | None = None, target_s: float | None = None) -> Timing:
    """Time `function()`: one warm-up call, then `repeats` timed calls (or enough for target_s,
    by default DEFAULT_TARGET_S).

    >>> time_call(lambda: sum(range(100)), repeats=5).repeats
    5
    """
    keep_freed_memory()  # timings measure the work, not the kernel faulting fresh pages in
    start = time.perf_counter()
    function()
    warm_up = time.perf_counter() - start
    if repeats is None:
        target = DEFAULT_TARGET_S if target_s is None else target_s
        repeats = MIN_REPEATS if warm_up <= 0 else math.ceil(target / warm_up)
        repeats = min(max(repeats, MIN_REPEATS), MAX_REPEATS)
    samples = []
    clock = time.perf_counter
    for _ in range(repeats):
        start = clock()
        function()
        samples.append(clock() - start)
    return Timing(statistics.median(samples), min(samples), max(samples), repeats)


def blas_info() -> BlasInfo:
    """The BLAS numpy calls and its current thread count, as threadpoolctl reports them."""
    from threadpoolctl import threadpool_info

    pools = [pool for pool in threadpool_info() if pool.get("user_api") == "blas"]
    if not pools:
        return BlasInfo("unknown", 1)
    # SciPy (pulled in by scikit-learn) may load a BLAS of its own: report numpy's.
    pool = next((p for p in pools if "numpy" in str(p.get("filepath", ""))), pools[0])
    name = pool.get("internal_api", "blas")
    version = pool.get("version")
    library = f"{name} {version}" if version else name
    if pool.get("architecture"):
        library += f" ({pool['architecture']})"
    return BlasInfo(library, int(pool.get("num_threads", 1)))


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system reports it)."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - platforms without affinity
        return os.cpu_count() or 1


@contextmanager
def blas_threads(threads: int | None) -> Iterator[None]:
    """Limit BLAS to `threads` (at most the usable cores: more only fight over them) inside the
    block; None leaves it as it is."""
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=min(threads, usable_cores()), user_api="blas"):
        yield
