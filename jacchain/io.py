"""Reading users' files and writing outputs safely.

The output rules live here and nowhere else: `-` is stdout; a regular file is replaced
atomically (temporary file in the same folder, fsync, rename) keeping its mode, a new file
follows the umask; a symlink is followed and its target written; a device or FIFO is written
through, never replaced; a read-only file is refused; an output that is also an input of the
same command is refused. A temporary file never outlives a failure, Ctrl-C or SIGTERM: the
temporaries being written are known (`abandon_outputs` removes them, and nothing is published
after it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from .errors import JacchainError

STDOUT = "-"

_pending: set[str] = set()  # the temporaries being written now
_abandoned = False


def read_text(path: str, missing: str, folder: str | None = None) -> str:
    """A user's file as text; a missing or unreadable file is a JacchainError (`missing` says
    what to do about a missing one, `folder` about a folder given in its place)."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise JacchainError(missing) from None
    except IsADirectoryError:
        raise JacchainError(folder or f"{path}: is a folder, not a file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise JacchainError(f"{path}: cannot read: {_reason(error)}") from None


def _reason(error: BaseException) -> str:
    return error.strerror if isinstance(error, OSError) and error.strerror else str(error)


def check_writable(path: str) -> None:
    """Refuse, before any work, an output that cannot or must not be written: a missing
    folder, a folder, a read-only file. `-` (stdout) is always writable."""
    if path == STDOUT:
        return
    target = Path(os.path.realpath(path))
    if target.is_dir():
        raise JacchainError(f"cannot write {path}: it is a folder")
    if not target.parent.is_dir():
        raise JacchainError(f"cannot write {path}: folder {target.parent} does not exist")
    if target.exists():
        mode = target.stat().st_mode
        if stat.S_ISREG(mode) and (not mode & 0o222 or not os.access(target, os.W_OK)):
            raise JacchainError(f"cannot write {path}: it is read-only; change its mode or choose another file")
    elif not os.access(target.parent, os.W_OK | os.X_OK):
        raise JacchainError(f"cannot write {path}: folder {target.parent} is not writable")


def refuse_overlap(outputs: Mapping[str, str | None], inputs: Iterable[str]) -> None:
    """Refuse an output that is one of the command's inputs, or another of its outputs: writing
    it would destroy what the command reads (or what it just wrote)."""
    inputs = [path for path in inputs if path != STDOUT and is_file(path)]
    seen: dict[str, str] = {}
    for option, path in outputs.items():
        if path is None or path == STDOUT:
            continue
        for source in inputs:
            if _same_file(path, source):
                raise JacchainError(f"{option} {path} is one of this command's inputs ({source}); choose another file")
        real = os.path.realpath(path)
        if real in seen:
            raise JacchainError(f"{option} {path} is also the {seen[real]} output; choose two different files")
        seen[real] = option


def is_file(path: str) -> bool:
    """Whether `path` names an existing regular file; False for any name the OS refuses (too
    long, a NUL byte) rather than an error: such a string is not a file anyone gave."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _new_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_with(path: str | os.PathLike[str], write: Callable[[str], None], suffix: str = ".tmp") -> None:
    """Let `write(file_path)` produce the output at `path` under the output rules (module doc):
    readers see the old file or the whole new one, never a part."""
    target = Path(os.path.realpath(path))  # a symlink's target is what gets written
    try:
        existing = target.stat().st_mode
    except FileNotFoundError:
        existing = None
    except OSError as error:
        raise JacchainError(f"cannot write {path}: {_reason(error)}") from None
    if existing is not None and not stat.S_ISREG(existing):
        _write_through(path, target, write)
        return
    mode = stat.S_IMODE(existing) if existing is not None else _new_file_mode()
    try:
        with _signals_held():  # a stop between creating the temporary and noting it would leak it
            handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
            _pending.add(temporary)
    except OSError as error:
        raise JacchainError(f"cannot write {path}: {_reason(error)}") from None
    os.close(handle)
    try:
        write(temporary)
        os.chmod(temporary, mode)
        _refuse_if_abandoned(path)
        os.replace(temporary, target)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise JacchainError(f"cannot write {path}: {_reason(error)}") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    finally:
        _pending.discard(temporary)


def abandon_outputs() -> None:
    """Give up every output this process is writing: remove the temporaries being written now
    and publish nothing from here on. For a process that was told to stop (cli/signals.py)."""
    global _abandoned
    _abandoned = True
    for temporary in list(_pending):
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def _refuse_if_abandoned(path: str | os.PathLike[str]) -> None:
    if _abandoned:
        raise JacchainError(f"{path} not written: the run was stopped")


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold back SIGINT and SIGTERM while the block runs (where the platform allows)."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - Windows
        yield
        return
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _write_through(path: str | os.PathLike[str], target: Path, write: Callable[[str], None]) -> None:
    """A device or FIFO: write into it; replacing it would turn /dev/null into a file."""
    _refuse_if_abandoned(path)
    try:
        write(str(target))
    except OSError as error:
        raise JacchainError(f"cannot write {path}: {_reason(error)}") from None


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write text under the output rules, flushed to disk before the rename."""

    def write(file_path: str) -> None:
        with open(file_path, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            if stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                os.fsync(handle.fileno())

    write_with(path, write)


@contextlib.contextmanager
def locked(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on `folder` (flock on the directory itself, so no lock file is
    left behind) while a read-modify-write of a file in it runs; a no-op without fcntl."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)
