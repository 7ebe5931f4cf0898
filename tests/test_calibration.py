"""Honest calibrations (issue 10): implausible figures are refused, malformed cache entries are
measured again, unwritable caches do not break a run, and doubtful figures are flagged."""

import json
import math
import time
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from jacchain.cli import cli
from jacchain.cost.machine import STALE_DAYS, Calibration
from jacchain.cost.memory import human_bytes
from jacchain.jobs.analyze import measure_peak
from jacchain.run.calibrate import CACHE_SCHEMA, cache_path, cached, calibration_bytes, from_entry, store
from jacchain.run.calibrate import measure as real_measure  # the fixtures replace the module's
from jacchain.run.timing import blas_info

GOOD = Calibration(
    blas="openblas",
    dtype="float64",
    threads=1,
    gemm_gflops=50.0,
    stream_gbps=10.0,
    gemm_size=1024,
    stream_bytes=2**28,
    measured_at=time.time(),
    cache_gbps=40.0,
    cache_bytes=2**20,
    call_s=1e-6,
    gemm_curve=((2, 2.0), (8, 8.0), (32, 25.0), (128, 40.0), (512, 48.0)),
    gemm_curve_narrow=((2, 3.0), (8, 11.0), (32, 30.0), (128, 44.0), (512, 49.0)),
    small_curve=((2, 20.0), (8, 30.0), (32, 34.0), (100, 35.0)),
    small_curve_narrow=((2, 15.0), (8, 28.0), (32, 36.0), (100, 35.0)),
    run_s=2e-6,
    load_average=0.1,
    cores=2,
    stream_curve=((2**20, 40.0), (2**21, 39.0), (2**22, 12.0)),
)


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("JACCHAIN_CACHE_DIR", str(tmp_path))
    return tmp_path


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_plausible_figures_have_no_problems_and_no_notes():
    assert GOOD.problems() == [] and GOOD.notes(time.time()) == []


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"gemm_gflops": 0.0}, "gemm_gflops = 0.0"),
        ({"stream_gbps": math.nan}, "stream_gbps = nan"),
        ({"cache_gbps": -3.0}, "cache_gbps = -3.0"),
        ({"call_s": math.inf}, "call_s = inf"),
        # A busy machine: every product took the same time, so the rate grew with the rows.
        ({"gemm_curve": tuple((rows, rows * 0.1) for rows in (2, 8, 32, 128, 512))}, "do not grow"),
        ({"gemm_curve": ((2, 40.0), (8, 8.0))}, "not increasing"),
        ({"gemm_curve": ((8, 2.0), (2, 8.0))}, "rows are not increasing"),
        # the narrow-result curve is held to the same rules, under its own name
        ({"gemm_curve_narrow": tuple((s, s * 0.1) for s in (2, 8, 32))}, "narrow-result GEMM curve's times do not"),
        ({"gemm_curve_narrow": ((2, 40.0), (8, 8.0))}, "the narrow-result GEMM curve is not increasing"),
        ({"gemm_curve_narrow": ((8, 2.0), (2, 8.0))}, "gemm_curve_narrow columns are not increasing"),
        ({"gemm_curve_narrow": ((2, -1.0),)}, "gemm_curve_narrow = ((2, -1.0),) is not a list of (columns, positive"),
        # ... and so are the small-product curves, but for falling: a BLAS may thread the larger
        # products, which on a busy second core can run slower than the smaller ones on one
        ({"small_curve": tuple((s, s * 0.1) for s in (2, 8, 32, 100))}, "small-product curve's times do not"),
        ({"small_curve_narrow": ((8, 2.0), (2, 8.0))}, "small_curve_narrow columns are not increasing"),
        ({"small_curve": ((2, -1.0),)}, "small_curve = ((2, -1.0),) is not a list of (rows, positive"),
        # 10 GB/s streaming a float64 matrix is 2.5 GFLOP/s; a GEMM cannot be slower.
        ({"gemm_gflops": 2.0, "gemm_curve": ()}, "below the streaming rate"),
    ],
)
def test_implausible_figures_are_named(change, problem):
    problems = replace(GOOD, **change).problems()
    assert problems and problem in problems[0]


