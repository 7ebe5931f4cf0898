"""Calibration and the time model: output, caching, hand-computed predictions, --cost time."""

import functools
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from jacchain.analysis import analyze
from jacchain.calibrate import Calibration, cache_path, cached, store
from jacchain.chain import DENSE, Chain, Factor
from jacchain.cli import cli
from jacchain.cost import optimal_plan, plan_cost, product_count
from jacchain.spec import make_spec
from jacchain.timemodel import plan_time, product_time, rates
from jacchain.timing import blas_info

FAKE = dict(blas="test", dtype="float64", threads=1, gemm_gflops=100.0, stream_gbps=10.0, gemm_size=1024,
            stream_bytes=2**28, measured_at=0.0, cache_gbps=40.0, cache_bytes=2**20, call_s=1e-6)


def test_calibrate_prints_json_and_caches_what_analyze_then_uses():
    result = CliRunner().invoke(cli, ["calibrate", "--format", "json", "--threads", "1"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    for key in ("blas", "dtype", "threads", "gemm_gflops", "stream_gbps", "cache_gbps", "call_s", "gemm_curve"):
        assert key in data
    assert data["gemm_gflops"] > 0 and data["stream_gbps"] > 0 and data["threads"] == 1
    assert Path(data["cache"]) == cache_path() and cache_path().is_file()
    found = cached("float64", threads=1)
    assert found is not None and found.gemm_gflops == data["gemm_gflops"]
    analysis = json.loads(CliRunner().invoke(cli, ["analyze", "64,32,8", "--threads", "1", "--repeats", "3",
                                                  "--format", "json"]).output)
    assert analysis["calibration"]["gemm_gflops"] == data["gemm_gflops"]
    assert analysis["orders"]["loss_first"]["predicted_time_s"] > 0


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
    big = product_count((1000, 1000, DENSE), (1000, 1000, DENSE))[0]
    assert product_time(big, calibration, 8) == pytest.approx(1e-6 + 0.02)
    # A 1 x 1000 row times a 1000 x 1000 matrix: 8,016,000 bytes > 1 MiB, from memory at 10 GB/s.
    row = product_count((1, 1000, DENSE), (1000, 1000, DENSE))[0]
    assert product_time(row, calibration, 8) == pytest.approx(1e-6 + (1000 + 1_000_000 + 1000) * 8 / 10e9)
    # Small enough to stay in cache: 40 GB/s.
    small = product_count((1, 100, DENSE), (100, 100, DENSE))[0]
    assert product_time(small, calibration, 8) == pytest.approx(1e-6 + (100 + 10_000 + 100) * 8 / 40e9)


def test_plan_time_is_the_sum_over_products():
    calibration = Calibration(**FAKE)
    result = analyze(make_spec((50, 40, 30, 20)), analytic=True, calibration=calibration)
    for order in result.orders:
        assert order.predicted_time == pytest.approx(sum(product_time(p, calibration, 8) for p in order.products))


def brute_force_time(chain, calibration):
    @functools.lru_cache(maxsize=None)
    def best(first, last):
        if first == last:
            return 0.0
        options = []
        for cut in range(first, last):
            m, n, k = chain.dims[first], chain.dims[cut + 1], chain.dims[last + 1]
            product = product_count((m, n, DENSE), (n, k, DENSE))[0]
            options.append(best(first, cut) + best(cut + 1, last) + product_time(product, calibration, 8)
                           - calibration.call_s)
        return min(options)

    return best(0, len(chain) - 1)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(1, 400), min_size=3, max_size=8))
def test_cost_time_dp_equals_brute_force_over_predicted_time(dims):
    calibration = Calibration(**FAKE, gemm_curve=((2, 5.0), (32, 50.0), (512, 100.0)))
    chain = Chain(tuple(Factor(f"F{i}", a, b, DENSE, ("layer", i)) for i, (a, b) in enumerate(zip(dims, dims[1:]))), 8)
    plan = optimal_plan(chain, rates(calibration))
    calls = calibration.call_s * len(plan.steps)
    predicted = plan_time(plan_cost(plan, chain).products, calibration, 8) - calls
    assert predicted == pytest.approx(brute_force_time(chain, calibration), rel=1e-9)


def test_cost_time_needs_a_calibration():
    from jacchain.errors import JacchainError

    with pytest.raises(JacchainError, match="jacchain calibrate"):
        analyze(make_spec((8, 4, 2)), analytic=True, cost="time")
