"""A sweep drawn: FLOPs and time of every order against the varied width, log-log."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..cost.ratio import FLOAT_MAX
from ..errors import JacchainError
from ..io import write_with
from ..jobs.chain import ChainAnalysis
from ..jobs.sweep import Sweep


def check_plot_path(path: str) -> None:
    """Refuse, before any work, a plot that cannot be drawn: wrong extension, no matplotlib."""
    if Path(path).suffix.lower() not in (".png", ".svg"):
        raise JacchainError(f"--plot {path!r}: the file must end in .png or .svg")
    from importlib.util import find_spec

    if find_spec("matplotlib") is None:
        raise JacchainError("plotting needs matplotlib: pip install 'jacchain[plot]'")


def plot(sweep: Sweep, path: str) -> None:
    """FLOPs and time against the varied width, log-log, one line per order; the time model
    dashed. Written atomically; the format follows the extension (.png, .svg)."""
    check_plot_path(path)
    largest = max(r.flops for analysis in sweep.analyses for r in analysis.orders)
    if largest >= FLOAT_MAX:
        raise JacchainError(
            f"--plot {path}: counts of {len(str(largest))} digits are beyond what a plot axis can hold; "
            "drop --plot (the table and JSON show them exactly)"
        )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    suffix = Path(path).suffix.lower()
    figure, (flops_axis, time_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    names = [r.order.name for r in sweep.analyses[0].orders]
    for index, name in enumerate(names):
        # Orders that coincide (optimal is often loss-first) stay visible: earlier lines are wider.
        colour, marker, width = f"C{index}", "os^v"[index % 4], 3.2 - index
        results = [a.order(name) for a in sweep.analyses]
        flops_axis.plot(
            sweep.widths,
            [r.flops for r in results],
            marker=marker,
            color=colour,
            label=name,
            markersize=4,
            linewidth=width,
        )
        timed = [(w, r.time.median) for w, r in zip(sweep.widths, results) if r.time]
        if timed:
            time_axis.plot(
                *zip(*timed), marker=marker, color=colour, label=f"{name} (measured)", markersize=4, linewidth=width
            )
        predicted = [(w, r.predicted_time) for w, r in zip(sweep.widths, results) if r.predicted_time]
        if predicted:
            time_axis.plot(*zip(*predicted), "--", color=colour, label=f"{name} (model)", linewidth=1)
    for axis, label in ((flops_axis, "FLOPs"), (time_axis, "seconds")):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel(f"{sweep.vary.what} width")
        axis.set_ylabel(label)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    flops_axis.set_title(f"{sweep.spec.label}: FLOPs of each order")
    time_axis.set_title("time of the chain product")
    figure.tight_layout()
    try:
        write_with(path, lambda temporary: figure.savefig(temporary, dpi=120, format=suffix[1:]), suffix=suffix)
    finally:
        plt.close(figure)


GANTT_COLOURS = {"acc_tan": "C0", "acc_adj": "C1", "multiply": "C2", "tan": "C3", "adj": "C4"}


def gantt(analyses: Sequence[ChainAnalysis], path: str) -> None:
    """Every scheduled order of every chain as a Gantt chart: one row per machine, one bar per
    task (coloured by operation), start and end in multiply-adds. Written atomically."""
    check_plot_path(path)
    panels = [(a, r) for a in analyses for r in a.orders if r.schedule is not None]
    if not panels:
        raise JacchainError("--plot: nothing was scheduled (give --machines, and the accumulate or matrix-free order)")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    figure, axes = plt.subplots(
        len(panels),
        1,
        figsize=(10, 1.2 + 0.9 * sum(r.schedule.machines for _, r in panels if r.schedule)),
        squeeze=False,
    )
    for axis, (analysis, result) in zip(axes[:, 0], panels):
        schedule = result.schedule
        assert schedule is not None
        for task in schedule.tasks:
            axis.barh(task.machine, task.cost, left=task.start, color=GANTT_COLOURS[str(task.kind)], edgecolor="black")
            label = (
                f"{task.kind}[{task.first + 1}..{task.last + 1}]"
                if task.first != task.last
                else f"{task.kind}[{task.first + 1}]"
            )
            axis.text(task.start + task.cost / 2, task.machine, label, ha="center", va="center", fontsize=7)
        axis.set_yticks(range(schedule.machines), [f"machine {m}" for m in range(schedule.machines)])
        axis.invert_yaxis()
        exact = "exact" if schedule.exact else f"best found, >= {schedule.lower_bound:,}"
        axis.set_title(
            f"{analysis.chain.label}: {result.order.name} on {schedule.machines} machine(s), makespan "
            f"{schedule.makespan:,} ({exact}); DP heuristic {result.dp_heuristic:,}",
            fontsize=9,
        )
        axis.set_xlabel("multiply-adds")
    figure.legend(
        handles=[Patch(color=colour, label=kind) for kind, colour in GANTT_COLOURS.items()],
        loc="upper right",
        fontsize=7,
    )
    figure.tight_layout()
    suffix = Path(path).suffix.lower()
    try:
        write_with(path, lambda temporary: figure.savefig(temporary, dpi=120, format=suffix[1:]), suffix=suffix)
    finally:
        plt.close(figure)
