"""The optimal bracketing: brute force, numpy's multi_dot, opt_einsum, and the classic orders."""

import functools
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import opt_einsum
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from jacchain.chain.factors import build_chain, chain_of_dims
from jacchain.chain.plan import bracketing
from jacchain.cli import cli
from jacchain.cost.plan_cost import plan_cost
from jacchain.errors import JacchainError
from jacchain.jobs.analyze import analyze
from jacchain.model.config import load_network
from jacchain.model.spec import make_spec
from jacchain.planners.dp import optimal_plan
from jacchain.planners.folds import left_fold, right_fold
from jacchain.planners.orders import ORDERS
from jacchain.run.arrays import densify
from jacchain.run.execute import run_counted
from jacchain.types import FactorKind, Structure

make_chain = chain_of_dims
DIAGONAL = Structure.DIAGONAL


def brute_force(chain):
    """Least FLOPs over every bracketing, by exhaustive recursion (written from the convention)."""

    @functools.cache
    def best(first, last):  # -> (flops, rows, cols, is_diagonal)
        if first == last:
            f = chain.factors[first]
            return 0, f.rows, f.cols, f.structure == DIAGONAL
        options = []
        for cut in range(first, last):
            lf, m, n, ld = best(first, cut)
            rf, _, k, rd = best(cut + 1, last)
            if ld and rd:
                here = m
            elif ld or rd:
                here = m * k
            else:
                here = 2 * m * n * k
            options.append((lf + rf + here, m, k, ld and rd))
        return min(options)

    return best(0, len(chain) - 1)[0]


@st.composite
def chains(draw, max_factors=8, allow_diagonal=True, scale=1):
    n = draw(st.integers(1, max_factors))
    diagonal = [allow_diagonal and draw(st.booleans()) for _ in range(n)]
    dims = [draw(st.integers(1, 60))]
    for index in range(n):
        # A diagonal factor is square.
        dims.append(dims[-1] if diagonal[index] else draw(st.integers(1, 60)))
    return make_chain([dim * scale for dim in dims], diagonal)


def test_a_bare_chain_of_dims_has_the_factors_it_names():
    chain = chain_of_dims([10, 20, 20, 5], [False, True, False])
    assert [(f.name, f.rows, f.cols, f.structure, f.kind, f.layer) for f in chain.factors] == [
        ("F0", 10, 20, Structure.DENSE, FactorKind.LAYER, 1),
        ("F1", 20, 20, Structure.DIAGONAL, FactorKind.LAYER, 2),
        ("F2", 20, 5, Structure.DENSE, FactorKind.LAYER, 3),
    ]
    assert chain.dims == [10, 20, 20, 5] and chain.n_layers == 3
    # float64 unless told: 200 + 20 (a diagonal's) + 100 entries of 8 bytes
    assert chain.itemsize == 8 and chain.factor_bytes == 320 * 8
    assert chain_of_dims([10, 20, 5], itemsize=4).factor_bytes == 300 * 4
    assert [f.structure for f in chain_of_dims([3, 4, 5]).factors] == [Structure.DENSE] * 2
    with pytest.raises(JacchainError) as refused:
        chain_of_dims([3, 3, 4, 2], [False, True, False])
    assert str(refused.value) == "factor 1: a diagonal factor is square, got 3 x 4"


@settings(max_examples=150, deadline=None)
@given(chains())
def test_dp_equals_brute_force_with_dense_and_diagonal_factors(chain):
    plan = optimal_plan(chain)
    assert plan_cost(plan, chain).flops == brute_force(chain)
    assert plan_cost(plan, chain).flops <= plan_cost(left_fold(len(chain)), chain).flops
    assert plan_cost(plan, chain).flops <= plan_cost(right_fold(len(chain)), chain).flops


@settings(max_examples=60, deadline=None)
@given(chains(scale=10**7))
def test_dp_equals_brute_force_where_the_counts_need_python_integers(chain):
    # widths of 10^7 to 6 x 10^8: the program's tables hold Python integers (int64 would not do)
    plan = optimal_plan(chain)
    assert plan_cost(plan, chain).flops == brute_force(chain)


@settings(max_examples=60, deadline=None)
@given(chains(max_factors=10, allow_diagonal=False).filter(lambda c: len(c) >= 2))
def test_dp_matches_numpy_multi_dot_order_in_macs(chain):
    shapes = [SimpleNamespace(shape=f.shape) for f in chain.factors]
    linalg = getattr(np.linalg, "_linalg", None) or np.linalg.linalg  # numpy 2 made the module private
    _, costs = linalg._multi_dot_matrix_chain_order(shapes, return_costs=True)
    assert plan_cost(optimal_plan(chain), chain).macs == int(costs[0, len(chain) - 1])


@settings(max_examples=60, deadline=None)
@given(chains(max_factors=7, allow_diagonal=False).filter(lambda c: len(c) >= 2 and min(c.dims) >= 2))
def test_dp_matches_opt_einsum_optimal_path_in_flops(chain):
    letters = opt_einsum.get_symbol
    terms = [letters(i) + letters(i + 1) for i in range(len(chain))]
    expression = ",".join(terms) + "->" + letters(0) + letters(len(chain))
    _, info = opt_einsum.contract_path(expression, *[f.shape for f in chain.factors], shapes=True, optimize="optimal")
    assert plan_cost(optimal_plan(chain), chain).flops == int(info.opt_cost)


