"""Plans and schedules run on real arrays (run/elemental.py, jobs/chain.py): a network's
elementals against central finite differences, each model's products against what its
evaluations count, the dtype kept, a failing task surfaced, and what `run_plans` checks,
prices and passes on."""

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from jacchain.chain.config import load_chain
from jacchain.chain.elementals import Elemental, ElementalChain, network_chain
from jacchain.errors import MemoryLimitError
from jacchain.jobs.analyze import measure_peak
from jacchain.jobs.chain import (
    analyze_chain,
    measure_chain,
    network_footprint,
    run_memory,
    run_plans,
    surrogate_footprint,
)
from jacchain.model.network import network_at_point
from jacchain.model.spec import make_spec
from jacchain.planners.jcdp import pure_adjoint, pure_tangent, solve
from jacchain.planners.schedule import exact_schedule, list_schedule
from jacchain.run import calibrate as calibration
from jacchain.run.elemental import Counter, ElementalNetwork, model_probe, run_plan, run_schedule
from jacchain.run.surrogate import SurrogateChain
from jacchain.run.timing import blas_info

EXAMPLE = load_chain(str(Path(__file__).parent.parent / "configs" / "jcdp-example.yaml"))
# four elementals wide enough that every plan's tasks are BLAS products, not scalars
WIDE = ElementalChain(
    tuple(Elemental(n, m, 4 * n * m, 3 * n * m, 1) for n, m in [(30, 40), (40, 20), (20, 50), (50, 10)])
)


def every_plan(chain):
    return [pure_tangent(chain), pure_adjoint(chain), solve(chain, True), solve(chain, False)]


@pytest.mark.parametrize("activation", ["relu", "tanh", "softmax", "identity"])
@pytest.mark.parametrize("of", ["loss", "output"])
def test_every_plan_on_a_networks_elementals_is_its_jacobian(activation, of, central_jacobian):
    # the tangent and adjoint models (a diagonal D_i, a dense one, none) against the whole
    # network differentiated by central differences, not against the model's own reference
    spec = make_spec((5, 4, 3, 2), activation=activation, output_activation="tanh", seed=3)
    model = ElementalNetwork(spec, of)
    assert model.chain == network_chain(spec, of) and ElementalNetwork(spec).chain == network_chain(spec, "loss")
    network, x, y = network_at_point(spec)

    def function(point):
        out = network.forward(point).output
        return network.loss.value(out, y) if of == "loss" else out

    expected = central_jacobian(function, x).reshape(1 if of == "loss" else 2, 5)
    np.testing.assert_allclose(model.reference(), expected, atol=1e-7)
    for plan in every_plan(model.chain):
        counter = Counter()
        np.testing.assert_allclose(run_plan(model, plan, counter), expected, atol=1e-7)
        assert counter.macs == plan.cost


def models():
    specs = [make_spec((6, 5, 4, 3), activation=name, output_activation="softmax") for name in ("relu", "identity")]
    networks = [ElementalNetwork(spec, of) for spec in specs for of in ("loss", "output")]
    return [*networks, SurrogateChain(EXAMPLE), SurrogateChain(WIDE)]


@pytest.mark.parametrize("model", models(), ids=lambda m: f"{type(m).__name__}-{m.chain.label}-{len(m.chain)}")
def test_the_products_a_model_says_it_makes_are_the_ones_it_counts(model):
    # what the time model prices (tangent_products, adjoint_products, task_products) against
    # the multiply-adds each evaluation counts from its operands
    rng = np.random.default_rng(0)
    for index, elemental in enumerate(model.chain.elementals):
        for width in (1, 3):
            counter = Counter()
            model.tangent(index, rng.standard_normal((elemental.inputs, width)), counter)
            assert counter.macs == sum(p.macs for p in model.tangent_products(index, width))
            counter = Counter()
            model.adjoint(index, rng.standard_normal((width, elemental.outputs)), counter)
            assert counter.macs == sum(p.macs for p in model.adjoint_products(index, width))
    for plan in every_plan(model.chain):
        counter = Counter()
        run_plan(model, plan, counter)
        tasks = list_schedule(model.chain, plan, 1).tasks
        assert counter.macs == sum(p.macs for task in tasks for p in model.task_products(task))


