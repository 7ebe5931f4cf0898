"""What each calibration figure times and where `measure` files it: the kernels behind the
figures (with the clock replaced, so that their rates are exact), every figure asked for at
the dtype, sizes, repeats and threads given, and each one read into its own field."""

import contextlib
import math
import time
from dataclasses import replace

import numpy as np
import pytest

from jacchain.errors import JacchainError
from jacchain.run import calibrate, execute
from jacchain.run.calibrate import measure as real_measure  # the fixtures replace the module's
from jacchain.run.timing import BlasInfo, Timing, blas_info, blas_threads
from jacchain.types import Structure


def plausible(**changes):
    figures = {"blas": "b", "dtype": "float64", "threads": 1, "gemm_gflops": 50.0, "stream_gbps": 10.0}
    figures |= {"gemm_size": 1024, "stream_bytes": 2**28, "measured_at": 0.0, "cache_gbps": 40.0}
    return calibrate.Calibration(**figures | changes)


class Clock:
    """Stands in for `time_call`: runs the timed function twice (what it returns each time is
    kept) and reports the next of `medians`."""

    def __init__(self, *medians: float):
        self.medians = list(medians)
        self.runs: list[tuple[object, object]] = []
        self.repeats: list[int | None] = []

    def __call__(self, function, repeats=None, target_s=None):
        self.runs.append((function(), function()))
        self.repeats.append(repeats)
        return Timing(self.medians.pop(0), 0.0, 0.0, repeats or 1)


@pytest.fixture
def matmuls(monkeypatch):
    """The operand and result dtypes of every np.matmul call."""
    seen = []
    real = np.matmul

    def spy(left, right, out=None):
        seen.append((left.dtype, right.dtype, None if out is None else out.dtype))
        return real(left, right, out=out)

    monkeypatch.setattr(np, "matmul", spy)
    return seen


@pytest.mark.parametrize("rows", [3, 40])  # fewer rows than the square's side, and more
@pytest.mark.parametrize("narrow", [False, True])  # the result `rows` rows high, or `rows` columns wide
def test_the_gemm_rate_is_its_product_s_flops_over_its_median_written_in_place(monkeypatch, matmuls, rows, narrow):
    clock = Clock(2e-6)
    monkeypatch.setattr(calibrate, "time_call", clock)
    rate = calibrate.gemm_rate("float32", rows, size=16, repeats=5, narrow=narrow)
    assert rate == pytest.approx(2 * rows * 16 * 16 / 2e-6 / 1e9, rel=1e-12)
    first, second = clock.runs[0]
    assert first is second and first.shape == ((16, rows) if narrow else (rows, 16))  # one result, none timed
    assert np.isfinite(first).all() and clock.repeats == [5]
    assert set(matmuls) == {(np.dtype("float32"),) * 3}


@pytest.mark.parametrize("seconds, tiny, expected", [(19e-6, 1e-6, 18e-6), (19e-6, 18e-6, 19e-6 / 4)])
@pytest.mark.parametrize("rows, narrow", [(100, False), (8, False), (8, True)])
def test_a_small_rate_takes_a_tiny_products_time_out_but_never_more_than_three_quarters(
    monkeypatch, matmuls, seconds, tiny, expected, rows, narrow
):
    clock = Clock(seconds, tiny)
    monkeypatch.setattr(calibrate, "time_call", clock)
    rate = calibrate.small_rate("float32", rows, repeats=3, narrow=narrow)
    assert rate == pytest.approx(2 * rows * 100**2 / expected / 1e9, rel=1e-12)
    (probe, again), (row, _) = clock.runs
    assert probe is again and row.shape == (1, 8)  # written in place
    assert probe.shape == ((100, rows) if narrow else (rows, 100))
    assert clock.repeats == [30, 30] and set(matmuls) == {(np.dtype("float32"),) * 3}


def test_the_elementwise_rate_counts_the_bytes_read_and_written(monkeypatch):
    clock = Clock(1e-6)
    monkeypatch.setattr(calibrate, "time_call", clock)
    # 2**14 bytes read and written: a 45 x 45 float32 matrix (about 8 KiB) scaled into a fresh one
    rate = calibrate.elementwise_rate("float32", 2**14, repeats=6)
    first, second = clock.runs[0]
    assert first.shape == (45, 45) and first.dtype == np.float32 and first is not second
    assert np.isfinite(first).all() and clock.repeats == [6]
    assert rate == pytest.approx(2 * 45 * 45 * 4 / 1e-6 / 1e9, rel=1e-12)
    # the smallest size still scales a matrix (one entry)
    monkeypatch.setattr(calibrate, "time_call", Clock(1e-6))
    assert calibrate.elementwise_rate("float64", 3) == pytest.approx(2 * 8 / 1e-6 / 1e9, rel=1e-12)


