"""The sentences under a network analysis, for measured times set by hand: how each order
compares with the cheapest, the time model's predicted and measured ratio, how close each
order runs to its prediction, and the note that the machine has drifted from its calibration."""

import math
from dataclasses import replace

import pytest

from jacchain.jobs.analyze import analyze
from jacchain.model.spec import make_spec
from jacchain.render import render
from jacchain.render.layout import to_text
from jacchain.run.timing import Timing


@pytest.fixture
def analysis(calibrate):
    """16,8,4 measured against a (fixed, fake) calibration: every order predicted."""
    calibration = calibrate("float64", None)
    result = analyze(make_spec((16, 8, 4), activation="tanh", seed=2), repeats=3, calibration=calibration)
    assert [r.order.name for r in result.orders] == ["loss-first", "input-first", "optimal"]
    assert all(r.predicted_time for r in result.orders) and result.calibration is not None
    return result


def timed(analysis, factors):
    """The analysis with each order's measured median set to `factor` times its prediction
    (None: not timed)."""
    orders = []
    for result, factor in zip(analysis.orders, factors, strict=True):
        seconds = None if factor is None else factor * result.predicted_time
        orders.append(replace(result, time=None if seconds is None else Timing(seconds, seconds, seconds, 3)))
    return replace(analysis, orders=tuple(orders))


def footer(analysis):
    return [line[2:] for line in render(analysis, "markdown").splitlines() if line.startswith("- ")]


def drift_notes(analysis):
    return [line for line in footer(analysis) if line.startswith("note: every order ran ")]


@pytest.mark.parametrize(
    "factors, how",
    [
        ((2, 2, 2), "2.0x slower"),
        ((2, 3, 4), "2.9x slower"),  # the geometric mean of the three: 24 ** (1/3) = 2.88
        ((1.6, 1.6, 1.6), "1.6x slower"),  # more than 1.5x off, every one the same way
        ((0.5, 0.5, 0.5), "2.0x faster"),
        ((1 / 1.6, 1 / 1.6, 1 / 1.6), "1.6x faster"),
        ((2, 2, None), "2.0x slower"),  # two timed orders are enough
        ((1.4, 1.4, 1.4), None),  # within 1.5x
        ((1 / 1.4, 1 / 1.4, 1 / 1.4), None),
        ((2, 2, 1.2), None),  # one order on its prediction
        ((2, 0.4, 2), None),  # missing both ways: no single drift
        ((2, None, None), None),  # one timed order says nothing of the machine
    ],
)
def test_the_drift_note_says_how_far_every_order_missed_its_prediction(analysis, factors, how):
    threads = analysis.calibration.threads
    expected = (
        []
        if how is None
        else [
            f"note: every order ran {how} than predicted; the machine has changed since it was calibrated: "
            f"`jacchain calibrate --dtype float64 --threads {threads}`"
        ]
    )
    assert drift_notes(timed(analysis, factors)) == expected


def test_the_orders_compared_with_the_cheapest_in_flops_and_time(analysis):
    lines = footer(timed(analysis, (1, 1, 1)))
    loss_first, input_first, optimal = analysis.orders
    assert optimal.flops == loss_first.flops < input_first.flops
    flops = input_first.flops / loss_first.flops
    seconds = input_first.predicted_time / loss_first.predicted_time
    assert f"input-first performs {flops:.2f}x the FLOPs of loss-first and takes {seconds:.2f}x the time" in lines
    assert "optimal costs the same FLOPs as loss-first" in lines
    assert not any(line.startswith(("loss-first performs", "optimal performs")) for line in lines)
    untimed = footer(timed(analysis, (None, 1, 1)))
    assert f"input-first performs {flops:.2f}x the FLOPs of loss-first" in untimed


def test_a_network_of_one_layer_costs_the_same_in_every_order():
    result = analyze(make_spec((5, 3)), analytic=True)
    assert footer(result)[0] == "input-first, optimal costs the same FLOPs as loss-first"


def test_predicted_against_measured_ratio_of_the_classic_orders(analysis):
    loss_first, input_first, _ = analysis.orders
    predicted = input_first.predicted_time / loss_first.predicted_time
    lines = footer(timed(analysis, (1, 3, 1)))
    assert f"input-first / loss-first time: predicted {predicted:,.1f}x, measured {3 * predicted:,.1f}x" in lines
    assert f"input-first / loss-first time: predicted {predicted:,.1f}x" in footer(timed(analysis, (None, 3, 1)))
    without = replace(analysis, orders=(loss_first, replace(input_first, predicted_time=None), analysis.orders[2]))
    assert not any(line.startswith("input-first / loss-first time") for line in footer(without))


def test_the_time_model_line_names_the_fixed_costs_and_the_objective(analysis):
    machine, calibration = analysis.machine, analysis.calibration
    (line,) = [line for line in footer(analysis) if line.startswith("time model per product: ")]
    assert analysis.fixed_costs is not None and machine.call_s == analysis.fixed_costs.call_s
    assert "(timed beside the orders; calibrated " in line and not line.endswith("(--cost time)")
    assert f"from `jacchain calibrate` (float64, {calibration.threads} thread(s))" in line
    counted = replace(analysis, fixed_costs=None)
    (line,) = [line for line in footer(counted) if line.startswith("time model per product: ")]
    assert "timed beside the orders" not in line
    (line,) = [line for line in footer(replace(analysis, cost="time")) if line.startswith("time model per product: ")]
    assert line.endswith("; optimal minimises predicted time (--cost time)")


def test_the_table_says_how_close_each_order_ran_to_its_prediction(analysis):
    text = to_text(render(timed(analysis, (2, 4, 1)), "table"), 250)
    assert [text.count(f"{share}% of limit") for share in (50, 25, 100)] == [1, 1, 1]
    assert math.isclose(timed(analysis, (2, 4, 1)).orders[0].fraction_of_limit, 0.5)


def test_two_orders_are_compared_and_one_is_not():
    two = analyze(make_spec((16, 8, 4)), orders=["loss-first", "input-first"], analytic=True)
    assert footer(two)[0].startswith("input-first performs ")
    one = analyze(make_spec((16, 8, 4)), orders=["input-first"], analytic=True)
    assert not any("performs" in line or "costs the same" in line for line in footer(one))
