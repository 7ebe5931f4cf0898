"""Timings that hold on a shared machine (issue 11): orders are timed side by side in
alternating rounds, and every calibration figure is measured once a round."""

from dataclasses import replace

from jacchain.chain.elementals import network_chain
from jacchain.cost.machine import Calibration, FixedCosts
from jacchain.cost.time_model import plan_time
from jacchain.jobs.analyze import analyze
from jacchain.jobs.chain import analyze_chain, measure_chain
from jacchain.model.spec import make_spec
from jacchain.planners.schedule import list_schedule
from jacchain.run import calibrate, timing
from jacchain.run.elemental import ElementalNetwork
from jacchain.run.timing import time_alternating, time_call


def recorder(log, name):
    return lambda: log.append(name)


def test_functions_take_turns_round_by_round_after_one_warm_up_each():
    log: list[str] = []
    timings = time_alternating([recorder(log, "a"), recorder(log, "b")], repeats=5, rounds=2)
    # warm-ups, then round 1 (3 calls each: the odd repeat goes to the first round), round 2
    assert "".join(log) == "ab" + "aaabbb" + "aabb"
    assert [t.repeats for t in timings] == [5, 5]
    assert all(t.min <= t.median <= t.max for t in timings)


def test_fewer_repeats_than_rounds_still_times_each_repeat_once():
    log: list[str] = []
    time_alternating([recorder(log, "a"), recorder(log, "b")], repeats=2, rounds=5)
    assert "".join(log) == "ab" + "ab" + "ab"


def test_time_call_is_one_function_in_one_round():
    log: list[str] = []
    assert time_call(recorder(log, "a"), repeats=4).repeats == 4
    assert log == ["a"] * 5


def test_analyze_times_every_order_that_runs_in_one_alternation(monkeypatch):
    seen = []

    def spy(functions, repeats=None, target_s=None, rounds=5, targets=()):
        seen.append(len(functions))
        return time_alternating(functions, repeats, target_s, rounds, targets)

    monkeypatch.setattr(calibrate, "time_alternating", spy)  # analyze times through time_with_fixed_costs
    result = analyze(make_spec((6, 5, 4)), repeats=3)
    assert seen == [len(result.orders)] and len(result.orders) >= 2
    assert all(r.time is not None and r.time.repeats == 3 for r in result.orders)
    assert result.fixed_costs is None  # no time model: nothing else is timed


def test_with_a_time_model_the_fixed_costs_are_timed_in_the_orders_alternation(monkeypatch, fake_figures):
    """The executor's two fixed-cost runs join the orders' rounds, on budgets of their own, and
    the predictions use what they measured in place of the calibration's call and run costs."""
    calls = []

    def spy(functions, repeats=None, target_s=None, rounds=5, targets=()):
        timings = time_alternating(functions, repeats, target_s, rounds, targets)
        calls.append((len(functions), list(targets), timings))
        return timings

    monkeypatch.setattr(calibrate, "time_alternating", spy)
    machine = Calibration(blas="fake", dtype="float64", threads=1, **fake_figures)
    result = analyze(make_spec((6, 5, 4)), calibration=machine)
    ((count, targets, timings),) = calls
    orders = len(result.orders)
    assert count == orders + 2
    assert targets == [None] * orders + [calibrate.PROBE_TARGET_S] * 2
    per_product, per_run = calibrate.fixed_costs(timings[-2].median, timings[-1].median)
    assert result.fixed_costs == FixedCosts(per_product, per_run)
    timed = replace(machine, call_s=per_product, run_s=per_run)
    assert result.machine == timed and result.calibration == machine
    for r in result.orders:
        assert r.predicted_time == plan_time(r.products, timed, 8)


def test_the_chain_command_prices_its_plans_with_the_fixed_costs_timed_beside_them(monkeypatch, fake_figures):
    calls = []

    def spy(functions, repeats=None, target_s=None, rounds=5, targets=()):
        timings = time_alternating(functions, repeats, target_s, rounds, targets)
        calls.append((len(functions), timings))
        return timings

    monkeypatch.setattr(calibrate, "time_alternating", spy)
    machine = Calibration(blas="fake", dtype="float64", threads=1, **fake_figures)
    spec = make_spec((6, 5, 4))
    analysis = analyze_chain(network_chain(spec, "loss"), orders=["input-first", "loss-first"])
    measured = measure_chain(analysis, ElementalNetwork(spec, "loss"), machine, repeats=3)
    ((count, timings),) = calls
    assert count == 2 + 2
    # The probe is the model's own (run/elemental.model_probe): input-first plans on twins of 2
    # and 10 layers of relu, identity, relu, ... and the mse loss. A tangent through a relu layer
    # makes 2 calls (W, then D), through an identity layer or the loss 1: 2 + 1 + 1, and
    # 5 x 2 + 5 x 1 + 1.
    fixed = FixedCosts(*calibrate.fixed_costs(timings[-2].median, timings[-1].median, (4, 16)))
    assert measured.fixed_costs == fixed
    timed = replace(machine, call_s=fixed.call_s, run_s=fixed.run_s)
    for result in measured.orders:
        assert result.measured is not None and result.measured.predicted_time is not None
        tasks = list_schedule(analysis.chain, result.plan, 1).tasks
        products = [p for task in tasks for p in ElementalNetwork(spec, "loss").task_products(task)]
        assert result.measured.predicted_time == plan_time(products, timed, 8)