def test_float32_runs_stay_float32():
    spec = make_spec((6, 5, 4, 3), activation="softmax", dtype="float32")
    for model in (ElementalNetwork(spec), ElementalNetwork(spec, "output"), SurrogateChain(WIDE, "float32")):
        assert model.itemsize == 4 and model.reference().dtype == np.float32
        for plan in every_plan(model.chain):
            assert run_plan(model, plan, Counter()).dtype == np.float32
        value, _ = run_schedule(model, exact_schedule(model.chain, 2).tasks, 2, Counter())
        assert value.dtype == np.float32


def test_a_networks_twin_is_the_same_kind_of_network():
    # the probe of a model's fixed costs runs its twins: the same activations, loss and `of`
    spec = make_spec((6, 5, 4, 3), activation="tanh", output_activation="softmax", dtype="float32")
    for of in ("loss", "output"):
        twin = ElementalNetwork(spec, of).twin(4)
        assert twin.of == of and twin.spec.activations == ("tanh", "tanh", "softmax", "tanh")
        assert twin.chain == network_chain(twin.spec, of) and twin.dtype == "float32"
        probe = model_probe(ElementalNetwork(spec, of))
        probe.shorter(), probe.longer()  # each twin's input-first plan runs on it


def test_a_surrogate_is_drawn_from_its_seed():
    same, again, other = (SurrogateChain(WIDE, seed=seed).reference() for seed in (0, 0, 1))
    np.testing.assert_array_equal(same, again)
    assert not np.allclose(same, other)


def test_a_surrogate_chain_keeps_its_product_of_order_one():
    # entries scaled by 1 / sqrt(width): the product of forty elementals neither overflows nor vanishes
    chain = ElementalChain(tuple(Elemental(20, 20, 800, 800, 1) for _ in range(40)))
    value = SurrogateChain(chain).reference()
    assert 1e-3 < np.sqrt(np.mean(value**2)) < 1e3


class Failing(SurrogateChain):
    """A surrogate whose adjoint of one elemental raises."""

    def adjoint(self, index, block, counter):
        if index == 1:
            raise ValueError("adjoint 1 failed")
        return super().adjoint(index, block, counter)


def test_a_task_that_fails_on_a_thread_fails_the_run():
    # every machine stops waiting (no hang), and the task's own error comes back
    model = Failing(WIDE)
    schedule = exact_schedule(WIDE, 2)
    assert any(t.kind.name.startswith("ADJ") and t.first <= 1 <= t.last for t in schedule.tasks)
    with pytest.raises(ValueError, match="adjoint 1 failed"):
        run_schedule(model, schedule.tasks, 2, Counter())


def test_a_schedules_measured_makespan_is_the_runs_own_time():
    model = SurrogateChain(WIDE)
    schedule = exact_schedule(WIDE, 2)
    begin = time.perf_counter()
    _, seconds = run_schedule(model, schedule.tasks, 2, Counter())
    assert 0 < seconds <= time.perf_counter() - begin


class Miscounting(SurrogateChain):
    """A surrogate that counts one multiply-add too few in each adjoint evaluation."""

    def adjoint(self, index, block, counter):
        counter.add(-1)
        return super().adjoint(index, block, counter)


def test_a_run_whose_count_differs_from_the_model_is_an_error_not_a_figure():
    analysis = analyze_chain(EXAMPLE, ["accumulate"])  # ((acc_adj(F3) acc_tan(F2)) acc_adj(F1)): 28
    with pytest.raises(RuntimeError, match="accumulate: counted 26 MACs, the model says 28"):
        measure_chain(analysis, Miscounting(EXAMPLE))


