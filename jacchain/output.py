"""Deliver rendered output: to the terminal, or atomically to a file (temp file + rename)."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

from rich.console import Console


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """Write text so that readers see the old file or the whole new one, never a part."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def renderables_to_text(renderables: Sequence[Any], width: int = 170) -> str:
    """Plain text of rich renderables, as a table would print without a terminal."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, no_color=True, force_terminal=False, highlight=False)
    for renderable in renderables:
        console.print(renderable)
    return buffer.getvalue()


def emit(rendered: Any, output: str | None) -> None:
    """Print rendered output (a string, or a list of rich renderables) or write it to a file."""
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