def test_the_streaming_rate_takes_a_tiny_product_s_time_out_but_never_more_than_three_quarters(monkeypatch, matmuls):
    clock = Clock(4e-6, 1e-6)
    monkeypatch.setattr(calibrate, "time_call", clock)
    rate, n_bytes = calibrate._streaming_rate(10**6, "float32", 7)
    assert n_bytes == 500 * 500 * 4  # the square matrix of about 10**6 bytes
    assert rate == pytest.approx(n_bytes / 3e-6 / 1e9, rel=1e-12)
    (big, big_again), (tiny, tiny_again) = clock.runs
    assert big is big_again and tiny is tiny_again  # each written in place
    assert big.shape == (1, 500) and tiny.shape == (1, 8) and np.isfinite(big).all()
    assert clock.repeats == [7, 7] and set(matmuls) == {(np.dtype("float32"),) * 3}
    # a call about as long as the product: the transfer is held to a quarter of its time at least
    monkeypatch.setattr(calibrate, "time_call", Clock(4e-6, 3.5e-6))
    assert calibrate._streaming_rate(10**6, "float32", 7)[0] == pytest.approx(n_bytes / 1e-6 / 1e9, rel=1e-12)


def test_the_one_thread_sweep_streams_on_one_thread(monkeypatch):
    asked = []

    @contextlib.contextmanager
    def threads(count, library=None):
        asked.append(count)
        yield

    monkeypatch.setattr(calibrate, "blas_threads", threads)
    monkeypatch.setattr(calibrate, "_streaming_rate", lambda *args: (asked.append(args) or 12.5, 0))
    assert calibrate._one_thread_gbps(2**20, "float32", 9) == 12.5
    assert asked == [1, (2**20, "float32", 9)]


def test_the_executor_probe_runs_its_two_plans_at_the_dtype_asked(monkeypatch):
    shapes = []
    dense = execute._KERNELS[(Structure.DENSE, Structure.DENSE)]

    def counted(left, right):
        shapes.append((left.shape, right.shape, left.dtype, right.dtype))
        return dense(left, right)

    monkeypatch.setitem(execute._KERNELS, (Structure.DENSE, Structure.DENSE), counted)
    probe = calibrate.executor_probe("float32")
    assert probe.calls == calibrate.FOLD_PRODUCTS == (2, 16)
    for run, products in ((probe.shorter, 2), (probe.longer, 16)):
        shapes.clear()
        (result,) = run()
        # a row through `products` matrices: every product a (1 x 8)(8 x 8) one, in float32
        float32 = np.dtype("float32")
        assert shapes == [((1, 8), (8, 8), float32, float32)] * products
        assert result.shape == (1, 8) and result.dtype == float32 and np.isfinite(result).all()


@pytest.fixture
def probes(monkeypatch):
    """The dtypes the executor's probes are made at."""
    made: list[str] = []
    real = calibrate.executor_probe
    monkeypatch.setattr(calibrate, "executor_probe", lambda dtype: made.append(dtype) or real(dtype))
    return made


def test_the_executor_s_costs_come_from_its_probe_timed_alone(monkeypatch, probes):
    clock = Clock(5e-6, 33e-6)
    monkeypatch.setattr(calibrate, "time_call", clock)
    call_s, run_s = calibrate.executor_costs("float32")
    assert probes == ["float32"] and clock.repeats == [400, 400]
    assert (call_s, run_s) == pytest.approx((2e-6, 1e-6), rel=1e-9)  # 28 us over 14 more calls


def test_the_fixed_costs_beside_the_work_are_probed_at_the_work_s_dtype(probes):
    timings, fixed = calibrate.time_with_fixed_costs([lambda: None], "float32", repeats=3)
    assert probes == ["float32"] and [t.repeats for t in timings] == [3] and fixed is not None


def test_rounds_exactly_ten_percent_apart_agree():
    taken = iter([90.0, 100.0, 1000.0, 1000.0, 1000.0])
    found, unsettled = calibrate.in_rounds({"edge": lambda: next(taken)}, rounds=2, most=5)
    assert (found, unsettled) == ({"edge": 95.0}, [])  # no third round: 10 is 10% of 100
    assert next(taken) == 1000.0


def test_the_load_average_is_the_last_minute_s(monkeypatch):
    monkeypatch.setattr(calibrate.os, "getloadavg", lambda: (0.25, 1.5, 3.0))
    assert calibrate.load_average() == 0.25