class Spy(SurrogateChain):
    """A surrogate recording, for each evaluation off the calling thread, its thread and the
    BLAS threads it ran with."""

    def __init__(self, chain):
        super().__init__(chain)
        self.caller, self.seen = threading.current_thread(), set()

    def multiply(self, upper, lower, counter):  # every product a surrogate's evaluation makes
        thread = threading.current_thread()
        if thread is not self.caller:
            self.seen.add((thread.name, blas_info().threads))
        return super().multiply(upper, lower, counter)


def test_a_schedule_runs_on_its_machines_with_one_blas_thread_each():
    model = Spy(WIDE)
    analysis = analyze_chain(WIDE, ["matrix-free"], machines=2)
    tasks = analysis.orders[0].schedule.tasks
    assert any(t.machine == 1 for t in tasks)
    measured = measure_chain(analysis, model, repeats=7).orders[0].measured
    # machine 1 is one worker thread for every run (a pool, not a thread started per run)
    assert len(model.seen) == 1 and next(iter(model.seen))[1] == 1
    assert measured.makespan.repeats == measured.one_thread.repeats == 7 and measured.speedup > 0


class CountsOffThread(SurrogateChain):
    """A surrogate that counts one multiply-add too few in each product made off the calling thread."""

    def multiply(self, upper, lower, counter):
        if threading.current_thread() is not threading.main_thread():
            counter.add(-1)
        return super().multiply(upper, lower, counter)


def test_a_schedule_whose_run_counts_other_than_its_work_is_an_error():
    analysis = analyze_chain(WIDE, ["matrix-free"], machines=2)
    with pytest.raises(RuntimeError, match=r"a schedule's run counted \d+ MACs, its tasks' work is \d+"):
        measure_chain(analysis, CountsOffThread(WIDE))


def test_run_plans_calibrates_prices_and_times_as_asked():
    asked = []

    def calibrate(dtype, threads):
        asked.append((dtype, threads))
        return calibration.measure(dtype, threads)  # the tests' fixed figures (conftest)

    for machines in (None, 2):
        asked.clear()
        analysis = analyze_chain(WIDE, ["input-first", "matrix-free"], machines=machines)
        result = run_plans(analysis, None, dtype="float32", seed=1, repeats=7, threads=1, calibrate=calibrate)
        # the plans priced at the BLAS threads asked for, the schedules' tasks at one
        assert asked == [("float32", 1)] * (2 if machines else 1)
        assert result.blas.threads == 1 and result.fixed_costs is not None
        for order in result.orders:
            measured = order.measured
            assert measured.time.repeats == 7 and measured.predicted_time > 0
            assert measured.max_abs_diff < 1e-3  # float32 surrogates
            if machines and order.schedule is not None:
                assert measured.predicted_makespan > 0 and measured.makespan.repeats == 7

        def diffs(analysis=analysis, **options):
            run = run_plans(analysis, None, repeats=1, **options)
            assert run.fixed_costs is None
            assert all(o.measured.predicted_time is None and o.measured.predicted_makespan is None for o in run.orders)
            return [o.measured.max_abs_diff for o in run.orders]

        # the seed and the dtype reach the surrogates: the same figures run after run, seed 0 by default
        assert diffs(dtype="float32", seed=1) == [o.measured.max_abs_diff for o in result.orders]
        assert diffs(dtype="float32") == diffs(dtype="float32", seed=0) != diffs(dtype="float32", seed=1)
        assert min(diffs(dtype="float32")) > 1e-9 and max(diffs()) < 1e-12  # float32's rounding, and float64's


