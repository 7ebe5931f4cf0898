"""What the plots draw, read back from matplotlib's figure before it is closed: every task of a
schedule a bar at its start, as long as its cost, on its machine, in its operation's colour;
every order of a sweep a line through its counts, and its times measured and modelled."""

from dataclasses import replace
from pathlib import Path

import pytest

from jacchain.chain.config import load_chain
from jacchain.jobs.chain import analyze_chain
from jacchain.jobs.sweep import parse_vary, run_sweep
from jacchain.model.spec import make_spec
from jacchain.run.timing import Timing

pytest.importorskip("matplotlib")

EXAMPLE = str(Path(__file__).parent.parent / "configs/jcdp-example.yaml")


@pytest.fixture
def figures(monkeypatch):
    """The figures the plots draw, kept open past their `plt.close` until the test ends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kept, close = [], plt.close
    monkeypatch.setattr(plt, "close", kept.append)
    yield kept
    for figure in kept:
        close(figure)


def test_the_gantt_chart_draws_each_task_where_the_schedule_puts_it(figures, tmp_path):
    from matplotlib.colors import to_rgba

    from jacchain.render.plot import gantt

    analysis = analyze_chain(load_chain(EXAMPLE), ["accumulate", "matrix-free"], machines=2)
    target = tmp_path / "schedule.png"
    gantt([analysis], str(target))
    assert target.stat().st_size > 1000
    (figure,) = figures
    colours = {"acc_tan": "C0", "acc_adj": "C1", "multiply": "C2", "tan": "C3", "adj": "C4"}
    axes = figure.axes
    assert len(axes) == 2  # one panel per scheduled order
    for axis, result in zip(axes, analysis.orders, strict=True):
        schedule = result.schedule
        bars = [(bar.get_x(), bar.get_width(), bar.get_y() + bar.get_height() / 2) for bar in axis.patches]
        assert bars == [(task.start, task.cost, task.machine) for task in schedule.tasks]
        assert [bar.get_facecolor() for bar in axis.patches] == [to_rgba(colours[t.kind]) for t in schedule.tasks]
        names = [
            f"{t.kind}[{t.first + 1}]" if t.first == t.last else f"{t.kind}[{t.first + 1}..{t.last + 1}]"
            for t in schedule.tasks
        ]
        assert [text.get_text() for text in axis.texts] == names
        assert [text.get_position() for text in axis.texts] == [
            (t.start + t.cost / 2, t.machine) for t in schedule.tasks
        ]
        assert [label.get_text() for label in axis.get_yticklabels()] == ["machine 0", "machine 1"]
        assert axis.yaxis_inverted() and axis.get_xlabel() == "multiply-adds"
        exact = "exact" if schedule.exact else f"best found, >= {schedule.lower_bound:,}"
        assert axis.get_title() == (
            f"jcdp-example: {result.order.name} on 2 machine(s), makespan {schedule.makespan:,} ({exact}); "
            f"DP heuristic {result.dp_heuristic:,}"
        )
    legend = figure.legends[0]
    assert [text.get_text() for text in legend.get_texts()] == list(colours)


def test_the_sweep_plot_draws_each_order_s_counts_and_times(figures, tmp_path, calibrate):
    from jacchain.render.plot import plot

    spec = make_spec((40, 20, 5))
    vary = parse_vary("input=8:64", spec)
    calibration = calibrate("float64", None)
    sweep = run_sweep(spec, vary, (8, 16, 64), analytic=True, calibration=calibration)
    # measured times set by hand on two of the three points (the third counted only)
    analyses = [
        replace(a, orders=tuple(replace(r, time=Timing(t, t, t, 3)) for r in a.orders)) if t else a
        for a, t in zip(sweep.analyses, (1e-3, 2e-3, None), strict=True)
    ]
    sweep = replace(sweep, analyses=tuple(analyses))
    plot(sweep, str(tmp_path / "sweep.svg"))
    (figure,) = figures
    flops_axis, time_axis = figure.axes
    names = [r.order.name for r in sweep.analyses[0].orders]
    lines = {line.get_label(): line for line in flops_axis.get_lines()}
    assert list(lines) == names
    for name in names:
        counts = [a.order(name).flops for a in sweep.analyses]
        assert list(lines[name].get_xdata()) == [8, 16, 64] and list(lines[name].get_ydata()) == counts
    timed = {line.get_label(): line for line in time_axis.get_lines()}
    assert list(timed) == [f"{name} ({kind})" for name in names for kind in ("measured", "model")]
    for name in names:
        assert list(timed[f"{name} (measured)"].get_xdata()) == [8, 16]
        assert list(timed[f"{name} (measured)"].get_ydata()) == [1e-3, 2e-3]
        predicted = [a.order(name).predicted_time for a in sweep.analyses]
        assert list(timed[f"{name} (model)"].get_ydata()) == predicted
        assert timed[f"{name} (model)"].get_linestyle() == "--"
    for axis, label in ((flops_axis, "FLOPs"), (time_axis, "seconds")):
        assert (axis.get_xscale(), axis.get_yscale()) == ("log", "log")
        assert axis.get_xlabel() == "input width" and axis.get_ylabel() == label
    assert flops_axis.get_title() == "40,20,5: FLOPs of each order"