def test_a_falling_small_product_curve_is_plausible():
    # float64 on OpenBLAS's Haswell kernels and two threads here: the square, threaded, fell
    falling = replace(GOOD, small_curve=((2, 7.0), (8, 18.0), (32, 29.0), (100, 17.0)))
    assert falling.problems() == []
    as_gemm = replace(GOOD, gemm_curve=falling.small_curve)
    assert as_gemm.problems() == ["the GEMM curve is not increasing: 7, 18, 29, 17 GFLOP/s"]


def test_stale_loaded_or_unsettled_figures_are_noted():
    doubtful = replace(
        GOOD, measured_at=time.time() - (STALE_DAYS + 5) * 86400, load_average=3.0, unsettled=("stream_gbps",)
    )
    notes = doubtful.notes(time.time())
    assert notes[0] == f"it is {STALE_DAYS + 5} days old"
    assert notes[1] == "it was taken under load (load average 3.00 on 2 core(s))"
    assert notes[2] == "stream_gbps did not settle within 10%"


def test_the_notes_keep_to_their_bounds():
    now = time.time()
    month = STALE_DAYS * 86400
    assert replace(GOOD, measured_at=now - month).notes(now) == []  # exactly thirty days: not yet stale
    assert replace(GOOD, measured_at=now - month - 1).notes(now) == [f"it is {STALE_DAYS} days old"]
    # half a runnable task per core: 2.0 on four cores is not "under load", 2.01 is
    assert replace(GOOD, load_average=2.0, cores=4).notes(now) == []
    assert replace(GOOD, load_average=2.01, cores=4).notes(now) == [
        "it was taken under load (load average 2.01 on 4 core(s))"
    ]
    assert replace(GOOD, unsettled=("call_s", "stream_gbps")).notes(now) == [
        "call_s, stream_gbps did not settle within 10%"
    ]


@pytest.mark.parametrize(
    "library, threads, entries",
    [
        ("openblas 0.3.26 (Haswell)", 2, 460_800),  # the first version with the new rule
        ("openblas 0.3.25.dev (Haswell)", 4, 9_216),
        ("openblas 0.3.31", 1, 0),  # one thread: nothing to switch
    ],
)
def test_the_openblas_version_sets_where_gemv_goes_threaded(library, threads, entries):
    from jacchain.run.calibrate import threaded_gemv_from

    assert threaded_gemv_from(library, threads) == entries


def test_the_cache_s_bounds_are_inclusive():
    from jacchain.run.calibrate import effective_cache

    # exactly 1.25 x memory's 16 GB/s still streams from cache
    assert effective_cache({1: 20.0, 2: 20.0, 4: 19.9}, 16.0) == (2, 20.0)
    # the first size the BLAS streams on all threads, read where it equals that size, even at
    # the capacity itself
    rates = {1: 30.0, 2: 31.0, 4: 32.0, 8: 33.0, 16: 10.0}
    assert effective_cache(rates, 10.0, threaded_from=4) == (8, 32.0)
    assert effective_cache(rates, 10.0, threaded_from=8) == (8, 33.0)


@pytest.mark.parametrize(
    "entry",
    [
        [1, 2, 3],
        "fast",
        {"gemm_gflops": 1.0},
        GOOD.to_dict() | {"gemm_gflops": 0},
        GOOD.to_dict() | {"gemm_curve": [[2, "x"]]},
        GOOD.to_dict() | {"gemm_curve": 7},
        GOOD.to_dict() | {"gemm_curve_narrow": [[2, 0.0]]},
        GOOD.to_dict() | {"stream_curve": [[2**20, -1.0]]},
        GOOD.to_dict() | {"blas": 3},
        GOOD.to_dict() | {"surprise": 1},
    ],
)
def test_a_malformed_cache_entry_is_ignored(entry):
    assert from_entry(entry) is None


def test_a_good_entry_round_trips_through_the_cache(tmp_path):
    path = tmp_path / "calibration.json"
    info = blas_info()
    calibration = replace(GOOD, blas=info.library, threads=info.threads, unsettled=("call_s",))
    store(calibration, path)
    assert json.loads(path.read_text())["schema_version"] == CACHE_SCHEMA
    assert cached("float64", path=path) == calibration


def _write_bad_entry():
    info = blas_info()
    key = f"{info.library}|float64|{info.threads}"
    entry = replace(GOOD, blas=info.library, threads=info.threads, gemm_gflops=-1.0).to_dict()
    cache_path().parent.mkdir(parents=True, exist_ok=True)
    cache_path().write_text(json.dumps({"schema_version": CACHE_SCHEMA, "entries": {key: entry}}))