def test_a_function_given_a_budget_of_its_own_is_repeated_to_fill_it(monkeypatch):
    ticks = iter(range(10**6))
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(ticks) * 1e-3)  # 1 ms per clock read
    timings = time_alternating([lambda: None] * 3, target_s=0.2, targets=[None, 0.01])
    # each call takes one tick (1 ms): 200 calls fill 0.2 s, 10 fill 0.01 s, the third has no budget of its own
    assert [t.repeats for t in timings] == [200, 10, 200]
    # a budget of its own holds against a repeat count given for the others (analyze --repeats)
    assert [t.repeats for t in time_alternating([lambda: None] * 2, repeats=2, targets=[None, 0.01])] == [2, 10]


def test_the_fixed_costs_never_go_below_zero():
    assert calibrate.fixed_costs(5e-6, 4e-6) == (0.0, 5e-6)  # a noisy longer run: no negative call
    assert calibrate.fixed_costs(5e-6, 61e-6) == (4e-6, 0.0)  # products dearer than the short run: no negative run


def test_every_calibration_figure_is_measured_once_a_round_in_turn_and_again_where_rounds_disagree():
    log: list[str] = []

    def figure(name, values):
        values = iter(values)
        return lambda: log.append(name) or next(values)

    values, unsettled = calibrate.in_rounds(
        {
            "steady": figure("steady", [10.0, 30.0, 10.5]),
            "late": figure("late", [1.0, 2.0, 4.0, 4.2]),
            "wild": figure("wild", [1.0, 2.0, 4.0, 8.0, 16.0]),
        },
        rounds=3,
        most=5,
    )
    # three rounds of all, then only the figures without two agreeing rounds, until they agree
    assert log == ["steady", "late", "wild"] * 3 + ["late", "wild", "wild"]
    assert values == {"steady": 10.5, "late": 3.0, "wild": 4.0}  # medians: one spell cannot set one
    assert unsettled == ["wild"]


def test_an_order_over_the_limit_stays_counted_while_the_others_are_timed_side_by_side():
    from jacchain.jobs.analyze import measure
    from jacchain.jobs.plan import plan_orders

    planning = plan_orders(make_spec((64, 48, 32, 8)), ["input-first", "loss-first", "optimal"])
    # an order runs beside what every run holds, adding its peak of intermediates and its result
    needs = {p.order.name: planning.base_bytes + p.cost.peak_bytes + p.cost.result_bytes for p in planning.orders}
    assert needs["input-first"] > needs["loss-first"] >= needs["optimal"]
    result = measure(planning, limit=needs["loss-first"], repeats=3)  # loss-first fits exactly
    assert [r.order.name for r in result.orders] == [p.order.name for p in planning.orders]
    assert result.order("input-first").time is None  # counted, in its place
    assert [reason.order for reason in result.count_only] == ["input-first"]
    assert result.order("loss-first").time is not None and result.order("optimal").time is not None
    # a byte less and loss-first stays counted too, with what it needs and the limit said
    short = measure(planning, limit=needs["loss-first"] - 1, repeats=1)
    reasons = {reason.order: reason for reason in short.count_only}
    assert short.order("loss-first").time is None and "loss-first" in reasons
    assert (reasons["loss-first"].needed_bytes, reasons["loss-first"].limit_bytes) == (
        needs["loss-first"],
        needs["loss-first"] - 1,
    )


def test_a_function_too_quick_for_the_clock_gets_the_fewest_repeats(monkeypatch):
    monkeypatch.setattr(timing.time, "perf_counter", lambda: 1.0)  # a clock that never moves
    assert [t.repeats for t in time_alternating([lambda: None] * 2)] == [timing.MIN_REPEATS] * 2
    assert time_call(lambda: None).repeats == timing.MIN_REPEATS


def test_time_call_fills_the_budget_it_is_given(monkeypatch):
    ticks = iter(range(10**6))
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(ticks) * 1e-3)  # 1 ms per clock read
    monkeypatch.setattr(timing, "DEFAULT_TARGET_S", 0.2)  # the fixtures' 1 ms would give the fewest
    assert time_call(lambda: None, target_s=0.05).repeats == 50
    assert time_call(lambda: None).repeats == 200
