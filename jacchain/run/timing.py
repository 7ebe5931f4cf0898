"""Honest timings: warm-up, repeats to fill a time budget, median and spread; BLAS facts."""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from .allocator import keep_freed_memory

DEFAULT_TARGET_S = 0.2
MIN_REPEATS = 3
MAX_REPEATS = 10_000
ROUNDS = 5  # rounds of time_alternating


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
    return time_alternating([function], repeats, target_s, rounds=1)[0]


def time_alternating(
    functions: Sequence[Callable[[], object]],
    repeats: int | None = None,
    target_s: float | None = None,
    rounds: int = ROUNDS,
    targets: Sequence[float | None] = (),
) -> list[Timing]:
    """Time several functions side by side: one warm-up call each, then `rounds` rounds in
    which each function in turn runs its share of its repeats (`repeats`, or enough for
    target_s, as time_call; enough for a time budget of its own where `targets` gives one, None
    where it does not, whatever `repeats` says). Each Timing pools its function's samples over
    all rounds, so every function is measured across the same spells of the machine (another
    process, a clock change, a neighbour on the host) and their ratio is not one spell against
    another.

    >>> [t.repeats for t in time_alternating([lambda: None, lambda: None], repeats=7)]
    [7, 7]
    """
    keep_freed_memory()  # timings measure the work, not the kernel faulting fresh pages in
    clock = time.perf_counter
    counts = []
    budgets = [*targets, *[None] * (len(functions) - len(targets))]
    for function, budget in zip(functions, budgets):
        start = clock()
        function()
        warm_up = clock() - start
        counts.append(_repeats(warm_up, repeats, target_s) if budget is None else _repeats(warm_up, None, budget))
    samples: list[list[float]] = [[] for _ in functions]
    rounds = max(1, min(rounds, min(counts, default=1)))
    for round_ in range(rounds):
        for function, count, times in zip(functions, counts, samples):
            for _ in range(count // rounds + (round_ < count % rounds)):
                start = clock()
                function()
                times.append(clock() - start)
    return [Timing(statistics.median(times), min(times), max(times), len(times)) for times in samples]


def _repeats(warm_up: float, repeats: int | None, target_s: float | None) -> int:
    """The timed calls: `repeats` when given, else enough to fill the target (within bounds)."""
    if repeats is not None:
        return repeats
    target = DEFAULT_TARGET_S if target_s is None else target_s
    wanted = MIN_REPEATS if warm_up <= 0 else math.ceil(target / warm_up)
    return min(max(wanted, MIN_REPEATS), MAX_REPEATS)


def blas_info(library: str | None = None) -> BlasInfo:
    """The BLAS numpy calls (or the one loaded from `library`, a file) and its current thread
    count, as threadpoolctl reports them."""
    from threadpoolctl import threadpool_info

    pools = [pool for pool in threadpool_info() if pool.get("user_api") == "blas"]
    if not pools:
        return BlasInfo("unknown", 1)

    def chosen(pool: dict) -> bool:
        path = str(pool.get("filepath", ""))
        if library is None:  # SciPy (pulled in by scikit-learn) may load a BLAS of its own
            return "numpy" in path
        return same_file(path, library)

    pool = next((p for p in pools if chosen(p)), pools[0])
    name = pool.get("internal_api", "blas")
    version = pool.get("version")
    library = f"{name} {version}" if version else name
    if pool.get("architecture"):
        library += f" ({pool['architecture']})"
    return BlasInfo(library, int(pool.get("num_threads", 1)))


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system reports it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - platforms without affinity
        return os.cpu_count() or 1


@contextmanager
def blas_threads(threads: int | None, library: str | None = None) -> Iterator[None]:
    """Limit BLAS to `threads` (at most the usable cores: more only fight over them) inside the
    block; None leaves it as it is.

    With `library` (the file of the one BLAS the work runs on), only that one gets `threads`,
    and every other BLAS in the process is held to one thread. An idle pool raised to more
    threads starts them spinning, and they take the cores from the working one: here MKL's
    products took 4 ms instead of 0.03 ms each for the first 0.1 s after numpy's OpenBLAS,
    idle beside it, had been raised from one thread to two."""
    if threads is None:
        yield
        return
    from threadpoolctl import ThreadpoolController

    pools, limit = ThreadpoolController().select(user_api="blas"), min(threads, usable_cores())
    if library is None:
        with pools.limit(limits=limit):
            yield
        return
    paths = [pool.filepath for pool in pools.lib_controllers]
    ours = [path for path in paths if same_file(path, library)]
    working, idle = pools.select(filepath=ours), pools.select(filepath=[p for p in paths if p not in ours])
    with working.limit(limits=limit), idle.limit(limits=1):
        yield


def same_file(path: str, other: str) -> bool:
    """Whether two paths name one library file (threadpoolctl and the loaders spell them apart)."""
    return os.path.realpath(path) == os.path.realpath(other)
