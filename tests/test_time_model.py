"""Calibration and the time model: output, caching, hand-computed predictions, --cost time."""

import csv
import functools
import io
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from jacchain.chain.factors import chain_of_dims
from jacchain.cli import cli
from jacchain.cost.machine import Calibration
from jacchain.cost.plan_cost import plan_cost
from jacchain.cost.product import product_count
from jacchain.cost.time_model import TimeObjective, plan_time, product_time
from jacchain.jobs.analyze import analyze
from jacchain.model.spec import make_spec
from jacchain.planners.dp import optimal_plan, solve_chain
from jacchain.planners.folds import left_fold
from jacchain.run import calibrate
from jacchain.run.calibrate import cache_path, cached, store
from jacchain.run.timing import blas_info
from jacchain.types import Structure

DENSE, DIAGONAL = Structure.DENSE, Structure.DIAGONAL
FAKE = {
    "blas": "test",
    "dtype": "float64",
    "threads": 1,
    "gemm_gflops": 100.0,
    "stream_gbps": 10.0,
    "gemm_size": 1024,
    "stream_bytes": 2**28,
    "measured_at": 0.0,
    "cache_gbps": 40.0,
    "cache_bytes": 2**20,
    "call_s": 1e-6,
}


@pytest.mark.machine
def test_calibrate_measures_this_machine():
    """Opt-in (pytest -m machine): the one test that times this machine's BLAS."""
    result = CliRunner().invoke(cli, ["calibrate", "--format", "json", "--threads", "1"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    info = blas_info()
    assert (data["blas"], data["threads"]) == (info.library, 1)
    # A GEMM beats streaming a matrix once per entry, and the curve rises with the row count.
    assert data["gemm_gflops"] > data["stream_gbps"] / 8
    for curve in ("gemm_curve", "gemm_curve_narrow"):
        rates = [rate for _, rate in data[curve]]
        assert rates[-1] > rates[0]
    # a 100^3 product, packed or not, runs above the curve's fewest rows (a 1024^2 operand packed)
    assert data["small_curve"][-1][1] > data["gemm_curve"][0][1]
    assert data["small_curve"][-1][0] == data["small_curve_narrow"][-1][0] == 100


def test_calibrate_json_is_cached_and_analyze_predicts_with_it(fake_figures):
    result = CliRunner().invoke(cli, ["calibrate", "--format", "json", "--threads", "1"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["gemm_gflops"] == fake_figures["gemm_gflops"] and data["threads"] == 1
    assert Path(data["cache"]) == cache_path() and cache_path().is_file()
    found = cached("float64", threads=1)
    assert found is not None and json.loads(json.dumps(found.to_dict())) == {
        key: value for key, value in data.items() if key not in ("cache", "schema_version")
    }
    output = CliRunner().invoke(cli, ["analyze", "64,32,8", "--threads", "1", "--repeats", "1", "--format", "json"])
    analysis = json.loads(output.output)
    assert analysis["calibration"]["gemm_gflops"] == fake_figures["gemm_gflops"]
    products = plan_cost(left_fold(3), chain_of_dims([1, 8, 32, 64])).products
    # the cached rates, with the executor's fixed costs timed beside the orders in this run
    fixed = analysis["fixed_costs"]
    assert fixed["call_s"] > 0 and fixed["call_s"] != found.call_s
    timed = replace(found, call_s=fixed["call_s"], run_s=fixed["run_s"])
    assert analysis["orders"]["loss_first"]["predicted_time_s"] == pytest.approx(plan_time(products, timed, 8))


def test_the_analysis_footer_gives_the_gemm_curve_the_model_reads_not_the_square_rate(fake_figures):
    # the fake calibration's square GEMM runs at 50 GFLOP/s and its curve at 2-48: a dense
    # product is priced off the curve, so the footer gives the curve's range
    assert CliRunner().invoke(cli, ["calibrate"]).exit_code == 0
    output = CliRunner().invoke(cli, ["analyze", "64,32,8", "--repeats", "1"], env={"COLUMNS": "400"}).output
    (line,) = [line for line in output.splitlines() if line.startswith("time model per product:")]
    assert "max(FLOPs / 2.0-48.0 GFLOP/s, the GEMM curve read at the product's shape; bytes / " in line
    assert "50.0 GFLOP/s" not in line


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
def test_calibrate_in_every_other_format(fmt):
    result = CliRunner().invoke(cli, ["calibrate", "--format", fmt, "--dtype", "float32"])
    assert result.exit_code == 0, result.output
    if fmt == "csv":
        (row,) = list(csv.DictReader(io.StringIO(result.output)))
        assert (row["dtype"], float(row["gemm_gflops"]), float(row["call_s"])) == ("float32", 50.0, 1e-6)
    else:
        bullet = "- " if fmt == "markdown" else ""
        lines = result.output.splitlines()
        assert lines[1] == f"{bullet}matrix multiply (1024^3): 50.0 GFLOP/s"
        assert lines[2] == f"{bullet}(s x 1024)(1024 x 1024), GFLOP/s by s: 2 2.0, 8 8.0, 32 25.0, 128 40.0, 512 48.0"
        assert lines[5] == f"{bullet}fixed cost per product, as the executor runs them: 1.00 us; per run: 0.00 us"
        assert lines[6] == (
            f"{bullet}numpy scaling rows (structured products), GB/s by bytes moved: "
            "16.00 KiB 4.0, 1.00 MiB 8.0, 64.00 MiB 5.0"
        )
        assert lines[7] == f"{bullet}cached in {cache_path()}"


@pytest.mark.parametrize("measured", [False, True])  # the small-product curves not measured, or measured
def test_calibrate_shows_both_gemm_curves_and_the_small_curves_and_analyze_reads_them(monkeypatch, measured):
    narrow, faked = ((2, 30.0), (512, 60.0)), calibrate.measure  # the fake figures, this test's added
    small = {"small_curve": ((2, 40.0), (100, 75.0)), "small_curve_narrow": ((2, 35.0), (100, 70.0))}

    def measure(*args, **kwargs):
        return replace(faked(*args, **kwargs), gemm_curve_narrow=narrow, **(small if measured else {}))

    monkeypatch.setattr(calibrate, "measure", measure)
    lines = CliRunner().invoke(cli, ["calibrate"], env={"COLUMNS": "400"}).output.splitlines()
    assert lines[2:4] == [
        "(s x 1024)(1024 x 1024), GFLOP/s by s: 2 2.0, 8 8.0, 32 25.0, 128 40.0, 512 48.0",
        "(1024 x 1024)(1024 x s), GFLOP/s by s: 2 30.0, 512 60.0",
    ]
    label = "small products, up to 1,000,000 multiply-adds"
    rates = "GFLOP/s by s (the call's time taken out)"
    small_lines = [
        f"{label}: (s x 100)(100 x 100), {rates}: 2 40.0, 100 75.0",
        f"{label}: (100 x 100)(100 x s), {rates}: 2 35.0, 100 70.0",
    ]
    assert lines[4:6] == small_lines if measured else lines[4].startswith("vector-matrix streaming")
    output = CliRunner().invoke(cli, ["analyze", "64,32,8", "--repeats", "1"], env={"COLUMNS": "400"}).output
    (line,) = [line for line in output.splitlines() if line.startswith("time model per product:")]
    top = "75.0" if measured else "60.0"
    or_small = ", or the small-product curves" if measured else ""
    assert (
        f"max(FLOPs / 2.0-{top} GFLOP/s, the GEMM curves (short and narrow results) read at the product's shape{or_small};"
        in line
    )


def test_cost_time_through_the_command_line_picks_the_plan_of_least_predicted_time(fake_figures):
    # Skinny products are slow on this (fake) machine: the DP weighs that against FLOPs.
    spec = ["784,256,8,256,784", "--of", "output", "--analytic", "--format", "json"]
    by_flops = json.loads(CliRunner().invoke(cli, ["analyze", *spec]).output)
    result = CliRunner().invoke(cli, ["analyze", *spec, "--cost", "time"])
    assert result.exit_code == 0, result.output
    by_time = json.loads(result.output)
    assert by_time["cost"] == "time" and by_flops["cost"] == "flops"
    calibration = Calibration(**by_time["calibration"] | {"gemm_curve": fake_figures["gemm_curve"]})
    chain = chain_of_dims([784, 256, 8, 256, 784])
    plan = optimal_plan(chain, TimeObjective(calibration, 8))
    assert by_time["orders"]["optimal"]["predicted_time_s"] == pytest.approx(
        plan_time(plan_cost(plan, chain).products, calibration, 8)
    )
    for order in ("loss_first", "input_first"):
        assert by_time["orders"]["optimal"]["predicted_time_s"] <= by_time["orders"][order]["predicted_time_s"]


def test_a_corrupt_cache_is_ignored_and_rewritten(tmp_path):
    path = tmp_path / "calibration.json"
    path.write_text("{oops")
    assert cached("float64", path=path) is None
    info = blas_info()
    store(Calibration(**{**FAKE, "blas": info.library, "threads": info.threads}), path)
    assert cached("float64", path=path).gemm_gflops == 100.0


def test_product_time_by_hand():
    calibration = Calibration(**FAKE)
    # A 1000^3 GEMM: 2e9 FLOPs at 100 GFLOP/s = 20 ms; its 24 MB would take 2.4 ms: compute-bound.
    big = product_count((1000, 1000, DENSE), (1000, 1000, DENSE))
    assert product_time(big, calibration, 8) == pytest.approx(1e-6 + 0.02)
    # A 1 x 1000 row times a 1000 x 1000 matrix: 8,016,000 bytes > 1 MiB, from memory at 10 GB/s.
    row = product_count((1, 1000, DENSE), (1000, 1000, DENSE))
    assert product_time(row, calibration, 8) == pytest.approx(1e-6 + (1000 + 1_000_000 + 1000) * 8 / 10e9)
    # Small enough to stay in cache: 40 GB/s.
    small = product_count((1, 100, DENSE), (100, 100, DENSE))
    assert product_time(small, calibration, 8) == pytest.approx(1e-6 + (100 + 10_000 + 100) * 8 / 40e9)


def test_the_gemm_curve_prices_its_own_shape_as_measured_and_a_product_small_in_several_dimensions_below_it():
    fast_memory = {**FAKE, "stream_gbps": 10_000.0, "cache_gbps": 10_000.0}  # compute decides
    calibration = Calibration(**fast_memory, gemm_curve=((2, 5.0), (32, 40.0), (512, 60.0)))
    # (32 x 1024)(1024 x 1024) is the curve's own product at 32 rows: 40 GFLOP/s, as measured
    own = product_count((32, 1024, DENSE), (1024, 1024, DENSE))
    assert product_time(own, calibration, 8) == pytest.approx(1e-6 + own.flops / 40e9)
    # (64 x 128)(128 x 64) is read at d, 1/d = 1/64 + 1/128 + 1/64 - 2/1024 (d = 26.9), not at
    # its smallest dimension, 64: between the curve's 2 and 32, log-interpolated
    d = 1 / (1 / 64 + 1 / 128 + 1 / 64 - 2 / 1024)
    rate = 5.0 + (40.0 - 5.0) * math.log(d / 2) / math.log(32 / 2)
    small = product_count((64, 128, DENSE), (128, 64, DENSE))
    assert product_time(small, calibration, 8) == pytest.approx(1e-6 + small.flops / (rate * 1e9))
    at_64 = 40.0 + (60.0 - 40.0) * math.log(64 / 32) / math.log(512 / 32)
    assert rate < at_64 * 0.9  # the smallest dimension's rate would have priced it 1.2x faster


def test_a_product_whose_result_is_narrow_is_priced_off_the_narrow_result_curve_where_one_was_measured():
    """Input-first carries the input's few columns through wide matrices: (m x k)(k x n) with
    n < m. The BLAS runs that shape at its own rate, so it reads the narrow-result curve, at
    the same d as the short one; a short or square result reads the short curve."""
    fast_memory = {**FAKE, "stream_gbps": 10_000.0, "cache_gbps": 10_000.0}  # compute decides
    short_curve, narrow_curve = ((2, 5.0), (32, 40.0), (512, 60.0)), ((2, 12.0), (32, 70.0), (512, 65.0))
    both = Calibration(**fast_memory, gemm_curve=short_curve, gemm_curve_narrow=narrow_curve)
    narrow = product_count((1024, 1024, DENSE), (1024, 32, DENSE))  # the narrow curve's own product
    short = product_count((32, 1024, DENSE), (1024, 1024, DENSE))  # the short curve's own
    square = product_count((64, 128, DENSE), (128, 64, DENSE))  # as many columns as rows: short
    d = 1 / (1 / 64 + 1 / 128 + 1 / 64 - 2 / 1024)
    assert product_time(narrow, both, 8) == pytest.approx(1e-6 + narrow.flops / 70e9)
    assert product_time(short, both, 8) == pytest.approx(1e-6 + short.flops / 40e9)
    square_rate = 5.0 + (40.0 - 5.0) * math.log(d / 2) / math.log(32 / 2)
    assert product_time(square, both, 8) == pytest.approx(1e-6 + square.flops / (square_rate * 1e9))
    # (512 x 256)(256 x 16), what input-first makes of a 16-wide input: the narrow curve at its d
    d = 1 / (1 / 512 + 1 / 256 + 1 / 16 - 2 / 1024)
    wide = product_count((512, 256, DENSE), (256, 16, DENSE))
    wide_rate = 12.0 + (70.0 - 12.0) * math.log(d / 2) / math.log(32 / 2)
    assert product_time(wide, both, 8) == pytest.approx(1e-6 + wide.flops / (wide_rate * 1e9))
    # a calibration without the narrow curve (taken before it was measured) prices both off the short one
    short_only = replace(both, gemm_curve_narrow=())
    assert product_time(narrow, short_only, 8) == pytest.approx(1e-6 + narrow.flops / 40e9)
    # the DP's vectorised pricing reads the same curves, product by product
    objective = TimeObjective(both, 8)
    products = (narrow, short, square, wide)
    dims = tuple(np.array([p.dims[axis] for p in products]) for axis in range(3))
    flops, moved = np.array([p.flops for p in products]), np.array([p.bytes_moved(8) for p in products])
    vectorised = objective.seconds(flops, moved, dims, np.ones(4, dtype=bool), np.zeros(4, dtype=bool))
    assert vectorised == pytest.approx([product_time(p, both, 8) - 1e-6 for p in products], rel=1e-12)


def test_a_product_of_at_most_a_million_multiply_adds_runs_on_the_small_product_curves_where_measured():
    """OpenBLAS runs a product of at most 10^6 multiply-adds through its small-matrix kernels:
    no packing, one thread, whatever its threads. The GEMM curves, whose few-row products pack
    a 1024 x 1024 operand afresh, price them far too slow on one thread; their own curves,
    (s x 100)(100 x 100) and (100 x 100)(100 x s), are read by the same rule on a side of 100."""
    fast_memory = {**FAKE, "stream_gbps": 10_000.0, "cache_gbps": 10_000.0}  # compute decides
    curves = {"gemm_curve": ((2, 5.0), (32, 40.0), (512, 60.0)), "gemm_curve_narrow": ((2, 9.0), (512, 70.0))}
    small = {"small_curve": ((2, 20.0), (32, 60.0), (100, 90.0)), "small_curve_narrow": ((2, 10.0), (32, 50.0))}
    calibration = Calibration(**fast_memory, **curves, **small)
    # 262,144 multiply-adds each, read at 16 (1/d = 1/128 + 1/128 + 1/16 - 2/100 gives 17.2,
    # above the smallest dimension): 3/4 of the way from 2 to 32 in log size on either curve
    narrow = product_count((128, 128, DENSE), (128, 16, DENSE))
    short = product_count((16, 128, DENSE), (128, 128, DENSE))
    limit = product_count((100, 100, DENSE), (100, 100, DENSE))  # 10^6: the square, at 100
    for product, rate in ((narrow, 10.0 + 40.0 * 0.75), (short, 20.0 + 40.0 * 0.75), (limit, 90.0)):
        assert product_time(product, calibration, 8) == pytest.approx(1e-6 + product.flops / (rate * 1e9))
    # small in two dimensions: read below its smallest, where 1/d = 1/8 + 1/64 + 1/100 - 2/100
    two = product_count((8, 64, DENSE), (64, 100, DENSE))
    d = 1 / (1 / 8 + 1 / 64 + 1 / 100 - 2 / 100)
    rate = 20.0 + 40.0 * math.log(d / 2) / math.log(16)
    assert d < 8 and product_time(two, calibration, 8) == pytest.approx(1e-6 + two.flops / (rate * 1e9))
    past = product_count((100, 100, DENSE), (100, 101, DENSE))  # 1,010,000: the GEMM curves
    d = 1 / (1 / 100 + 1 / 100 + 1 / 101 - 2 / 1024)  # 35.8: between the curve's 32 and 512
    rate = 40.0 + (60.0 - 40.0) * math.log(d / 32) / math.log(512 / 32)
    assert product_time(past, calibration, 8) == pytest.approx(1e-6 + past.flops / (rate * 1e9))
    # not measured (a calibration from before them): the GEMM curves price it
    curve_only = replace(calibration, small_curve=(), small_curve_narrow=())
    d = 1 / (1 / 128 + 1 / 128 + 1 / 16 - 2 / 1024)
    narrow_rate = 9.0 + (70.0 - 9.0) * math.log(d / 2) / math.log(512 / 2)
    assert product_time(narrow, curve_only, 8) == pytest.approx(1e-6 + narrow.flops / (narrow_rate * 1e9))
    # one point: every small product at that rate (the rule before, the time-model check's variant)
    square = replace(calibration, small_curve=((100, 90.0),), small_curve_narrow=())
    for product in (narrow, short, two, limit):
        assert product_time(product, square, 8) == pytest.approx(1e-6 + product.flops / 90e9)
    # the DP's vectorised pricing reads the small curves as product_time does, product by product
    products = (narrow, short, two, limit, past)
    dims = tuple(np.array([p.dims[axis] for p in products]) for axis in range(3))
    flops, moved = np.array([p.flops for p in products]), np.array([p.bytes_moved(8) for p in products])
    dense, vector = np.ones(5, dtype=bool), np.zeros(5, dtype=bool)
    vectorised = TimeObjective(calibration, 8).seconds(flops, moved, dims, dense, vector)
    assert vectorised == pytest.approx([product_time(p, calibration, 8) - 1e-6 for p in products], rel=1e-12)
    # a small matrix-vector product stays priced by its bytes, a structured one at numpy's rate
    slow_memory = replace(calibration, stream_gbps=1.0, cache_gbps=1.0, stream_curve=())
    row = product_count((1, 100, DENSE), (100, 100, DENSE))
    assert product_time(row, slow_memory, 8) == pytest.approx(1e-6 + row.bytes_moved(8) / 1e9)
    scaled = product_count((100, 100, DIAGONAL), (100, 100, DENSE))
    assert product_time(scaled, calibration, 8) == product_time(scaled, curve_only, 8)


def test_a_matrix_vector_product_is_priced_by_the_bytes_it_streams():
    """A product whose result is one row or one column runs as BLAS's gemv, streaming its
    matrix once: the GEMM curve's rate at its fewest rows (a gemm, 1.3-3x slower here) does
    not price it. A two-row product still does."""
    calibration = Calibration(**FAKE, gemm_curve=((2, 0.5), (512, 100.0)), stream_curve=((2**16, 40.0), (2**24, 40.0)))
    row = product_count((1, 256, DENSE), (256, 512, DENSE))
    column = product_count((512, 256, DENSE), (256, 1, DENSE))
    for vector in (row, column):
        entries = 256 + 256 * 512 + 512
        assert product_time(vector, calibration, 8) == pytest.approx(1e-6 + entries * 8 / 40e9)
    two_rows = product_count((2, 256, DENSE), (256, 512, DENSE))
    assert product_time(two_rows, calibration, 8) == pytest.approx(1e-6 + 2 * 2 * 256 * 512 / 0.5e9)


def test_a_plan_streams_at_the_rate_where_the_caches_hold_its_whole_pass():
    """The timed repeats of a plan run all its products in turn: a small product's matrix is
    evicted by the large one's before it runs again, so it streams at the rate of the bytes
    the whole pass moves, not of its own."""
    calibration = Calibration(**FAKE, stream_curve=((2**16, 80.0), (2**20, 80.0), (2**21, 20.0), (2**24, 20.0)))
    small = product_count((1, 64, DENSE), (64, 64, DENSE))
    big = product_count((1, 1024, DENSE), (1024, 1024, DENSE))
    small_bytes, big_bytes = (64 + 64 * 64 + 64) * 8, (1024 + 1024 * 1024 + 1024) * 8
    assert product_time(small, calibration, 8) == pytest.approx(1e-6 + small_bytes / 80e9)
    assert plan_time([small], calibration, 8) == pytest.approx(1e-6 + small_bytes / 80e9)
    both = plan_time([small, big], calibration, 8)
    assert both == pytest.approx(2 * 1e-6 + (small_bytes + big_bytes) / 20e9)


def test_a_product_the_blas_streams_on_one_thread_is_priced_on_the_one_thread_sweep():
    """OpenBLAS streams a matrix of fewer than its threshold's entries on one thread."""
    calibration = Calibration(
        **FAKE,
        stream_curve=((2**16, 40.0), (2**24, 40.0)),
        stream_curve_one=((2**16, 25.0), (2**24, 25.0)),
        threaded_from=100_000,
    )
    below = product_count((1, 256, DENSE), (256, 256, DENSE))  # 65,536 entries
    above = product_count((1, 512, DENSE), (512, 512, DENSE))  # 262,144
    assert product_time(below, calibration, 8) == pytest.approx(1e-6 + (256 + 65_536 + 256) * 8 / 25e9)
    assert product_time(above, calibration, 8) == pytest.approx(1e-6 + (512 + 262_144 + 512) * 8 / 40e9)
    without = Calibration(**FAKE, stream_curve=calibration.stream_curve, stream_curve_one=calibration.stream_curve_one)
    assert product_time(below, without, 8) == pytest.approx(1e-6 + (256 + 65_536 + 256) * 8 / 40e9)


def test_the_streaming_rate_is_of_the_transfer_alone(monkeypatch):
    """The sweep's time less a tiny product's: the model adds each product's call once."""
    from jacchain.run import calibrate
    from jacchain.run.timing import Timing

    medians = iter([10e-6, 2e-6, 10e-6, 9e-6])
    monkeypatch.setattr(calibrate, "time_call", lambda function, repeats: Timing(next(medians), 0.0, 0.0, repeats))
    side = int((2**20 / 8) ** 0.5)
    assert calibrate._streaming_rate(2**20, "float64", 3) == (pytest.approx(side * side * 8 / 8e-6 / 1e9), side**2 * 8)
    # a call that measured nearly as long as the product: at most a quarter of it is taken
    assert calibrate._streaming_rate(2**20, "float64", 3)[0] == pytest.approx(side * side * 8 / 2.5e-6 / 1e9)


def test_plan_time_is_the_sum_over_products():
    calibration = Calibration(**FAKE)
    result = analyze(make_spec((50, 40, 30, 20)), analytic=True, calibration=calibration)
    for order in result.orders:
        assert order.predicted_time == pytest.approx(sum(product_time(p, calibration, 8) for p in order.products))


def brute_force_time(chain, calibration, resident=0):
    """Least predicted time over every bracketing, each product priced by product_time (with
    `resident` bytes held by the caches between its repeats)."""

    @functools.cache
    def best(first, last):  # -> (seconds, rows, cols, structure)
        if first == last:
            f = chain.factors[first]
            return 0.0, f.rows, f.cols, f.structure
        options = []
        for cut in range(first, last):
            left_s, m, n, left = best(first, cut)
            right_s, _, k, right = best(cut + 1, last)
            product = product_count((m, n, left), (n, k, right))
            seconds = left_s + right_s + product_time(product, calibration, 8, resident) - calibration.call_s
            options.append((seconds, m, k, product.result_structure))
        return min(options, key=lambda option: option[0])

    return best(0, len(chain) - 1)[0]


@st.composite
def mixed_dims(draw):
    n = draw(st.integers(2, 7))
    diagonal = [draw(st.booleans()) for _ in range(n)]
    dims = [draw(st.integers(1, 400))]
    for index in range(n):
        dims.append(dims[-1] if diagonal[index] else draw(st.integers(1, 400)))
    return dims, diagonal


@settings(max_examples=50, deadline=None)
@given(mixed_dims(), st.sampled_from(["compute", "memory"]))
def test_cost_time_dp_equals_brute_force_over_predicted_time(case, decides):
    # The curve ends at 60 GFLOP/s, below the 100 GFLOP/s square GEMM rate that prices a product
    # with a diagonal operand: the DP once used the curve's end there and drifted from the model.
    # Memory fast, compute decides, as it does for cache-resident products; memory slow (and a
    # cache of 64 KiB), the bytes each product moves decide, from the cache or from memory. The
    # DP prices every product with the caches holding the chain's factors (as `analyze --cost
    # time` runs it), and so does the reference.
    dims, diagonal = case
    rates = (
        {"stream_gbps": 10_000.0, "cache_gbps": 10_000.0}
        if decides == "compute"
        else {"stream_gbps": 0.5, "cache_gbps": 2.0, "cache_bytes": 2**16}
    )
    curves = {"gemm_curve": ((2, 5.0), (32, 40.0), (512, 60.0)), "gemm_curve_narrow": ((2, 9.0), (512, 70.0))}
    small = {"small_curve": ((2, 30.0), (100, 80.0)), "small_curve_narrow": ((2, 12.0), (100, 80.0))}
    calibration = Calibration(**(FAKE | rates), **curves, **small)
    chain = chain_of_dims(dims, diagonal)
    resident = chain.factor_bytes
    objective = TimeObjective(calibration, 8, resident)
    plan, (_, seconds) = optimal_plan(chain, objective), solve_chain(chain, objective)
    products = plan_cost(plan, chain).products
    predicted = sum(product_time(product, calibration, 8, resident) for product in products)
    predicted -= calibration.call_s * len(plan.steps)
    best = brute_force_time(chain, calibration, resident)
    assert predicted == pytest.approx(best, rel=1e-9) and float(seconds) == pytest.approx(best, rel=1e-9)


def test_the_dp_prices_a_diagonal_product_at_the_square_gemm_rate():
    # D (20 x 20, diagonal) times a dense 20 x 30000 block: 600,000 FLOPs; from memory
    # (4.8 MB > 1 MiB) that is 0.48 ms of traffic at 10 GB/s, and 6 us of compute at 100 GFLOP/s.
    calibration = Calibration(**FAKE, gemm_curve=((2, 5.0), (512, 60.0)))
    product = product_count((20, 20, DIAGONAL), (20, 30000, DENSE))
    assert product.flops == 600_000
    entries = 20 + 20 * 30000 + 20 * 30000
    assert product_time(product, calibration, 8) == pytest.approx(1e-6 + max(600_000 / 100e9, entries * 8 / 10e9))


def test_cost_time_needs_a_calibration():
    from jacchain.errors import JacchainError

    with pytest.raises(JacchainError, match="jacchain calibrate"):
        analyze(make_spec((8, 4, 2)), analytic=True, cost="time")


@pytest.mark.parametrize(
    "dims, diagonal",
    [
        ([20, 20, 30000], [True, False]),
        ([300, 300, 300, 50, 50], [True, True, False, True]),
        ([64, 64, 128, 128, 8], [True, False, True, False]),
    ],
)
def test_the_dp_objective_is_the_time_model_on_chains_with_diagonal_factors(dims, diagonal):
    # Fast memory, so that a product with a diagonal operand is compute-bound at the curve's
    # end (60 GFLOP/s) but memory-bound at the square GEMM rate (100 GFLOP/s) the model uses:
    # the DP once priced it at the former.
    calibration = Calibration(
        **{**FAKE, "stream_gbps": 1500.0, "cache_gbps": 1500.0},
        gemm_curve=((2, 5.0), (512, 60.0)),
        gemm_curve_narrow=((2, 9.0), (512, 70.0)),
        small_curve=((2, 30.0), (100, 80.0)),
        small_curve_narrow=((2, 12.0), (100, 80.0)),
    )
    chain = chain_of_dims(dims, diagonal)
    plan, seconds = solve_chain(chain, TimeObjective(calibration, 8))
    modelled = plan_time(plan_cost(plan, chain).products, calibration, 8) - calibration.call_s * len(plan.steps)
    assert seconds == pytest.approx(modelled, rel=1e-12)


def test_a_structured_product_moves_its_bytes_at_numpys_elementwise_rate():
    # (256 x 256 diagonal)(256 x 256 dense), float64: reads 256 + 65,536 entries, writes 65,536.
    moved = (256 + 2 * 256 * 256) * 8
    curve = ((2**14, 2.0), (moved, 8.0), (moved * 2**8, 4.0))
    machine = Calibration(**FAKE, elementwise_curve=curve)
    scale = product_count((256, 256, DIAGONAL), (256, 256, DENSE))
    assert scale.bytes_moved(8) == moved
    # max(65,536 multiplies at 100 GFLOP/s, bytes at 8 GB/s, the curve's own point) + the call
    assert product_time(scale, machine, 8) == pytest.approx(1e-6 + moved / 8e9)
    # halfway between two points (in log bytes) the rate is halfway between their rates
    assert machine.structured_seconds(moved * 2**4) == pytest.approx(moved * 2**4 / 6e9)
    # a dense product still streams at the cache's rate; without a curve a structured one too
    dense = product_count((1, 256, DENSE), (256, 256, DENSE))
    assert product_time(dense, machine, 8) == product_time(dense, Calibration(**FAKE), 8)
    assert product_time(scale, Calibration(**FAKE), 8) == pytest.approx(1e-6 + moved / 10e9)  # past the cache


@pytest.mark.parametrize("curve", [((2**14, 0.0),), ((2**20, 2.0), (2**14, 3.0)), (("x", 2.0),)])
def test_an_implausible_elementwise_curve_is_refused(curve):
    assert Calibration(**FAKE, elementwise_curve=curve).problems()


def test_a_plan_pays_the_run_cost_once_and_the_call_cost_per_product():
    chain = chain_of_dims([1, 64, 32, 16, 8])
    plan = left_fold(4)
    products = plan_cost(plan, chain).products
    without = plan_time(products, Calibration(**FAKE), 8)
    assert plan_time(products, Calibration(**FAKE, run_s=5e-6), 8) == pytest.approx(without + 5e-6)
    assert without == pytest.approx(sum(product_time(p, Calibration(**FAKE), 8) for p in products))


def test_the_executors_fixed_costs_come_from_two_plan_lengths(monkeypatch):
    # 2 products take 10 us and 16 take 52 us: 3 us a product, 4 us a run.
    from jacchain.run import calibrate
    from jacchain.run.timing import Timing

    def timed(run, repeats):
        seconds = {2: 10e-6, 16: 52e-6}[run()]
        return Timing(seconds, seconds, seconds, repeats)

    monkeypatch.setattr(calibrate, "time_call", timed)
    # each plan, run, says how many products it has: one fewer than its factors
    monkeypatch.setattr("jacchain.run.execute.compile_plan", lambda plan, factors: lambda: len(factors) - 1)
    per_product, per_run = calibrate.executor_costs("float64")
    assert (per_product, per_run) == (pytest.approx(3e-6), pytest.approx(4e-6))
