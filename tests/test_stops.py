"""The error boundary and the signal handler in this process, where test_hostile.py sees them
from outside in child processes: what the handler does at once (one line, outputs abandoned,
a watchdog armed), a second signal and a dropped stop ending the process, and the exit codes
of a bug, a closed pipe and JACCHAIN_DEBUG."""

import os
import signal
import sys
import threading

import pytest
from click.testing import CliRunner

from jacchain.cli import cli, errors, signals


class ExitError(Exception):
    """Stands in for os._exit, which would end the test run."""


@pytest.fixture
def handler(monkeypatch):
    """_stop with its effects on the process recorded instead of made."""
    done: dict[str, list] = {"written": [], "abandoned": [], "timers": [], "exits": []}

    class Timer:
        def __init__(self, interval, function, args):
            self.interval, self.function, self.args, self.daemon, self.started = interval, function, args, None, False
            done["timers"].append(self)

        def start(self):
            self.started = True

    monkeypatch.setattr(signals, "_stopping", None)
    monkeypatch.setattr(signals.os, "write", lambda fd, data: done["written"].append((fd, data)))
    monkeypatch.setattr(signals.os, "isatty", lambda fd: False)
    monkeypatch.setattr(signals.io, "abandon_outputs", lambda: done["abandoned"].append(True))
    monkeypatch.setattr(signals.threading, "Timer", Timer)
    monkeypatch.setattr(
        signals.os, "_exit", lambda code: done["exits"].append(code) or (_ for _ in ()).throw(ExitError)
    )
    return done


@pytest.mark.parametrize("signum, word", [(signal.SIGTERM, "terminated"), (signal.SIGINT, "interrupted")])
def test_a_signal_writes_one_line_abandons_the_outputs_and_arms_a_watchdog(handler, signum, word):
    with pytest.raises(signals.Stopped) as stopped:
        signals._stop(signum, None)
    assert stopped.value.code == 128 + signum == signals.stopping()
    assert handler["written"] == [(2, f"Error: {word}; nothing partial was written\n".encode())]
    assert handler["abandoned"] == [True]
    (watchdog,) = handler["timers"]
    assert (watchdog.interval, watchdog.args, watchdog.daemon, watchdog.started) == (
        signals.GRACE_SECONDS,
        (128 + signum,),
        True,  # it never keeps a finished process alive
        True,
    )
    # the watchdog, when it fires, ends the process with the signal's code
    with pytest.raises(ExitError):
        watchdog.function(*watchdog.args)
    assert handler["exits"] == [128 + signum]


def test_on_a_terminal_the_line_starts_on_a_line_of_its_own(handler, monkeypatch):
    monkeypatch.setattr(signals.os, "isatty", lambda fd: fd == 2)
    with pytest.raises(signals.Stopped):
        signals._stop(signal.SIGTERM, None)
    assert handler["written"] == [(2, b"\nError: terminated; nothing partial was written\n")]


def test_a_second_signal_ends_the_process_at_once_with_the_first_s_code(handler):
    with pytest.raises(signals.Stopped):
        signals._stop(signal.SIGTERM, None)
    with pytest.raises(ExitError):
        signals._stop(signal.SIGINT, None)
    assert handler["exits"] == [143] and len(handler["written"]) == 1


def test_a_closed_stderr_does_not_keep_the_stop_from_being_made(handler, monkeypatch):
    def closed(fd, data):
        raise OSError("bad file descriptor")

    monkeypatch.setattr(signals.os, "write", closed)
    with pytest.raises(signals.Stopped):
        signals._stop(signal.SIGTERM, None)
    assert handler["abandoned"] == [True] and handler["timers"][0].started


def test_a_stop_python_drops_as_unraisable_ends_the_process_and_others_are_reported(handler, monkeypatch):
    reported = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)
    with signals.stop_on_signals():
        assert signal.getsignal(signal.SIGTERM) is signals._stop is signal.getsignal(signal.SIGINT)
        other = type("Unraisable", (), {"exc_value": ValueError("x")})()
        sys.unraisablehook(other)
        assert reported == [other]
        with pytest.raises(ExitError):
            sys.unraisablehook(type("Unraisable", (), {"exc_value": signals.Stopped(130)})())
        assert handler["exits"] == [130] and reported == [other]
    # the hook and the handlers are put back
    assert sys.unraisablehook == reported.append
    assert signal.getsignal(signal.SIGTERM) is not signals._stop


def test_no_handlers_off_the_main_thread():
    seen = []

    def run():
        with signals.stop_on_signals():
            seen.append(signal.getsignal(signal.SIGTERM))

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == [before]


def fails_with(monkeypatch, error):
    def analyze(*args, **kwargs):
        raise error

    monkeypatch.setattr("jacchain.jobs.analyze.analyze", analyze)
    return CliRunner().invoke(cli, ["analyze", "8,4"])


@pytest.mark.parametrize(
    "error, said",
    [
        (RuntimeError("the first line\nand a second"), "RuntimeError: the first line"),
        (KeyError(), "KeyError: no message"),
    ],
)
def test_a_bug_is_one_line_naming_it_with_exit_70(monkeypatch, error, said):
    monkeypatch.delenv("JACCHAIN_DEBUG", raising=False)
    result = fails_with(monkeypatch, error)
    assert result.exit_code == 70 and result.stdout == ""
    assert result.stderr == (
        f"Error: unexpected {said} (a bug in jacchain: please report it with the command line; "
        "JACCHAIN_DEBUG=1 shows the traceback)\n"
    )


def test_jacchain_debug_lets_the_bug_through(monkeypatch):
    monkeypatch.setenv("JACCHAIN_DEBUG", "1")
    result = fails_with(monkeypatch, RuntimeError("shown"))
    assert isinstance(result.exception, RuntimeError) and str(result.exception) == "shown"


def test_a_closed_pipe_ends_quietly_with_exit_141(monkeypatch):
    result = fails_with(monkeypatch, BrokenPipeError())
    assert (result.exit_code, result.stdout, result.stderr) == (141, "", "")


def test_after_a_closed_pipe_stdout_goes_to_the_null_device(monkeypatch, tmp_path):
    with open(tmp_path / "stdout", "w") as stdout:
        monkeypatch.setattr(sys, "stdout", stdout)
        errors._silence_stdout()
        assert os.path.samestat(os.fstat(stdout.fileno()), os.stat(os.devnull))
        stdout.write("lost")
    assert (tmp_path / "stdout").read_text() == ""
