"""Render a sweep: a table per width and order, JSON, CSV, Markdown, and a log-log plot."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from rich.table import Table

from .errors import JacchainError
from .formats import markdown_table, seconds_text, to_csv, to_json
from .report import order_to_dict
from .sweep import Sweep

FIELDS = ("width", "order", "macs", "flops", "peak_bytes", "time_median_s", "time_min_s", "time_max_s",
          "predicted_time_s")


def rows(sweep: Sweep) -> list[dict[str, Any]]:
    table = []
    for width, analysis in zip(sweep.widths, sweep.analyses):
        for result in analysis.orders:
            t = result.time
            table.append({
                "width": width, "order": result.order.name, "macs": result.macs, "flops": result.flops,
                "peak_bytes": result.peak_bytes,
                "time_median_s": t.median if t else "", "time_min_s": t.min if t else "",
                "time_max_s": t.max if t else "",
                "predicted_time_s": result.predicted_time if result.predicted_time is not None else "",
            })
    return table


def to_dict(sweep: Sweep) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "network": {"name": sweep.spec.name, "sizes": list(sweep.spec.sizes)},
        "vary": {"what": sweep.vary.what, "low": sweep.vary.low, "high": sweep.vary.high},
        "points": [
            {"width": width, "analytic": analysis.analytic, "note": analysis.note,
             "orders": {r.order.key: order_to_dict(r) for r in analysis.orders}}
            for width, analysis in zip(sweep.widths, sweep.analyses)
        ],
    }


def render_sweep(sweep: Sweep, fmt: str) -> Any:
    if fmt == "json":
        return to_json(to_dict(sweep))
    if fmt == "csv":
        return to_csv(rows(sweep), FIELDS)
    cells = [[f"{row['width']:,}", row["order"], f"{row['flops']:,}",
              seconds_text(row["time_median_s"]) if row["time_median_s"] != "" else "-",
              seconds_text(row["predicted_time_s"]) if row["predicted_time_s"] != "" else "-"]
             for row in rows(sweep)]
    headings = [sweep.vary.what, "order", "FLOPs", "time (median)", "model time"]
    if fmt == "markdown":
        return f"### jacchain sweep {sweep.spec.label}: {sweep.vary.what}\n\n" + markdown_table(
            headings, cells, [True, False, True, True, True])
    table = Table(title=f"jacchain sweep {sweep.spec.label}: {sweep.vary.what} from {sweep.vary.low:,} to "
                        f"{sweep.vary.high:,}", title_justify="left")
    for heading in headings:
        table.add_column(heading, justify="left" if heading == "order" else "right")
    for cell in cells:
        table.add_row(*cell)
    return [table]


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
        flops_axis.plot(sweep.widths, [r.flops for r in results], marker=marker, color=colour, label=name,
                        markersize=4, linewidth=width)
        timed = [(w, r.time.median) for w, r in zip(sweep.widths, results) if r.time]
        if timed:
            time_axis.plot(*zip(*timed), marker=marker, color=colour, label=f"{name} (measured)", markersize=4,
                           linewidth=width)
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
    directory = Path(path).parent if str(Path(path).parent) else Path(".")
    handle, temporary = tempfile.mkstemp(prefix=f".{Path(path).name}.", suffix=suffix, dir=directory)
    os.close(handle)
    try:
        figure.savefig(temporary, dpi=120)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    finally:
        plt.close(figure)
