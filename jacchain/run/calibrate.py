"""Measure this machine's limits (dense matrix-multiply rate, vector-matrix streaming
bandwidth, call cost) for a dtype and thread count, and cache them in the user's cache
directory."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..cost.machine import GEMM_CURVES, SMALL_CURVES, SMALL_SIDE, Calibration, FixedCosts, calibration_key
from ..cost.memory import available_bytes, check_fits
from ..errors import JacchainError
from ..io import write_atomic
from ..types import Progress
from .timing import DEFAULT_TARGET_S, Timing, blas_info, blas_threads, time_alternating, time_call, usable_cores

CACHE_SCHEMA = 14  # 8: medians over rounds; 9: the cache's capacity measured; 10: its rate where all threads stream;
# 11: the sweep from 64 KiB, on one thread too, the call's time taken out; 12: the narrow-result GEMM curve;
# 13: the small-product rate; 14: the small-product curves
GEMM_CURVE_SIZES = (2, 8, 32, 128, 512)
SMALL_CURVE_SIZES = (2, 8, 32, SMALL_SIDE)
STREAM_BYTES = 256 * 2**20  # the matrix measure() streams from memory
ELEMENTWISE_BYTES = (2**14, 2**17, 2**20, 2**23, 2**26)  # bytes read and written
CAPACITY_SWEEP = tuple(2**16 * 2**k for k in range(12))  # streamed matrices of 64 KiB to 128 MiB
CACHE_GAIN = 1.25  # a matrix streams from cache when it streams at least this much faster than from memory
FOLD_PRODUCTS = (2, 16)  # the two plan lengths whose times give the executor's fixed costs
AGREEMENT = 0.10  # two measurements of one figure within 10% of each other agree
ROUNDS = 3  # each figure is measured once a round
MAX_ROUNDS = 5  # ... and a figure whose rounds disagree at most this often
# OpenBLAS runs a vector-matrix product (gemv) on one thread below 115,200 x its build's
# GEMM_MULTITHREAD_THRESHOLD (4 unless built otherwise) matrix entries, from 0.3.26 on (its
# pull request 4441; 2,304 x before). Measured here: (1 x 460)(460 x 1001) streams at one
# core's rate, (1 x 460)(460 x 1002) at two cores'.
OPENBLAS_GEMV_THREADED_FROM = 115_200 * 4
OPENBLAS_GEMV_THREADED_BEFORE = 2_304 * 4
OPENBLAS_GEMV_SINCE = (0, 3, 26)
PROBE_TARGET_S = DEFAULT_TARGET_S / 10  # each fixed-cost run's time budget beside other work


@dataclass(frozen=True)
class CalibrationRun:
    """What `jacchain calibrate` did: the figures measured and where they were cached."""

    calibration: Calibration
    cache: Path


def cache_path() -> Path:
    """$JACCHAIN_CACHE_DIR, else $XDG_CACHE_HOME/jacchain, else ~/.cache/jacchain."""
    base = os.environ.get("JACCHAIN_CACHE_DIR")
    if base:
        return Path(base) / "calibration.json"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "jacchain" / "calibration.json"


def gemm_rate(dtype: str, rows: int, size: int = 1024, repeats: int = 15, narrow: bool = False) -> float:
    """GFLOP/s of a (rows x size)(size x size) product with numpy's BLAS, or with `narrow` of
    (size x size)(size x rows): the same work, its result `rows` columns wide."""
    return 2 * rows * size * size / _product_seconds(dtype, rows, size, repeats, narrow) / 1e9


def small_rate(dtype: str, rows: int = SMALL_SIDE, repeats: int = 15, narrow: bool = False) -> float:
    """GFLOP/s of a small product, as `gemm_rate`'s on SMALL_SIDE, on its time less that of a
    (1 x 8)(8 x 8) product's, since the model adds each product's call once (the square took
    about 19 us in float32 here, a call 1 us)."""
    seconds = _product_seconds(dtype, rows, SMALL_SIDE, repeats * 10, narrow)
    return 2 * rows * SMALL_SIDE**2 / _less_a_call(seconds, dtype, repeats * 10) / 1e9


def _product_seconds(dtype: str, rows: int, size: int, repeats: int, narrow: bool) -> float:
    """The median time of (rows x size)(size x size), or with `narrow` (size x size)(size x rows),
    into one result."""
    square = np.full((size, size), 0.5, dtype=dtype)
    if narrow:
        left, right = square, np.full((size, rows), 0.5, dtype=dtype)
    else:
        left, right = square[:rows] if rows <= size else np.full((rows, size), 0.5, dtype=dtype), square
    out = np.empty((left.shape[0], right.shape[1]), dtype=dtype)
    return time_call(lambda: np.matmul(left, right, out=out), repeats=repeats).median


def _less_a_call(seconds: float, dtype: str, repeats: int) -> float:
    """A product's time less that of a (1 x 8)(8 x 8) one, the call the model adds to every
    product once, but never less than a quarter of it."""
    tiny, row = np.full((8, 8), 0.5, dtype=dtype), np.full((1, 8), 0.25, dtype=dtype)
    out = np.empty_like(row)
    fixed = time_call(lambda: np.matmul(row, tiny, out=out), repeats=repeats).median
    return max(seconds - fixed, seconds / 4)


def effective_cache(rates: dict[int, float], memory_gbps: float, threaded_from: int = 0) -> tuple[int, float]:
    """(capacity, GB/s) of the cache as the streaming products see it, from their rates by
    matrix size: the capacity is the largest size that still streams CACHE_GAIN times faster
    than memory (the smallest swept where none does), the rate the one at a quarter of it, or
    at the smallest size from `threaded_from` on (the smallest matrix the BLAS streams on all
    its threads) where that is larger and still within the capacity. Measured, not read from
    the system: a virtual machine can report a cache of hundreds of MiB, and threads share
    the last level with each other and with neighbours.

    >>> effective_cache({1: 26.0, 2: 20.0, 4: 40.0, 8: 39.0, 16: 30.0, 32: 20.0}, 19.8)
    (16, 40.0)
    >>> effective_cache({1: 21.0, 2: 20.0}, 19.8)
    (1, 21.0)
    >>> effective_cache({1: 26.0, 2: 20.0, 4: 40.0, 8: 30.0, 16: 20.0}, 19.8, threaded_from=3)
    (8, 40.0)
    """
    sizes = sorted(rates)
    capacity = max((size for size in sizes if rates[size] >= CACHE_GAIN * memory_gbps), default=sizes[0])
    quarter = max((size for size in sizes if size <= capacity // 4), default=sizes[0])
    threaded = min((size for size in sizes if threaded_from <= size <= capacity), default=quarter)
    return capacity, rates[max(quarter, threaded)]


def threaded_gemv_from(library: str, threads: int) -> int:
    """The matrix entries from which this BLAS streams a vector-matrix product on all its
    threads, smaller ones on one (0 where it has one thread, or its rule is not known).

    >>> threaded_gemv_from("openblas 0.3.31.188.0 (SkylakeX)", 2), threaded_gemv_from("openblas 0.3.31", 1)
    (460800, 0)
    >>> threaded_gemv_from("openblas 0.3.21", 2), threaded_gemv_from("mkl 2026.2", 2)
    (9216, 0)
    """
    name, _, rest = library.partition(" ")
    if name != "openblas" or threads <= 1:
        return 0
    version = tuple(int(part) for part in rest.split(" ")[0].split(".")[:3] if part.isdigit())
    return OPENBLAS_GEMV_THREADED_FROM if version >= OPENBLAS_GEMV_SINCE else OPENBLAS_GEMV_THREADED_BEFORE


def elementwise_rate(dtype: str, n_bytes: int, repeats: int = 15) -> float:
    """GB/s of numpy scaling the rows of a square matrix (a diagonal times a dense factor, as
    the executor does it: a fresh result) against the n_bytes it reads and writes."""
    side = max(1, _matrix_side(n_bytes // 2, dtype))
    matrix, diagonal = np.full((side, side), 0.5, dtype=dtype), np.full((side, 1), 0.5, dtype=dtype)
    seconds = time_call(lambda: diagonal * matrix, repeats=repeats).median
    return 2 * matrix.nbytes / seconds / 1e9


@dataclass(frozen=True)
class Probe:
    """Two runs of an executor whose times give its fixed costs (`fixed_costs`): the longer
    makes more library calls than the shorter (`calls`: each one's), on operands too small for
    their arithmetic to count, so that the difference is the calls and what is left of the
    shorter run after its calls is the run's own cost."""

    shorter: Callable[[], object]
    longer: Callable[[], object]
    calls: tuple[int, int]


def executor_probe(dtype: str) -> Probe:
    """The network executor's probe: loss-first plans of FOLD_PRODUCTS tiny products each (a
    1 x 8 row through 8 x 8 matrices), as every plan is run."""
    from ..planners.folds import left_fold
    from .execute import Value, compile_plan

    row, matrix = np.full((1, 8), 0.5, dtype=dtype), np.full((8, 8), 0.5, dtype=dtype)

    def run(products: int) -> Callable[[], object]:
        factors: list[Value] = [row, *[matrix] * products]
        return compile_plan(left_fold(products + 1), factors)

    few, many = FOLD_PRODUCTS
    return Probe(run(few), run(many), FOLD_PRODUCTS)


def fixed_costs(shorter: float, longer: float, calls: tuple[int, int] = FOLD_PRODUCTS) -> tuple[float, float]:
    """(seconds per call, seconds per run) from the times of a probe's two runs, which make
    `calls` library calls each: their difference is the calls the longer adds, and what is
    left of the shorter run's time after its own calls is the run's cost (neither below zero).

    >>> [round(s * 1e6, 6) for s in fixed_costs(5e-6, 33e-6)]
    [2.0, 1.0]
    >>> [round(s * 1e6, 6) for s in fixed_costs(20e-6, 90e-6, (14, 70))]
    [1.25, 2.5]
    """
    few, many = calls
    per_call = max((longer - shorter) / (many - few), 0.0)
    return per_call, max(shorter - few * per_call, 0.0)


def time_with_fixed_costs(
    functions: list[Callable[[], object]], dtype: str | None, repeats: int | None = None, probe: Probe | None = None
) -> tuple[list[Timing], FixedCosts | None]:
    """Time `functions` side by side (time_alternating); where a time model prices them (a
    `dtype`), with a fixed-cost probe's two runs in the same rounds (the network executor's
    unless `probe` gives the runs' own executor's), each on a budget of PROBE_TARGET_S (tiny
    runs: thousands of repeats, about 40 ms in all): the functions' timings, and the fixed
    costs measured across the same spells of the machine as they were (None without a dtype
    or functions)."""
    if dtype is None or not functions:
        return time_alternating(functions, repeats), None
    probe = probe or executor_probe(dtype)
    budgets = [None] * len(functions) + [PROBE_TARGET_S] * 2
    timed = time_alternating([*functions, probe.shorter, probe.longer], repeats, targets=budgets)
    shorter, longer = (timing.median for timing in timed[len(functions) :])
    return timed[: len(functions)], FixedCosts(*fixed_costs(shorter, longer, probe.calls))


def executor_costs(dtype: str, repeats: int = 400) -> tuple[float, float]:
    """(seconds per product, seconds per run) of the network executor itself, each run of its
    probe timed on its own."""
    probe = executor_probe(dtype)
    shorter, longer = (time_call(run, repeats=repeats).median for run in (probe.shorter, probe.longer))
    return fixed_costs(shorter, longer, probe.calls)


def _matrix_side(n_bytes: int, dtype: str) -> int:
    """The side of the square matrix of about n_bytes that the streaming rates measure."""
    return int((n_bytes / np.dtype(dtype).itemsize) ** 0.5)


def _streaming_rate(n_bytes: int, dtype: str, repeats: int) -> tuple[float, int]:
    """GB/s of a (1 x n)(n x n) product over an n x n matrix of about n_bytes, on the time it
    takes less that of a (1 x 8)(8 x 8) one: the transfer alone, since the model adds each
    product's fixed cost (`call_s`) once (a 64 KiB matrix streamed in about 2 us here, and a
    call took 1-2 us)."""
    side = _matrix_side(n_bytes, dtype)
    # The values do not matter for the timing; filling is much faster than drawing.
    matrix = np.full((side, side), 0.5, dtype=dtype)
    row = np.full((1, side), 0.25, dtype=dtype)
    result = np.empty((1, side), dtype=dtype)
    seconds = time_call(lambda: np.matmul(row, matrix, out=result), repeats=repeats).median
    return matrix.nbytes / _less_a_call(seconds, dtype, repeats) / 1e9, int(matrix.nbytes)


def _streaming_gbps(n_bytes: int, dtype: str, repeats: int) -> float:
    return _streaming_rate(n_bytes, dtype, repeats)[0]


def _one_thread_gbps(n_bytes: int, dtype: str, repeats: int) -> float:
    with blas_threads(1):
        return _streaming_rate(n_bytes, dtype, repeats)[0]


def in_rounds(
    figures: dict[str, Callable[[], float]], rounds: int = ROUNDS, most: int = MAX_ROUNDS
) -> tuple[dict[str, float], list[str]]:
    """Measure every figure once a round, in turn, for `rounds` rounds, then the figures of
    which no two rounds agree within 10% in further rounds of their own (at most `most` in
    all); each figure's median over its rounds, and the figures that never agreed. Spreading
    each figure over the whole calibration keeps one spell of the machine (a neighbour on the
    host, a clock change) from setting a figure alone.

    >>> values = {"a": iter([10.0, 20.0, 10.5]), "b": iter([1.0, 2.0, 4.0, 8.0, 16.0])}
    >>> in_rounds({name: (lambda v=v: next(v)) for name, v in values.items()})
    ({'a': 10.5, 'b': 4.0}, ['b'])
    """
    runs: dict[str, list[float]] = {name: [] for name in figures}
    for round_ in range(most):
        pending = [name for name, values in runs.items() if round_ < rounds or not _two_agree(values)]
        if not pending:
            break
        for name in pending:
            runs[name].append(figures[name]())
    unsettled = [name for name, values in runs.items() if not _two_agree(values)]
    return {name: float(np.median(values)) for name, values in runs.items()}, unsettled


def _two_agree(values: list[float]) -> bool:
    return any(abs(a - b) <= AGREEMENT * max(abs(a), abs(b)) for i, a in enumerate(values) for b in values[i + 1 :])


def load_average() -> float | None:
    """The 1-minute load average, where the system reports one."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def measure(
    dtype: str = "float64",
    threads: int | None = None,
    gemm_size: int = 1024,
    stream_bytes: int = STREAM_BYTES,
    repeats: int = 15,
) -> Calibration:
    """Time a gemm_size^3 GEMM, (1 x n)(n x n) products streaming matrices from memory and of
    1 to 128 MiB (the cache's capacity and rate: `effective_cache`), the executor's fixed
    costs and the GEMM and elementwise curves, every figure once a round (`in_rounds`), and
    again where its rounds disagree; record the load average it was taken under."""
    load = load_average()
    executor: list[tuple[float, float]] = []
    itemsize = np.dtype(dtype).itemsize

    def per_product() -> float:
        executor.append(executor_costs(dtype))
        return executor[-1][0]

    figures: dict[str, Callable[[], float]] = {
        "gemm_gflops": lambda: gemm_rate(dtype, gemm_size, gemm_size, repeats),
        "stream_gbps": functools.partial(_streaming_gbps, stream_bytes, dtype, repeats),
        "call_s": per_product,
    }
    with blas_threads(threads):
        info = blas_info()
    threaded_from = threaded_gemv_from(info.library, info.threads)
    for size in CAPACITY_SWEEP:
        figures[f"stream_curve[{size}]"] = functools.partial(_streaming_gbps, size, dtype, repeats)
        if threaded_from:  # products of fewer entries stream on one thread: their own sweep
            figures[f"stream_curve_one[{size}]"] = functools.partial(_one_thread_gbps, size, dtype, repeats)
    for rows in GEMM_CURVE_SIZES:
        figures[f"gemm_curve[{rows}]"] = functools.partial(gemm_rate, dtype, rows, gemm_size, repeats)
        figures[f"gemm_curve_narrow[{rows}]"] = functools.partial(gemm_rate, dtype, rows, gemm_size, repeats, True)
    for rows in SMALL_CURVE_SIZES:
        figures[f"small_curve[{rows}]"] = functools.partial(small_rate, dtype, rows, repeats)
        figures[f"small_curve_narrow[{rows}]"] = functools.partial(small_rate, dtype, rows, repeats, True)
    for size in ELEMENTWISE_BYTES:
        figures[f"elementwise_curve[{size}]"] = functools.partial(elementwise_rate, dtype, size, repeats)
    with blas_threads(threads):
        values, unsettled = in_rounds(figures)
    streamed = _matrix_side(stream_bytes, dtype) ** 2 * itemsize
    gemm, stream_gbps, call_s = (values[name] for name in ("gemm_gflops", "stream_gbps", "call_s"))
    swept = {size: values[f"stream_curve[{size}]"] for size in CAPACITY_SWEEP}
    one = tuple((size, values[f"stream_curve_one[{size}]"]) for size in CAPACITY_SWEEP) if threaded_from else ()
    cache_bytes, cache_gbps = effective_cache(swept, stream_gbps, threaded_from * itemsize)
    run_s = float(np.median([run for _, run in executor]))
    curves = {
        name: tuple((rows, values[f"{name}[{rows}]"]) for rows in sizes)
        for names, sizes in ((GEMM_CURVES, GEMM_CURVE_SIZES), (SMALL_CURVES, SMALL_CURVE_SIZES))
        for name in names
    }
    elementwise = tuple((size, values[f"elementwise_curve[{size}]"]) for size in ELEMENTWISE_BYTES)
    return Calibration(
        blas=info.library,
        dtype=dtype,
        threads=info.threads,
        gemm_gflops=gemm,
        stream_gbps=stream_gbps,
        gemm_size=gemm_size,
        stream_bytes=streamed,
        measured_at=time.time(),
        cache_gbps=cache_gbps,
        cache_bytes=cache_bytes,
        call_s=call_s,
        run_s=run_s,
        **curves,
        elementwise_curve=elementwise,
        load_average=load,
        cores=usable_cores(),
        unsettled=tuple(unsettled),
        stream_curve=tuple((size, swept[size]) for size in CAPACITY_SWEEP),
        stream_curve_one=one,
        threaded_from=threaded_from,
    )


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    if (
        not isinstance(data, dict)
        or data.get("schema_version") != CACHE_SCHEMA
        or not isinstance(data.get("entries"), dict)
    ):
        return {}
    entries: dict[str, Any] = data["entries"]
    return entries


def store(calibration: Calibration, path: Path | None = None) -> Path:
    """Add these figures to the cache (atomically); an unwritable cache is a JacchainError."""
    path = path or cache_path()
    entries = _read_cache(path)
    entries[calibration.key] = calibration.to_dict()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise JacchainError(f"cannot write the calibration cache {path}: {error.strerror or error}") from None
    write_atomic(
        path, json.dumps({"schema_version": CACHE_SCHEMA, "entries": entries}, indent=2, sort_keys=True) + "\n"
    )
    return path


def from_entry(entry: Any) -> Calibration | None:
    """The Calibration of a cache entry, or None when it is malformed or implausible (then the
    machine is measured again and the entry replaced)."""
    if not isinstance(entry, dict):
        return None
    try:
        curves = {
            name: entry.get(name, ())
            for name in (*GEMM_CURVES, *SMALL_CURVES, "elementwise_curve", "stream_curve", "stream_curve_one")
        }
        unsettled = entry.get("unsettled", ())
        calibration = Calibration(
            **dict(
                entry,
                **{name: tuple(tuple(point) for point in curve) for name, curve in curves.items()},
                unsettled=tuple(unsettled),
            )
        )
        for name in ("blas", "dtype"):
            if not isinstance(getattr(calibration, name), str):
                return None
        return None if calibration.problems() else calibration
    except (TypeError, ValueError):
        return None


def cached(dtype: str, threads: int | None = None, path: Path | None = None) -> Calibration | None:
    """The stored calibration for this BLAS, dtype and thread count, if a plausible one exists."""
    with blas_threads(threads):
        info = blas_info()
    return from_entry(_read_cache(path or cache_path()).get(calibration_key(info.library, dtype, info.threads)))


def load_or_measure(dtype: str, threads: int | None = None) -> Calibration | None:
    """The cached figures, else measured now and cached; None when the measurement is not
    plausible (it is then neither used nor cached)."""
    found = cached(dtype, threads)
    if found is not None:
        return found
    calibration = measure(dtype, threads)
    if calibration.problems():
        return None
    with contextlib.suppress(JacchainError):  # an unwritable cache still gets its numbers, just not cached
        store(calibration)
    return calibration


def calibrate(dtype: str = "float64", threads: int | None = None) -> CalibrationRun:
    """Measure now and cache the figures (the `calibrate` command)."""
    calibration = measure(dtype, threads)
    problems = calibration.problems()
    if problems:
        raise JacchainError(
            f"the calibration is not plausible ({'; '.join(problems)}); nothing was cached: "
            "run `jacchain calibrate` again when the machine is idle"
        )
    return CalibrationRun(calibration, store(calibration))


def calibration_bytes(dtype: str, gemm_size: int = 1024, stream_bytes: int = STREAM_BYTES) -> int:
    """The most measure() holds at once: the largest of its figures' arrays, which each figure
    makes and frees in turn (a streamed matrix with its row and result; a GEMM's operands and
    result; a scaled matrix with its diagonal and result).

    >>> round(calibration_bytes("float64") / 2**20)
    256
    """

    def streamed(n_bytes: int) -> int:
        side = _matrix_side(n_bytes, dtype)
        return side * side + 2 * side

    def product(rows: int, narrow: bool = False) -> int:  # the square, the other operand (unless a view), the result
        return gemm_size * gemm_size + rows * gemm_size * (2 if narrow or rows > gemm_size else 1)

    def scaled(n_bytes: int) -> int:
        side = max(1, _matrix_side(n_bytes // 2, dtype))
        return 2 * side * side + side

    entries = max(
        *map(streamed, (stream_bytes, *CAPACITY_SWEEP)),
        *map(product, (gemm_size, *GEMM_CURVE_SIZES)),
        *(product(rows, narrow=True) for rows in GEMM_CURVE_SIZES),
        *map(scaled, ELEMENTWISE_BYTES),
    )
    return entries * np.dtype(dtype).itemsize


def calibration_for(
    dtype: str,
    threads: int | None,
    measure_if_missing: bool,
    progress: Progress | None = None,
    max_memory: int | None = None,
) -> Calibration | None:
    """The cached calibration for this dtype and thread count; measured now (once, then
    cached) when there is none and one is wanted, if what measuring holds (calibration_bytes)
    fits in `max_memory` (else in the memory available)."""
    found = cached(dtype, threads)
    if found is None and measure_if_missing:
        check_calibration_fits(dtype, max_memory)
        if progress is not None:
            progress("calibrating this machine (once; then cached)", 0, 1)
        found = load_or_measure(dtype, threads)
    return found


def check_calibration_fits(dtype: str, max_memory: int | None) -> None:
    """Refuse, before anything is allocated, a calibration that would not fit."""
    needed = calibration_bytes(dtype)
    limit = available_bytes() if max_memory is None else max_memory
    check_fits(
        needed,
        limit,
        "calibrating this machine for the time model",
        "run `jacchain calibrate` once (it is cached), or pass --no-time-model",
        "--max-memory limit" if max_memory is not None else "memory available",
    )