# Made-up rates, distinct per figure, so that a figure filed under another's name shows.
SWEEP = {2**16 * 2**k: (64.0 - k if k <= 7 else 35.0 - k) for k in range(12)}  # 8 MiB and under: cache
ONE_THREAD = {size: 100.0 + k for k, size in enumerate(SWEEP)}
MEMORY_GBPS = 40.0  # 1.25 x 40 = 50 GB/s: the sizes up to 8 MiB stream from cache


@pytest.fixture
def figures(monkeypatch):
    """Every figure `measure` takes, each made up and recording what it was asked and on how
    many BLAS threads."""
    active: list[int | None] = [None]
    asked: list[tuple] = []

    @contextlib.contextmanager
    def threads(count, library=None):
        active.append(count)
        yield
        active.pop()

    def gemm(dtype, rows, size=1024, repeats=15, narrow=False):
        asked.append(("gemm", dtype, size, repeats, active[-1]))
        return 1000.0 + rows + (2000.0 if narrow else 0.0)

    def streaming(n_bytes, dtype, repeats):
        asked.append(("stream", dtype, repeats, active[-1]))
        if active[-1] == 1:
            return ONE_THREAD[n_bytes], n_bytes
        return SWEEP.get(n_bytes, MEMORY_GBPS), n_bytes

    settling = iter([1.0, 2.0, 4.0, 8.0, 16.0])  # the smallest elementwise figure never settles

    def elementwise(dtype, n_bytes, repeats=15):
        asked.append(("elementwise", dtype, repeats, active[-1]))
        return next(settling) if n_bytes == 2**14 else n_bytes / 2**14

    executor = iter([(3.0e-6, 1e-6), (3.1e-6, 2e-6), (5.0e-6, 9e-6)])

    def executor_costs(dtype):
        asked.append(("executor", dtype, None, active[-1]))
        return next(executor)

    monkeypatch.setattr(calibrate, "blas_threads", threads)
    monkeypatch.setattr(calibrate, "blas_info", lambda: BlasInfo("openblas 0.3.31", active[-1] or 8))

    def small(dtype, rows=100, repeats=15, narrow=False):
        asked.append(("small", dtype, repeats, active[-1]))
        return 70.0 + rows / 10 + (100.0 if narrow else 0.0)

    monkeypatch.setattr(calibrate, "gemm_rate", gemm)
    monkeypatch.setattr(calibrate, "small_rate", small)
    monkeypatch.setattr(calibrate, "_streaming_rate", streaming)
    monkeypatch.setattr(calibrate, "elementwise_rate", elementwise)
    monkeypatch.setattr(calibrate, "executor_costs", executor_costs)
    monkeypatch.setattr(calibrate, "load_average", lambda: 0.75)
    monkeypatch.setattr(calibrate, "usable_cores", lambda: 3)
    return asked


