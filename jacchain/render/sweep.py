"""Render a sweep: a table per width and order, JSON, CSV and Markdown."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from ..jobs.sweep import Sweep
from .analysis import csv_rows, note, order_to_dict
from .base import Renderer, register
from .text import markdown_table, network_block, seconds_text

FIELDS = (
    "width",
    "order",
    "macs",
    "flops",
    "peak_bytes",
    "time_median_s",
    "time_min_s",
    "time_max_s",
    "predicted_time_s",
)


def rows(sweep: Sweep) -> list[dict[str, Any]]:
    """The analysis CSV rows of every width, cut to the sweep's columns."""
    return [
        {"width": width, **{key: row[key] for key in FIELDS[1:]}}
        for width, analysis in zip(sweep.widths, sweep.analyses)
        for row in csv_rows(analysis)
    ]


def to_dict(sweep: Sweep) -> dict[str, Any]:
    return {
        "network": network_block(sweep.spec),
        "vary": {"what": sweep.vary.what, "low": sweep.vary.low, "high": sweep.vary.high},
        "points": [
            {
                "width": width,
                "analytic": analysis.analytic,
                "note": note(analysis),
                "fixed_costs": analysis.fixed_costs.to_dict() if analysis.fixed_costs else None,
                "orders": {r.order.key: order_to_dict(r) for r in analysis.orders},
            }
            for width, analysis in zip(sweep.widths, sweep.analyses)
        ],
    }


def cells(sweep: Sweep) -> list[list[str]]:
    return [
        [
            f"{row['width']:,}",
            row["order"],
            f"{row['flops']:,}",
            seconds_text(row["time_median_s"]) if row["time_median_s"] != "" else "-",
            seconds_text(row["predicted_time_s"]) if row["predicted_time_s"] != "" else "-",
        ]
        for row in rows(sweep)
    ]


def headings(sweep: Sweep) -> list[str]:
    return [sweep.vary.what, "order", "FLOPs", "time (median)", "model time"]


def markdown(sweep: Sweep) -> str:
    return f"### jacchain sweep {sweep.spec.label}: {sweep.vary.what}\n\n" + markdown_table(
        headings(sweep), cells(sweep), [True, False, True, True, True]
    )


def table(sweep: Sweep) -> list[Any]:
    vary = sweep.vary
    grid = Table(
        title=f"jacchain sweep {sweep.spec.label}: {vary.what} from {vary.low:,} to {vary.high:,}",
        title_justify="left",
    )
    for heading in headings(sweep):
        grid.add_column(heading, justify="left" if heading == "order" else "right")
    for cell in cells(sweep):
        grid.add_row(*cell)
    return [grid]


register(Sweep, Renderer(to_dict, FIELDS, rows, markdown, table))
