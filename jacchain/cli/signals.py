"""Stopping on Ctrl-C (SIGINT) and SIGTERM, for certain.

A Python signal handler raises its exception in whatever bytecode the main thread runs next,
and some places turn that exception into another or drop it: Python 3.11 wraps it in a
RuntimeError when it lands in a class body's `__set_name__` (seen here: exit 70, "unexpected
RuntimeError"), and a stop that lands inside an import can be lost: a `jacchain train` told
to stop printed its stop line and kept training (seen in CI, and here 8 times in 1,120 stops
under load; the four traced had the handler run inside an import the command makes lazily).
One way it is lost: a weakref callback (importlib keeps one on each module lock) or a
`__del__` cannot raise, so Python reports the exception as unraisable, with a traceback, and
carries on. So the handler does at once what a stop must do, without relying on its
exception: it gives up every output being written (`io.abandon_outputs`), prints the one
error line, and arms a watchdog that ends the process with the signal's exit code (128 + the
signal) if unwinding has not ended it within GRACE_SECONDS. A second signal, or a stop
reported unraisable, ends it at once. Its exception still unwinds wherever it can, so a
progress bar puts the terminal back.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from .. import io

GRACE_SECONDS = 2.0
STOPS = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}


class Stopped(BaseException):
    """Raised by the handler: the process was told to stop; `code` is its exit code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


_stopping: int | None = None


def stopping() -> int | None:
    """The exit code of the stop under way, or None when no signal came."""
    return _stopping


def stop_message(signum: int) -> str:
    return f"Error: {STOPS[signal.Signals(signum)]}; nothing partial was written"


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Handle SIGINT and SIGTERM as the module says while the block runs (main thread only:
    Python delivers signals there and nowhere else)."""
    global _stopping
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _stopping = None
    previous = {signum: signal.signal(signum, _stop) for signum in STOPS}
    report = sys.unraisablehook

    def dropped(unraisable: Any) -> None:
        """Python drops an exception raised in a weakref callback or a `__del__` and reports it
        here: a dropped stop ends the process now, without the report's traceback."""
        if isinstance(unraisable.exc_value, Stopped):
            _exit_now(unraisable.exc_value.code)
        report(unraisable)

    sys.unraisablehook = dropped
    try:
        yield
    finally:
        sys.unraisablehook = report
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _stop(signum: int, frame: Any) -> None:
    global _stopping
    if _stopping is not None:
        _exit_now(_stopping)
    _stopping = code = 128 + signum
    io.abandon_outputs()
    # os.write, not a Python stream: the signal may have come while the main thread held the
    # stream's lock. On a terminal, first end the line that `^C` or a progress bar left.
    with contextlib.suppress(OSError):
        os.write(2, (("\n" if os.isatty(2) else "") + stop_message(signum) + "\n").encode())
    watchdog = threading.Timer(GRACE_SECONDS, _exit_now, args=(code,))
    watchdog.daemon = True
    watchdog.start()
    raise Stopped(code)


def _exit_now(code: int) -> None:
    io.abandon_outputs()
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os._exit(code)