def test_analyze_measures_again_over_an_implausible_cache_entry(private_cache):
    _write_bad_entry()
    result = invoke("analyze", "16,8,4", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["orders"]["loss_first"]["predicted_time_s"] > 0
    assert cached("float64") is not None  # the entry was replaced by a plausible one


def test_an_unwritable_cache_does_not_stop_analyze_but_stops_calibrate(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("JACCHAIN_CACHE_DIR", str(blocker / "cache"))
    assert invoke("analyze", "16,8,4", "--format", "json").exit_code == 0
    result = invoke("calibrate")
    assert result.exit_code == 2
    assert result.output.startswith("Error: cannot write the calibration cache") and result.output.count("\n") == 1
    assert blocker.read_text() == "a file where the cache folder should be"


def test_calibrate_refuses_an_implausible_measurement_and_caches_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("JACCHAIN_CACHE_DIR", str(tmp_path))
    busy = replace(GOOD, gemm_curve=tuple((rows, rows * 0.1) for rows in (2, 8, 32, 128, 512)))
    monkeypatch.setattr("jacchain.run.calibrate.measure", lambda *args, **kwargs: busy)
    result = invoke("calibrate")
    assert result.exit_code == 2 and "not plausible" in result.output and "idle" in result.output
    assert list(tmp_path.iterdir()) == []


def test_analyze_says_when_the_calibration_is_stale(private_cache):
    info = blas_info()
    old = replace(GOOD, blas=info.library, threads=info.threads, measured_at=time.time() - 90 * 86400)
    store(old)
    result = invoke("analyze", "16,8,4")
    assert result.exit_code == 0
    assert "note: the calibration behind these predictions looks doubtful: it is 90 days old" in result.output
    assert "jacchain calibrate --dtype float64" in result.output


def test_analyze_says_when_every_order_misses_its_prediction_the_same_way(private_cache):
    info = blas_info()
    fast = replace(
        GOOD,
        blas=info.library,
        threads=info.threads,
        gemm_gflops=5e4,
        stream_gbps=1e4,
        cache_gbps=4e4,
        call_s=1e-9,
        gemm_curve=tuple((rows, rate * 1000) for rows, rate in GOOD.gemm_curve),
        stream_curve=tuple((size, rate * 1000) for size, rate in GOOD.stream_curve),
    )
    assert fast.problems() == []
    store(fast)  # a machine whose rates are a thousand times this one's
    # wide enough that the rates, not the fixed costs (timed beside the orders), price every order
    result = invoke("analyze", "512,512,512")
    assert result.exit_code == 0
    assert "than predicted; the machine has changed since it was calibrated" in result.output


def test_the_cache_is_measured_where_streaming_stops_being_faster(monkeypatch):
    """The cache's capacity and rate come from how fast matrices of 64 KiB to 128 MiB stream,
    not from what the system says its caches are (a virtual machine can say 480 MiB)."""
    from jacchain.run import calibrate

    def streaming(n_bytes, dtype, repeats):  # 40 GB/s up to 8 MiB, then memory's 20
        return (40.0 if n_bytes <= 8 * 2**20 else 20.0), n_bytes

    monkeypatch.setattr(calibrate, "_streaming_rate", streaming)
    monkeypatch.setattr(
        calibrate, "gemm_rate", lambda dtype, rows, size=1024, repeats=15, narrow=False: 2.0 * rows**0.5
    )
    monkeypatch.setattr(calibrate, "elementwise_rate", lambda dtype, n_bytes, repeats=15: 5.0)
    monkeypatch.setattr(calibrate, "small_rate", lambda dtype, rows=100, repeats=15, narrow=False: 30.0)
    monkeypatch.setattr(calibrate, "executor_costs", lambda dtype: (3e-6, 1e-6))
    found = real_measure("float64")
    assert (found.cache_bytes, found.cache_gbps, found.stream_gbps) == (8 * 2**20, 40.0, 20.0)
    assert found.problems() == []
    # no size streams faster than memory: the smallest swept is all the cache there is
    monkeypatch.setattr(calibrate, "_streaming_rate", lambda n_bytes, dtype, repeats: (20.0, n_bytes))
    assert real_measure("float64").cache_bytes == calibrate.CAPACITY_SWEEP[0] == 2**16


@pytest.mark.parametrize(
    "library, threads, rate, one_thread",
    [
        ("openblas 0.3.31.188.0 (SkylakeX)", 2, 40.0, 460_800),  # 4 MiB: the first size on both threads
        ("openblas 0.3.31.188.0 (SkylakeX)", 1, 20.0, 0),  # one thread at every size: a quarter of the cache
        ("mkl 2026.2", 2, 20.0, 0),  # its rule not known here: a quarter of the cache
    ],
)
def test_the_cache_rate_is_read_where_the_blas_streams_on_all_its_threads(
    monkeypatch, library, threads, rate, one_thread
):
    """OpenBLAS streams a float64 matrix of under 460,800 entries (3.5 MiB) on one thread: the
    2 MiB matrix at a quarter of an 8 MiB cache measures one core's rate, which is not the rate
    of the products the BLAS runs on all its threads. Where the BLAS does that, the sweep is
    measured on one thread too, for the products it streams there."""
    from jacchain.run import calibrate
    from jacchain.run.timing import BlasInfo

    swept = {1: 30.0, 2: 20.0, 4: 40.0, 8: 38.0, 16: 15.0, 32: 15.0, 64: 15.0, 128: 15.0, 256: 15.0}

    def streaming(n_bytes, dtype, repeats):
        return swept[max(n_bytes // 2**20, 1)], n_bytes

    monkeypatch.setattr(calibrate, "_streaming_rate", streaming)
    monkeypatch.setattr(
        calibrate, "gemm_rate", lambda dtype, rows, size=1024, repeats=15, narrow=False: 2.0 * rows**0.5
    )
    monkeypatch.setattr(calibrate, "elementwise_rate", lambda dtype, n_bytes, repeats=15: 5.0)
    monkeypatch.setattr(calibrate, "small_rate", lambda dtype, rows=100, repeats=15, narrow=False: 30.0)
    monkeypatch.setattr(calibrate, "executor_costs", lambda dtype: (3e-6, 1e-6))
    monkeypatch.setattr(calibrate, "blas_info", lambda: BlasInfo(library, threads))
    found = real_measure("float64")
    assert (found.cache_bytes, found.cache_gbps, found.stream_gbps) == (8 * 2**20, rate, 15.0)
    assert found.stream_curve == tuple((size, swept[max(size // 2**20, 1)]) for size in calibrate.CAPACITY_SWEEP)
    assert found.threaded_from == one_thread
    assert found.stream_curve_one == (found.stream_curve if one_thread else ())
    assert found.problems() == []


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_calibration_holds_what_calibration_bytes_says(dtype):
    # the figure --max-memory is held to before the machine is measured (1 MiB for Python's own
    # objects: the timings' samples); 0.3 s of it, the figures measured once each
    peak = measure_peak(lambda: real_measure(dtype, repeats=1))
    assert 0.99 * calibration_bytes(dtype) <= peak <= calibration_bytes(dtype) + 2**20


@pytest.mark.parametrize(
    "command", [["analyze", "64,32,10"], ["sweep", "64,32,10", "--vary", "input=8:16", "--points", "2"]]
)
def test_a_calibration_past_max_memory_is_refused_before_it_measures(command, monkeypatch, private_cache):
    # nothing cached yet (the session's cache may hold a calibration from any test before)
    measured = []
    monkeypatch.setattr("jacchain.run.calibrate.measure", lambda *args, **kwargs: measured.append(1))
    result = invoke(*command, "--max-memory", "100MB")
    assert result.exit_code == 2 and not measured
    needed, limit = human_bytes(calibration_bytes("float64")), human_bytes(100 * 10**6)
    assert result.stderr.strip().splitlines() == [
        f"Error: calibrating this machine for the time model needs about {needed} of memory, over the "
        f"--max-memory limit of {limit}; run `jacchain calibrate` once (it is cached), or pass --no-time-model"
    ]
    assert invoke(*command, "--max-memory", "100MB", "--no-time-model").exit_code == 0
    assert not measured


def test_a_chain_s_calibration_past_max_memory_is_refused_too(monkeypatch, private_cache):
    monkeypatch.setattr("jacchain.run.calibrate.measure", lambda *args, **kwargs: pytest.fail("measured"))
    config = Path(__file__).parent.parent / "configs" / "jcdp-example.yaml"
    result = invoke("analyze", config, "--max-memory", "100MB")
    assert result.exit_code == 2 and "calibrating this machine" in result.stderr
