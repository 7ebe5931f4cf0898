"""Exact counts: the article's sums, their generalisation to any depth, huge widths,
and the executor's counted products held equal to the cost model's."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jacchain.chain.factors import build_chain
from jacchain.cost.plan_cost import plan_cost
from jacchain.jobs.analyze import analyze
from jacchain.model.network import network_at_point
from jacchain.model.spec import make_spec
from jacchain.planners.folds import left_fold, right_fold
from jacchain.planners.orders import ORDERS
from jacchain.run.arrays import densify
from jacchain.run.execute import compile_plan, run_counted
from jacchain.run.jacobians import build_factors
from jacchain.run.timing import blas_info

widths = st.integers(min_value=1, max_value=40)


def test_article_sums_for_the_three_layer_network():
    n0, n1, n2, n3 = 784, 512, 256, 10
    result = analyze(make_spec((n0, n1, n2, n3)), analytic=True)
    # The article's two sums, written out as it writes them (MACs; FLOPs are twice these).
    loss_first = 1 * n3 * n2 + 1 * n2 * n1 + 1 * n1 * n0
    input_first = n2 * n1 * n0 + n3 * n2 * n0 + 1 * n3 * n0
    assert result.order("loss-first").macs == loss_first == 535_040
    assert result.order("input-first").macs == input_first == 104_775_328
    assert result.order("loss-first").flops == 2 * loss_first
    assert round(result.order("input-first").flops / result.order("loss-first").flops, 1) == 195.8


@settings(max_examples=60, deadline=None)
@given(st.lists(widths, min_size=2, max_size=9))
def test_the_sums_generalise_to_any_depth(sizes):
    result = analyze(make_spec(sizes), analytic=True, orders=["loss-first", "input-first"])
    L = len(sizes) - 1
    n = sizes
    # Loss-first: a 1-row vector meets J_L, then J_{L-1}, ...: sum_i 1*n_i*n_{i-1}.
    loss_first = sum(1 * n[i] * n[i - 1] for i in range(1, L + 1))
    # Input-first: J_i times the n_{i-1} x n_0 product so far, for i = 2..L, then g.
    input_first = sum(n[i] * n[i - 1] * n[0] for i in range(2, L + 1)) + 1 * n[L] * n[0]
    assert result.order("loss-first").macs == loss_first
    assert result.order("input-first").macs == input_first
    assert result.order("input-first").flops == 2 * input_first


def test_counts_near_ten_million_wide_are_exact_beyond_int64():
    n = 10**7 + 3
    sizes = (n, n + 1, n - 1, 7)
    result = analyze(make_spec(sizes), analytic=True, orders=["input-first"])
    # J2 J1 is (n-1)x(n+1) times (n+1)xn; J3 (7 x n-1) meets it; then g (1 x 7).
    expected = (n - 1) * (n + 1) * n + 7 * (n - 1) * n + 1 * 7 * n
    assert result.order("input-first").macs == expected
    assert expected > 2**63
    assert type(result.order("input-first").flops) is int
    assert result.order("input-first").flops == 2 * expected


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 12), min_size=2, max_size=6),
    activation=st.sampled_from(["relu", "tanh", "softmax", "identity"]),
    setting=st.sampled_from([("loss", "input"), ("output", "input"), ("loss", "params")]),
    granularity=st.sampled_from(["layer", "op"]),
)
def test_counted_products_equal_the_cost_model_for_every_order(sizes, activation, setting, granularity):
    of, wrt = setting
    spec = make_spec(sizes, activation=activation, output_activation=activation)
    network, x, y = network_at_point(spec)
    chain = build_chain(spec, of, granularity, wrt)
    arrays = build_factors(chain, network, network.forward(x), y)
    results = []
    for name in ORDERS:
        plan = ORDERS.get(name).build(chain)
        values, counted = run_counted(plan, arrays)
        modelled = plan_cost(plan, chain)
        assert counted == modelled.products
        results.append([densify(value) for value in values])
    for values in results[1:]:
        for value, reference in zip(values, results[0]):
            np.testing.assert_allclose(value, reference, atol=1e-10)


def test_peak_bytes_of_the_two_orders_by_hand():
    chain = build_chain(make_spec((784, 512, 256, 10)))
    item = 8
    # loss-first keeps a 1x256 row while making the 1x512 one, then a 1x512 while making 1x784.
    assert plan_cost(left_fold(4), chain).peak_bytes == (512 + 784) * item
    # input-first keeps the 512x784 product while making the 256x784 one.
    assert plan_cost(right_fold(4), chain).peak_bytes == (256 * 784 + 10 * 784) * item


def test_explicit_analysis_agrees_across_orders_and_reports_blas():
    result = analyze(make_spec((30, 20, 10, 5), activation="tanh"), repeats=3)
    assert result.max_abs_diff < 1e-12
    assert result.blas == blas_info()
    for order in result.orders:
        assert order.time.repeats == 3
    assert result.build_time.repeats == 3


@pytest.mark.parametrize("granularity", ["layer", "op"])
@pytest.mark.parametrize("activation", ["relu", "softmax"])
def test_a_float32_runs_factors_and_results_stay_float32(granularity, activation):
    # a float64 default anywhere (an identity, a Kronecker factor's ones or its dense form, a
    # product's buffer) would make the run float64: twice the memory the model allows, and slower
    spec = make_spec((6, 5, 4), activation=activation, dtype="float32")
    network, x, y = network_at_point(spec)
    for of, wrt in [("loss", "params"), ("output", "input"), ("loss", "input")]:
        chain = build_chain(spec, of, granularity, wrt)
        arrays = build_factors(chain, network, network.forward(x), y)
        assert {densify(array).dtype for array in arrays} == {np.dtype(np.float32)}
        for name in ORDERS:
            plan = ORDERS.get(name).build(chain)
            values, _ = run_counted(plan, arrays)
            timed = compile_plan(plan, arrays)()
            assert {densify(value).dtype for value in [*values, *timed]} == {np.dtype(np.float32)}
