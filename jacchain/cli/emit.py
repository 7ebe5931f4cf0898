"""Deliver rendered output: to the terminal, or atomically to a file (temp file + rename)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from rich.console import Console

from ..io import STDOUT, write_atomic


def renderables_to_text(renderables: Sequence[Any], width: int = 170) -> str:
    """Plain text of rich renderables, as a table would print without a terminal."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, no_color=True, force_terminal=False, highlight=False)
    for renderable in renderables:
        console.print(renderable)
    return buffer.getvalue()


def emit(rendered: Any, output: str | None) -> None:
    """Print rendered output (a string, or a list of rich renderables) or write it to a file."""
    if output == STDOUT:
        output = None
    if isinstance(rendered, str):
        if output:
            write_atomic(output, rendered)
        else:
            import click

            click.echo(rendered, nl=False)
        return
    if output:
        write_atomic(output, renderables_to_text(rendered))
        return
    import sys

    # Off a terminal rich assumes 80 columns, too narrow for the tables; use a fixed width.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 170)
    for renderable in rendered:
        console.print(renderable)
