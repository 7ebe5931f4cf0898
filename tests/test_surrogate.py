"""Chain configs run on surrogate elementals (run/surrogate.py): each tangent and adjoint model
costs exactly the config's numbers, both are the same linear map, and every plan and schedule
runs with counted == modelled MACs to the product of the elementals' own Jacobians."""

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from jacchain.chain.elementals import Elemental, ElementalChain
from jacchain.cli import cli
from jacchain.cost.elimination import OpKind
from jacchain.cost.machine import Calibration
from jacchain.cost.time_model import product_time
from jacchain.model.spec import make_spec
from jacchain.planners.jcdp import pure_adjoint, pure_tangent, solve
from jacchain.planners.schedule import exact_schedule
from jacchain.run.calibrate import time_with_fixed_costs
from jacchain.run.elemental import (
    PROBE_LENGTHS,
    PROBE_WIDTH,
    Counter,
    ElementalNetwork,
    model_probe,
    run_plan,
    run_schedule,
)
from jacchain.run.surrogate import SurrogateChain

EXAMPLE = Path(__file__).parent.parent / "configs" / "jcdp-example.yaml"

elementals = st.tuples(st.integers(1, 9), st.integers(1, 9), st.integers(0, 120), st.integers(0, 120))


def chain_of(width, drawn):
    widths = [width, *(x[0] for x in drawn)]
    return ElementalChain(tuple(Elemental(n, m, t, a, 1) for n, (m, t, a, _) in zip(widths, drawn)))


chains = st.builds(chain_of, st.integers(1, 9), st.lists(elementals, min_size=1, max_size=5))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 12), m=st.integers(1, 12), t=st.integers(0, 400), a=st.integers(0, 400))
def test_each_model_costs_the_configs_numbers_and_both_are_the_same_map(n, m, t, a):
    model = SurrogateChain(ElementalChain((Elemental(n, m, t, a, 0),)))
    jacobian = model.jacobian(0)
    # tangents of the identity's columns and adjoints of its rows both give J, at n t and m a
    for kind, cost in ((OpKind.ACC_TAN, n * t), (OpKind.ACC_ADJ, m * a)):
        counter = Counter()
        assert np.allclose(model.accumulate(0, kind, counter), jacobian, atol=1e-12)
        assert counter.macs == cost
    # a block of 3 vectors each way, against J itself; the time model's products agree
    block = np.arange(1.0, 3 * n + 1).reshape(n, 3)
    counter = Counter()
    assert np.allclose(model.tangent(0, block, counter), jacobian @ block)
    assert counter.macs == 3 * t == sum(p.macs for p in model.tangent_products(0, 3))
    rows = np.arange(1.0, 3 * m + 1).reshape(3, m)
    counter = Counter()
    assert np.allclose(model.adjoint(0, rows, counter), rows @ jacobian)
    assert counter.macs == 3 * a == sum(p.macs for p in model.adjoint_products(0, 3))
    assert model.n_entries == max(t, a)