def test_every_order_gives_the_same_product_on_a_mixed_chain():
    rng = np.random.default_rng(0)
    chain = make_chain([5, 5, 7, 7, 3, 3, 4], [True, False, True, False, True, False])
    arrays = [
        rng.standard_normal(f.rows) if f.structure == DIAGONAL else rng.standard_normal(f.shape) for f in chain.factors
    ]
    reference = densify(arrays[0])
    for array in arrays[1:]:
        reference = reference @ densify(array)
    for plan in (optimal_plan(chain), left_fold(len(chain)), right_fold(len(chain))):
        (value,), _ = run_counted(plan, arrays)
        np.testing.assert_allclose(densify(value), reference, atol=1e-12)


def test_counts_exact_beyond_int64_use_python_integers():
    big = 3 * 10**6
    chain = make_chain([big, big + 1, big + 2, big - 1, big])
    plan = optimal_plan(chain)
    # Every bracketing of these four near-square factors costs more than 2**63 FLOPs.
    assert brute_force(chain) > 2**63
    assert plan_cost(plan, chain).flops == brute_force(chain)


def test_costs_that_would_wrap_in_int64_pick_the_right_plan():
    # (1 x 2^22)(2^22 x 2^22)(2^22 x 2^22) read from the left costs 2 * 2^44 MACs; from the right
    # 2^66 + 2^44, which int64 would wrap to 2^44 and prefer: the program must use Python integers
    chain = make_chain([1, 2**22, 2**22, 2**22])
    assert plan_cost(optimal_plan(chain), chain).flops == brute_force(chain) == 2 * 2 * 2**44


@pytest.mark.parametrize("width, factors", [(2, 2_200), (10**7, 500)])
def test_the_optimal_order_is_refused_up_front_where_its_program_would_run_past_ten_seconds(width, factors):
    # O(n^3): 2,200 factors on int64 tables, or 500 where the counts need Python integers
    spec = ",".join([str(width)] * factors)  # factors - 1 layers, and the loss's gradient
    result = CliRunner().invoke(cli, ["analyze", spec, "--analytic"])
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"Error: the optimal order over {factors:,} factors would take about ")
    assert line.endswith("leave it out with --order loss-first,input-first (analyze, sweep)")
    seconds = int(line.split("would take about ")[1].split(" s ")[0])
    assert 10 < seconds < 30
    done = CliRunner().invoke(cli, ["analyze", spec, "--analytic", "--order", "loss-first,input-first"])
    assert done.exit_code == 0, done.output


def test_autoencoder_full_jacobian_optimal_is_ten_times_cheaper():
    # Measured times are compared in the README's `analyze --of output` example, not here:
    # speed is checked by running the tool, never by a timed unit test.
    spec = load_network(str(Path(__file__).parent.parent / "configs" / "autoencoder.yaml"))
    result = analyze(spec, of="output", repeats=1)
    optimal = result.order("optimal")
    for name in ("loss-first", "input-first"):
        assert result.order(name).flops >= 10 * optimal.flops
    assert optimal.bracketing == "((J4 J3) (J2 J1))"
    assert result.max_abs_diff < 1e-10


def test_order_json_carries_the_bracketing():
    result = CliRunner().invoke(
        cli, ["analyze", "784,256,8,256,784", "--of", "output", "--analytic", "--format", "json"]
    )
    data = json.loads(result.output)
    assert data["orders"]["optimal"]["bracketing"] == "((J4 J3) (J2 J1))"
    assert data["orders"]["loss_first"]["bracketing"] == "(((J4 J3) J2) J1)"


def test_the_threaded_dp_of_long_chains_finds_what_the_single_thread_finds(monkeypatch):
    import jacchain.planners.dp as dp

    rng = np.random.default_rng(7)
    dims = rng.integers(1, 600, 301).tolist()
    diagonal = [False] * 300
    for index in range(0, 300, 7):  # some diagonal factors, square as they must be
        diagonal[index] = True
        dims[index + 1] = dims[index]
    chain = make_chain(dims, diagonal)
    pools = []

    class CountingPool(dp.ThreadPoolExecutor):
        def map(self, *args, **kwargs):
            pools.append(self)
            return super().map(*args, **kwargs)

    monkeypatch.setattr(dp, "ThreadPoolExecutor", CountingPool)
    threaded = dp.solve_chain(chain)
    assert pools, "a chain of 300 factors should split its longest segments over two threads"
    monkeypatch.setattr(dp, "THREADED_FROM", 10**9)
    pools.clear()
    single = dp.solve_chain(chain)
    assert not pools
    assert threaded[1] == single[1] == plan_cost(threaded[0], chain).flops
    assert threaded[0] == single[0]


def nested(plan, names):
    """A plan's bracketing by its definition: each step's text is "(left right)" of its operands'."""
    text = list(names)
    for left, right in plan.steps:
        text.append(f"({text[left]} {text[right]})")
    return "; ".join(text[value] for value in plan.results)


@pytest.mark.parametrize("wrt", ["input", "params"])
@pytest.mark.parametrize("order", ["loss-first", "input-first", "optimal"])
def test_every_order_is_written_as_its_nested_products(order, wrt):
    """Parameter plans reuse cached rows across their outputs: each output is written in full."""
    chain = build_chain(make_spec((6, 5, 4, 3, 2), loss="mse"), "loss", "op", wrt)
    plan = ORDERS.get(order).build(chain)
    written = bracketing(plan, chain.names)
    assert written == nested(plan, chain.names)
    assert written.count(";") == len(plan.results) - 1


def test_a_deep_chain_is_written_whole():
    names = [f"J{i}" for i in range(3000, 0, -1)]
    plan = right_fold(len(names))
    assert bracketing(plan, names) == nested(plan, names)