@pytest.mark.parametrize("dtype, cache_gbps", [("float32", 59.0), ("float64", 58.0)])
def test_measure_files_every_figure_under_its_own_name(figures, dtype, cache_gbps):
    before = time.time()
    found = real_measure(dtype, threads=2, gemm_size=256, stream_bytes=3 * 10**6, repeats=4)
    after = time.time()
    itemsize = np.dtype(dtype).itemsize
    side = math.isqrt(3 * 10**6 // itemsize)
    # All on two threads (the one-thread sweep on one), at the dtype, size and repeats asked.
    assert set(figures) == {
        *((kind, dtype, 4, 2) for kind in ("stream", "elementwise", "small")),
        ("stream", dtype, 4, 1),
        ("gemm", dtype, 256, 4, 2),
        ("executor", dtype, None, 2),
    }
    assert before <= found.measured_at <= after
    # OpenBLAS 0.3.31 on two threads streams from 460,800 entries on both: from 1.8 MB in
    # float32 (the 2 MiB matrix, at 59 GB/s) and 3.7 MB in float64 (4 MiB, 58 GB/s), both
    # above a quarter of the 8 MiB cache (2 MiB).
    expected = calibrate.Calibration(
        blas="openblas 0.3.31",
        dtype=dtype,
        threads=2,
        gemm_gflops=1256.0,
        stream_gbps=MEMORY_GBPS,
        gemm_size=256,
        stream_bytes=side * side * itemsize,
        measured_at=found.measured_at,
        cache_gbps=cache_gbps,
        cache_bytes=8 * 2**20,
        call_s=3.1e-6,  # the median of the executor's per-call figures
        run_s=2e-6,  # ... and of its per-run figures
        gemm_curve=((2, 1002.0), (8, 1008.0), (32, 1032.0), (128, 1128.0), (512, 1512.0)),
        gemm_curve_narrow=((2, 3002.0), (8, 3008.0), (32, 3032.0), (128, 3128.0), (512, 3512.0)),
        small_curve=((2, 70.2), (8, 70.8), (32, 73.2), (100, 80.0)),
        small_curve_narrow=((2, 170.2), (8, 170.8), (32, 173.2), (100, 180.0)),
        load_average=0.75,
        cores=3,
        unsettled=("elementwise_curve[16384]",),
        elementwise_curve=((2**14, 4.0), (2**17, 8.0), (2**20, 64.0), (2**23, 512.0), (2**26, 4096.0)),
        stream_curve=tuple(SWEEP.items()),
        stream_curve_one=tuple(ONE_THREAD.items()),
        threaded_from=460_800,
    )
    assert found == expected and found.problems() == []


def test_measure_defaults_to_float64_at_1024_with_fifteen_repeats(figures):
    found = real_measure()
    assert found.dtype == "float64" and found.gemm_size == 1024
    assert {ask[1] for ask in figures} == {"float64"} and {ask[3] for ask in figures if ask[0] == "gemm"} == {15}
    assert {ask[2] for ask in figures if ask[0] == "gemm"} == {1024}


def test_a_cached_calibration_is_used_as_it_is_and_a_missing_one_measured_and_cached(monkeypatch, tmp_path):
    monkeypatch.setenv("JACCHAIN_CACHE_DIR", str(tmp_path))
    with blas_threads(1):
        library = blas_info().library
    kept = plausible(blas=library, threads=1, call_s=7e-6)
    calibrate.store(kept)
    asked = []
    fresh = plausible(blas=library, dtype="float32", threads=1, gemm_gflops=90.0)
    monkeypatch.setattr(calibrate, "measure", lambda *args: asked.append(args) or fresh)
    assert calibrate.load_or_measure("float64", 1) == kept and asked == []
    assert calibrate.load_or_measure("float32", 1) == fresh and asked == [("float32", 1)]
    assert calibrate.cached("float32", 1) == fresh  # and cached for the next run
    # a measurement that is not plausible is neither used nor cached
    monkeypatch.setattr(calibrate, "measure", lambda *args: replace(fresh, dtype="float16", gemm_gflops=0.0))
    assert calibrate.load_or_measure("float16", 1) is None and calibrate.cached("float16", 1) is None


def test_calibrate_names_every_problem_and_defaults_to_float64(monkeypatch, tmp_path):
    monkeypatch.setenv("JACCHAIN_CACHE_DIR", str(tmp_path))
    asked = []
    busy = plausible(gemm_gflops=0.0, cache_gbps=-1.0)
    monkeypatch.setattr(calibrate, "measure", lambda *args: asked.append(args) or busy)
    with pytest.raises(JacchainError) as refused:
        calibrate.calibrate()
    assert asked == [("float64", None)]
    assert str(refused.value) == (
        "the calibration is not plausible (gemm_gflops = 0.0; cache_gbps = -1.0); nothing was cached: "
        "run `jacchain calibrate` again when the machine is idle"
    )
    assert list(tmp_path.iterdir()) == []


def test_the_cache_is_written_where_its_folders_do_not_exist_yet(tmp_path):
    path = tmp_path / "a" / "b" / "calibration.json"
    good = plausible()
    assert calibrate.store(good, path) == path
    assert calibrate.from_entry(calibrate._read_cache(path)[good.key]) == good


def test_an_uncreatable_cache_folder_is_named_with_the_system_s_reason(tmp_path):
    (tmp_path / "file").write_text("")
    path = tmp_path / "file" / "sub" / "calibration.json"
    good = plausible()
    with pytest.raises(JacchainError) as refused:
        calibrate.store(good, path)
    assert str(refused.value) == f"cannot write the calibration cache {path}: Not a directory"


def test_the_calibration_s_footprint_is_refused_against_the_memory_available(monkeypatch):
    monkeypatch.setattr(calibrate, "available_bytes", lambda: 10**6)
    needed = calibrate.calibration_bytes("float32")
    assert needed == (math.isqrt(2**28 // 4) ** 2 + 2 * math.isqrt(2**28 // 4)) * 4  # the memory stream's
    with pytest.raises(JacchainError) as refused:
        calibrate.check_calibration_fits("float32", None)
    from jacchain.cost.memory import human_bytes

    assert str(refused.value) == (
        f"calibrating this machine for the time model needs about {human_bytes(needed)} of memory, over the "
        f"memory available of {human_bytes(10**6)}; run `jacchain calibrate` once (it is cached), "
        "or pass --no-time-model"
    )


def test_a_large_square_gemm_can_set_the_calibration_s_footprint():
    # (5000 x 5000)(5000 x 5000) into a fresh result's worth of rows: 2 x 25 million entries,
    # more than the 256 MiB memory stream's 33.6 million
    assert calibrate.calibration_bytes("float64", gemm_size=5000) == 2 * 5000 * 5000 * 8
