"""Render a baseline check: a one-line summary when equal, a table of what changed otherwise."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..jobs.regress import CheckResult
from .base import Renderer, register
from .text import markdown_table

HEADINGS = ("config", "setting", "order", "field", "baseline", "now", "change")


def summary(result: CheckResult) -> str:
    if result.updated:
        return (
            f"updated {result.baseline_path}: {len(result.configs)} config(s) written "
            f"({len(result.changes)} changed value(s), {len(result.added)} added), {len(result.kept)} kept, "
            f"{len(result.pruned)} pruned"
        )
    if result.ok:
        return f"FLOP counts match {result.baseline_path}: {result.compared} config(s), every order and setting"
    return (
        f"FLOP counts differ from {result.baseline_path}: {len(result.changes)} changed value(s), "
        f"{len(result.added)} config(s) added, {len(result.removed)} removed (config file gone)"
    )


def change_text(difference: int | None, percent: float | None) -> str:
    """The exact difference and its share of the baseline, never rounded to nothing: a count
    that moved by one in a million reads `-1 (-<0.01%)`, not `-0.00%`.

    >>> change_text(46_080, 19.4), change_text(-1, -0.0000934), change_text(5, None), change_text(None, None)
    ('+46,080 (+19.40%)', '-1 (-<0.01%)', '+5', '-')
    """
    if difference is None:
        return "-"
    if percent is None:
        return f"{difference:+,}"
    share = f"{percent:+.2f}%" if round(percent, 2) else f"{'+' if percent > 0 else '-'}<0.01%"
    return f"{difference:+,} ({share})"


def rows(result: CheckResult) -> list[list[str]]:
    table = []
    for change in result.changes:
        table.append(
            [
                change.config,
                change.setting,
                change.order,
                change.field,
                "-" if change.baseline is None else f"{change.baseline:,}",
                "-" if change.now is None else f"{change.now:,}",
                change_text(change.difference, change.percent),
            ]
        )
    table += [[name, "-", "-", "-", "-", "(new config, not in baseline)", "added"] for name in result.added]
    gone = "pruned" if result.pruned else "removed"
    table += [[name, "-", "-", "-", "(in baseline)", "(config file gone)", gone] for name in result.removed]
    return table


def to_dict(result: CheckResult) -> dict[str, Any]:
    return {
        "baseline": result.baseline_path,
        "ok": result.ok,
        "updated": result.updated,
        "configs": list(result.configs),
        "compared": result.compared,
        "changes": [
            {
                "config": c.config,
                "setting": c.setting,
                "order": c.order,
                "field": c.field,
                "baseline": c.baseline,
                "now": c.now,
                "difference": c.difference,
                "change_percent": c.percent,
            }
            for c in result.changes
        ],
        "added": list(result.added),
        "removed": list(result.removed),
        "kept": list(result.kept),
        "pruned": list(result.pruned),
    }


def csv_rows(result: CheckResult) -> list[dict[str, Any]]:
    return [dict(zip(HEADINGS, row)) for row in rows(result)]


def markdown(result: CheckResult) -> str:
    text = f"**jacchain check**: {summary(result)}\n"
    if rows(result):
        text += "\n" + markdown_table(HEADINGS, rows(result), [False] * 4 + [True] * 3)
    return text


def table(result: CheckResult) -> list[Any]:
    if not rows(result):
        return [Text(summary(result))]
    grid = Table(title=summary(result), title_justify="left")
    for heading in HEADINGS:
        grid.add_column(heading, justify="right" if heading in ("baseline", "now", "change") else "left")
    for row in rows(result):
        grid.add_row(*row)
    return [Group(grid)]


register(CheckResult, Renderer(to_dict, HEADINGS, csv_rows, markdown, table))
