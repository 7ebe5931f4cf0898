"""Reading users' files and writing outputs atomically (temp file in the same folder + rename)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import JacchainError


def read_text(path: str, missing: str) -> str:
    """A user's file as text; a missing or unreadable file is a JacchainError (`missing` says
    what to do about a missing one)."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise JacchainError(missing) from None
    except (OSError, UnicodeDecodeError) as error:
        raise JacchainError(f"{path}: cannot read: {error}") from None


def write_with(path: str | os.PathLike[str], write: Callable[[str], None], suffix: str = ".tmp") -> None:
    """Let `write(temporary_path)` produce the file, then rename it over `path`, so readers see
    the old file or the whole new one, never a part; the temporary goes on any failure."""
    target = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write text atomically, flushed to disk before the rename."""

    def write(temporary: str) -> None:
        with open(temporary, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())

    write_with(path, write)