# a surrogate's products by which one is largest: its rank's R V, the rank-one term's q x k
# (r = 2 and q = 20 of a rest of 40), the tangent's padding (49,700 // 10 rows), the adjoint's
SCRATCH_SHAPES = [
    Elemental(30, 40, 9 * 70, 9 * 70, 1),
    Elemental(30, 40, 2 * 70 + 40, 2 * 70 + 40, 1),
    Elemental(10, 12, 50_000, 300, 1),
    Elemental(12, 10, 300, 50_000, 1),
]


@pytest.mark.parametrize("elemental", SCRATCH_SHAPES, ids=["rank", "rank-one", "tangent-pad", "adjoint-pad"])
@pytest.mark.parametrize("tangent", [True, False], ids=["tangent", "adjoint"])
def test_a_surrogate_evaluation_allocates_its_result_and_its_modelled_scratch(elemental, tangent):
    # run_memory adds each running task's scratch, so it must be what an evaluation allocates
    # beyond its block and its result: traced by tracemalloc (4 KiB for numpy's array objects)
    chain, k = ElementalChain((elemental,)), 256
    model = SurrogateChain(chain)
    block = np.ones((elemental.inputs, k)) if tangent else np.ones((k, elemental.outputs))
    evaluate = model.tangent if tangent else model.adjoint
    peak = measure_peak(lambda: evaluate(0, block, Counter()))
    result = k * (elemental.outputs if tangent else elemental.inputs)
    scratch = surrogate_footprint(chain).scratch(0, tangent, k)
    assert scratch >= k and peak == pytest.approx(8 * (result + scratch), abs=4096)


@pytest.mark.parametrize("activation", ["relu", "softmax", "identity"])
@pytest.mark.parametrize("tangent", [True, False], ids=["tangent", "adjoint"])
def test_a_network_evaluation_allocates_its_result_and_its_modelled_scratch(activation, tangent):
    # each layer with a diagonal D_i (relu), a dense one (softmax) or none, then the loss
    spec = make_spec((20, 30, 40), activations=[activation, "tanh"])
    model, footprint, k = ElementalNetwork(spec), network_footprint(spec), 50
    for index, elemental in enumerate(model.chain.elementals):
        block = np.ones((elemental.inputs, k)) if tangent else np.ones((k, elemental.outputs))
        evaluate = model.tangent if tangent else model.adjoint
        peak = measure_peak(lambda: evaluate(index, block, Counter()))  # noqa: B023 - called at once
        result = k * (elemental.outputs if tangent else elemental.inputs)
        expected = 8 * (result + footprint.scratch(index, tangent, k))
        assert peak == pytest.approx(expected, abs=4096), (index, peak, expected)


@pytest.mark.parametrize("source", ["chain config", "loss", "output"])
def test_run_plans_refuses_a_run_one_byte_over_its_limit(source):
    # admitted at exactly its modelled need (float32 items; a network's own entries for its
    # Jacobian), refused one byte under
    spec = None if source == "chain config" else make_spec((6, 5, 40, 3), dtype="float32")
    if spec is None:
        analysis, footprint, of = analyze_chain(WIDE), surrogate_footprint(WIDE), "loss"
    else:
        of = source
        analysis, footprint = analyze_chain(network_chain(spec, of)), network_footprint(spec, of)
    need = run_memory(analysis, footprint, 4)
    run_plans(analysis, spec, of, dtype="float32", repeats=1, max_memory=need)
    with pytest.raises(MemoryLimitError):
        run_plans(analysis, spec, of, dtype="float32", repeats=1, max_memory=need - 1)


def test_run_plans_runs_a_network_as_the_chain_it_was_read_as():
    spec = make_spec((6, 5, 4, 3), activation="tanh")
    for of in ("loss", "output"):
        analysis = analyze_chain(network_chain(spec, of), machines=2)
        result = run_plans(analysis, spec, of, repeats=1) if of == "output" else run_plans(analysis, spec, repeats=1)
        assert all(o.measured is None or o.measured.max_abs_diff < 1e-12 for o in result.orders)
        assert sum(o.measured is not None for o in result.orders) == len(analysis.orders) >= 4
