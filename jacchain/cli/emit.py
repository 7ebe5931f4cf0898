"""Deliver rendered output: to the terminal, to a pipe, or to a file under the output rules
(io.py). Tables are fitted to the width so that no number is ever cut (render/layout.py)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from ..io import STDOUT, write_atomic
from .signals import Stopped, stopping

FILE_WIDTH = 170  # the width of tables written to a file or a pipe, unless COLUMNS says otherwise


def output_width() -> int:
    """COLUMNS where it is a sensible number, else FILE_WIDTH."""
    text = os.environ.get("COLUMNS", "")
    return int(text) if text.isascii() and text.isdigit() and 20 <= int(text) <= 10_000 else FILE_WIDTH


def renderables_to_text(renderables: Sequence[Any], width: int | None = None) -> str:
    """Plain text of rich renderables, fitted to the width, without trailing padding."""
    from ..render.layout import to_text

    return to_text(renderables, width or output_width())


def emit(rendered: Any, output: str | None) -> None:
    """Print rendered output (a string, or a list of rich renderables) or write it to a file."""
    code = stopping()
    if code is not None:  # the stop's exception was lost on the way (signals.py): show nothing
        raise Stopped(code)
    if output == STDOUT:
        output = None
    if isinstance(rendered, str):
        if output:
            write_atomic(output, rendered)
        else:
            click.echo(rendered, nl=False)
        return
    if output:
        write_atomic(output, renderables_to_text(rendered))
    elif sys.stdout.isatty():
        from rich.console import Console

        from ..render.layout import fit

        console = Console(highlight=False)
        for renderable in fit(rendered, console.width):
            console.print(renderable, crop=False)
    else:
        click.echo(renderables_to_text(rendered), nl=False)
