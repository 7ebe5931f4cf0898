"""The command line: click commands that parse options, call the library and render."""

from .app import cli, main

__all__ = ["cli", "main"]