class Calls(Counter):
    """A counter that also counts the calls that add to it: one per product a model makes."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def add(self, macs):
        self.calls += 1
        super().add(macs)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 12), m=st.integers(1, 12), t=st.integers(0, 400), a=st.integers(0, 400))
def test_the_time_model_prices_every_call_a_model_makes_and_its_rank_one_term_as_numpy_work(n, m, t, a):
    # the empty products are calls too (a tiny elemental's run had been priced at a sixth of
    # its time), and the rank-one term is numpy's broadcast and add, not a BLAS product
    model = SurrogateChain(ElementalChain((Elemental(n, m, t, a, 0),)))
    for run, products in (
        (lambda counter: model.tangent(0, np.ones((n, 3)), counter), model.tangent_products(0, 3)),
        (lambda counter: model.adjoint(0, np.ones((3, m)), counter), model.adjoint_products(0, 3)),
    ):
        counter = Calls()
        run(counter)
        assert counter.calls == len(products) and counter.macs == sum(p.macs for p in products)
        [term] = [p for p in products if p.broadcast]
        assert term.left[1] == 1 and term.calls == 2 and not term.dense
    curve = ((1, 5.0), (2**30, 5.0))  # numpy moves 5 GB/s whatever the size
    calibration = Calibration("x", "float64", 1, 100.0, 10.0, 1, 1, 0, call_s=2e-6, elementwise_curve=curve)
    for product in model.tangent_products(0, 3):
        seconds = product_time(product, calibration, 8)
        if not product.macs:  # an empty operand: its calls alone
            assert seconds == calibration.call_s * product.calls
        elif product.broadcast:
            moved = product.bytes_moved(8)
            assert moved == 8 * (product.left[0] + product.right[1] + 4 * product.left[0] * product.right[1])
            assert seconds == pytest.approx(2 * calibration.call_s + moved / 5e9)


def test_a_models_fixed_costs_are_probed_on_twins_of_its_own_kind():
    model = SurrogateChain(chain_of(3, [(4, 20, 30, 1)]), "float32")
    short, long = (model.twin(length) for length in PROBE_LENGTHS)
    for twin, length in ((short, PROBE_LENGTHS[0]), (long, PROBE_LENGTHS[1])):
        assert isinstance(twin, SurrogateChain) and twin.dtype == "float32" and len(twin.chain) == length
        assert set(twin.chain.widths) == {PROBE_WIDTH}
    # a surrogate's tangent makes six products, and numpy's rank-one broadcast and add is two
    # calls: seven an application, one application an elemental in an input-first plan
    probe = model_probe(model)
    assert probe.calls == (7 * PROBE_LENGTHS[0], 7 * PROBE_LENGTHS[1])
    for run, twin in ((probe.shorter, short), (probe.longer, long)):
        assert run().shape == (PROBE_WIDTH, PROBE_WIDTH)
        counter = Calls()
        run_plan(twin, pure_tangent(twin.chain), counter)
        assert counter.calls == 6 * len(twin.chain)  # the counter sees each product once
    # a network's twin: its activations in turn, its loss and dtype, PROBE_WIDTH wide
    spec = make_spec((5, 7, 6, 3), activations=["tanh", "softmax", "identity"], loss="cross-entropy", dtype="float32")
    twin = ElementalNetwork(spec, "loss").twin(4)
    assert twin.spec.sizes == (PROBE_WIDTH,) * 5 and twin.of == "loss"
    assert twin.spec.activations == ("tanh", "softmax", "identity", "tanh")
    assert (twin.spec.loss, twin.spec.dtype, twin.spec.seed) == (spec.loss, spec.dtype, spec.seed)


class Slow(SurrogateChain):
    """A surrogate that spends PAUSE_S in Python in each tangent, besides its products."""

    PAUSE_S = 300e-6

    def tangent(self, index, block, counter):
        time.sleep(self.PAUSE_S)
        return super().tangent(index, block, counter)

    def twin(self, length):
        return Slow(ElementalChain((self.chain.elementals[0],) * length))


def test_the_probe_prices_the_time_a_model_spends_between_its_calls():
    # the network executor's probe knows nothing of a model's own time; the model's probe puts
    # it in the calls' cost, so that a plan of n applications is priced n times that time
    model = Slow(chain_of(PROBE_WIDTH, [(PROBE_WIDTH, 80, 70, 0)]))
    probe = model_probe(model)
    _, fixed = time_with_fixed_costs([lambda: None], "float64", 3, probe)
    assert fixed is not None
    applications = (PROBE_LENGTHS[1] - PROBE_LENGTHS[0]) / (probe.calls[1] - probe.calls[0])
    assert fixed.call_s >= 0.9 * Slow.PAUSE_S * applications  # a sleep lasts at least its time
    _, executor = time_with_fixed_costs([lambda: None], "float64", 3)  # the network executor's probe
    assert executor is not None and fixed.call_s > 4 * executor.call_s


def test_a_jacobian_is_not_trivial_when_its_cost_allows_a_full_rank():
    # 8 x 6 with t = a = 6 * 14: rank 6 (6 (6 + 8) = 84), so J has full column rank
    model = SurrogateChain(ElementalChain((Elemental(6, 8, 84, 84, 0),)))
    assert np.linalg.matrix_rank(model.jacobian(0)) == 6


@settings(max_examples=25, deadline=None)
@given(chain=chains, memory=st.one_of(st.none(), st.integers(1, 3)))
def test_every_plan_runs_with_counted_equal_modelled_to_the_reference(chain, memory):
    model = SurrogateChain(chain)
    reference = model.reference()
    plans = [solve(chain, True, memory), solve(chain, False, memory), pure_tangent(chain)]
    plans += [pure_adjoint(chain)] if memory is None else []
    for plan in plans:
        counter = Counter()
        value = run_plan(model, plan, counter)
        assert counter.macs == plan.cost
        assert np.allclose(value, reference, atol=1e-10)


def taped_chain(width, drawn):
    widths = [width, *(x[0] for x in drawn)]
    return ElementalChain(tuple(Elemental(n, m, t, a, tape) for n, (m, t, a, tape) in zip(widths, drawn)))


taped_chains = st.builds(
    taped_chain,
    st.integers(1, 9),
    st.lists(
        st.tuples(st.integers(1, 9), st.integers(0, 120), st.integers(1, 120), st.integers(0, 4)),
        min_size=1,
        max_size=6,
    ),
)


@settings(max_examples=40, deadline=None)
@given(chain=taped_chains, memory=st.integers(1, 8))
def test_loss_first_under_a_memory_limit_reverses_tapes_that_fit_at_the_unlimited_cost(chain, memory):
    # the model's section 3.3: an adjoint reverses only tapes that fit together; loss-first
    # pulls F_q's rows back through the rest in one step when their tapes fit together, else
    # one elemental at a time (the same adjoints, so the same cost), and none fits if one tape does not
    tapes = [e.tape for e in chain.elementals]
    plan = pure_adjoint(chain, memory)
    if max(tapes) > memory:
        assert plan is None
        return
    assert plan is not None
    unlimited = pure_adjoint(chain)
    assert unlimited is not None and plan.cost == unlimited.cost
    steps = [op for op in plan.operations if op.kind == OpKind.ADJ_ELIM]
    q = len(chain)
    assert len(steps) == (0 if q == 1 else 1 if sum(tapes[:-1]) <= memory else q - 1)
    for op in steps:
        assert op.through is not None and sum(tapes[op.through[0] : op.through[1] + 1]) <= memory
    # each operation makes the segment from the lowest elemental it has passed through to F_q
    made = [(op.first, op.last) for op in plan.operations]
    assert made == [(q - 1, q - 1)] + [(op.through[0], q - 1) for op in steps if op.through is not None]
    assert made[-1] == (0, q - 1)
    model, counter = SurrogateChain(chain), Counter()
    value = run_plan(model, plan, counter)
    assert counter.macs == plan.cost
    assert np.allclose(value, model.reference(), atol=1e-10)


def test_a_schedule_runs_on_threads_to_the_same_jacobian():
    chain = ElementalChain(
        tuple(Elemental(n, m, 4 * n * m, 3 * n * m, 1) for n, m in [(30, 40), (40, 20), (20, 50), (50, 10)])
    )
    model = SurrogateChain(chain)
    for machines in (1, 2, 3):
        schedule = exact_schedule(chain, machines)
        counter = Counter()
        value, seconds = run_schedule(model, schedule.tasks, machines, counter)
        assert counter.macs == schedule.work and seconds > 0
        assert np.allclose(value, model.reference(), atol=1e-10)


def run(*args, code=0):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result.stdout if code == 0 else result.stderr


def test_analyze_runs_a_chain_config_on_its_surrogates():
    report = json.loads(run("analyze", EXAMPLE, "--machines", "2", "--format", "json"))
    assert report["blas"] is not None
    for order in report["orders"].values():
        measured = order["measured"]
        assert measured["max_abs_diff"] < 1e-12 and measured["time_s"]["median"] > 0
        assert measured["predicted_time_s"] > 0
    assert report["orders"]["matrix_free"]["measured"]["makespan_s"]["median"] > 0
    analytic = json.loads(run("analyze", EXAMPLE, "--analytic", "--format", "json"))
    assert all(order["measured"] is None for order in analytic["orders"].values())


def test_a_surrogate_run_too_big_for_memory_is_refused_before_anything_is_built(tmp_path):
    config = tmp_path / "big.yaml"
    config.write_text("chain:\n  - {inputs: 4, outputs: 4, tangent_cost: 1000000000000, adjoint_cost: 1, tape: 1}\n")
    error = run("analyze", config, code=2)
    assert error.startswith("Error: ") and error.count("\n") == 1 and "--analytic" in error
    assert "1,000,000,000,000" in run("analyze", config, "--analytic")
    # a cheap model of a huge map that the matrix-free plan never forms: the reference's dense
    # Jacobian of it (320 GB) is what would not fit
    config.write_text(
        "chain:\n  - {inputs: 1, outputs: 200000, tangent_cost: 200000, adjoint_cost: 200000, tape: 1}\n"
        "  - {inputs: 200000, outputs: 200000, tangent_cost: 400000, adjoint_cost: 400000, tape: 1}\n"
        "  - {inputs: 200000, outputs: 1, tangent_cost: 200000, adjoint_cost: 200000, tape: 1}\n"
    )
    error = run("analyze", config, "--order", "matrix-free", code=2)
    assert error.startswith("Error: explicit run of big as a chain of elementals needs about 298")


def test_network_options_do_not_apply_to_a_chain_config():
    error = run("analyze", EXAMPLE, "--activation", "tanh", "--analytic", code=2)
    assert error.startswith("Error: --activation applies to networks") and error.count("\n") == 1


def test_the_measured_markdown_table_keeps_its_columns():
    text = run("analyze", EXAMPLE, "--machines", "2", "--format", "markdown")
    rows = [line for line in text.splitlines() if line.startswith("|")]
    # a "|" inside a cell ("max |diff|") is escaped, so every row splits into the same columns
    widths = {len(re.split(r"(?<!\\)\|", line)) for line in rows}
    assert len(rows) == 6 and len(widths) == 1 and "max \\|diff\\|" in rows[0]
