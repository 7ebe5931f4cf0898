"""Fit rich tables to a width without ever cutting a number.

The numbers are what jacchain exists to show, so a table that does not fit gives up its text
first: text columns wrap between words (never narrower than their longest word, so a row's
label cannot vanish), then the text columns after the first are dropped one by one, and if
the numbers and the rows' labels still do not fit whole, the table is laid out vertically
(one block per row, one `heading: value` line per cell, never wrapped by the console)."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

_NUMBER = re.compile(r"\S*\d\S*")


def _plain(cell: Any) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def _numbers(table: Table) -> set[str]:
    """Every whitespace-free token of every cell that holds a digit."""
    return {token for column in table.columns for cell in column.cells for token in _NUMBER.findall(_plain(cell))}


def _text_of(renderable: Any, width: int) -> str:
    console = Console(file=io.StringIO(), width=width, no_color=True, force_terminal=False, highlight=False)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]  # the StringIO given above


def _whole(table: Table, numbers: set[str], width: int) -> bool:
    text = _text_of(table, width)
    return all(number in text for number in numbers) and all(word in text for word in _words(table.columns[0]))


def _words(column: Any) -> set[str]:
    return {word for cell in column.cells for word in _plain(cell).split()}


def _heading(column: Any) -> str:
    return _plain(column.header)


def vertical(table: Table) -> Group:
    """One block per row: the first cell, then `heading: value` for every other cell, each
    line unwrapped (soft wrap) so that no number is split."""
    blocks: list[Any] = []
    columns = table.columns
    cells = [[_plain(cell) for cell in column.cells] for column in columns]
    for row in range(table.row_count):
        lines = []
        first = cells[0][row].split("\n")
        label = _heading(columns[0]) if table.show_header and _heading(columns[0]) else ""
        lines.append(f"{label}: {first[0]}" if label else first[0])
        lines += [f"  {line}" for line in first[1:] if line]
        for column, values in zip(columns[1:], cells[1:]):
            value = values[row].replace("\n", "; ")
            heading = _heading(column) if table.show_header else ""
            lines.append(f"  {heading}: {value}" if heading else f"  {value}")
        blocks.append(Text("\n".join(lines), no_wrap=True, overflow="ignore"))
    return Group(*blocks)


def fit_table(table: Table, width: int) -> Any:
    """The table, or a narrower version of it, or its vertical layout: whichever first shows
    every number whole at `width`; its title a line of its own above it, wrapped at `width`
    (rich wraps a title at the table's width: a narrow table cut a bracketing in two)."""
    title, table.title = table.title, None
    fitted = _fit_untitled(table, width)
    if not title:
        return fitted
    heading = Text(title, style="table.title") if isinstance(title, str) else title
    heading.justify = table.title_justify
    return Group(heading, fitted)


def _fit_untitled(table: Table, width: int) -> Any:
    numbers, original = _numbers(table), list(table.columns)
    for column in table.columns:
        if column.justify == "right":
            column.no_wrap = True
        else:  # text wraps between its words, and a column never narrows below its longest word
            column.no_wrap, column.overflow = False, "fold"
            column.min_width = max(map(len, _words(column)), default=None)
    if _whole(table, numbers, width):
        return table
    if table.show_header:
        for column in [c for c in table.columns[1:] if c.justify != "right"][::-1]:
            table.columns.remove(column)
            if _whole(table, _numbers(table), width):
                return table
    table.columns[:] = original
    return vertical(table)


def fit(renderables: Sequence[Any], width: int) -> list[Any]:
    """Every table among the renderables (inside groups too) fitted to `width`."""
    fitted: list[Any] = []
    for renderable in renderables:
        if isinstance(renderable, Table):
            fitted.append(fit_table(renderable, width))
        elif isinstance(renderable, Group):
            fitted.append(Group(*fit(list(renderable.renderables), width)))
        else:
            fitted.append(renderable)
    return fitted


def to_text(renderables: Sequence[Any], width: int) -> str:
    """Plain text of the renderables fitted to `width`, without trailing padding."""
    console = Console(file=io.StringIO(), width=width, no_color=True, force_terminal=False, highlight=False)
    for renderable in fit(renderables, width):
        console.print(renderable, crop=False)  # the vertical layout's lines may be wider
    text: str = console.file.getvalue()  # type: ignore[attr-defined]  # the StringIO given above
    return "".join(line.rstrip() + "\n" for line in text.splitlines())
