"""The CLI's error boundary: every way a command can fail becomes one `Error: ...` line on
stderr and its exit code (2 bad input or usage, 1 a failed run, 130 Ctrl-C, 143 SIGTERM,
141 the reader closed stdout, 70 a bug in jacchain: never a traceback)."""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..errors import JacchainError
from .signals import stop_message, stop_on_signals, stopping

F = TypeVar("F", bound=Callable[..., Any])


class InputError(click.ClickException):
    """A user error: one line on stderr, exit code 2."""

    exit_code = 2


class FailedError(click.ClickException):
    """The work itself failed (training diverged): one line on stderr, exit code 1."""

    exit_code = 1


def user_errors(command: F) -> F:
    """Turn library errors into clean one-line CLI errors at the boundary."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except JacchainError as error:
            raise (FailedError if error.exit_code == 1 else InputError)(str(error)) from None
        except MemoryError:
            raise InputError("out of memory; lower the sizes, or use --analytic to count without building") from None

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps the signature


class OneLineErrors(click.Group):
    """Every way a command can fail ends in one `Error: ...` line and its exit code: click's
    usage errors (2, without the usage block), library errors (2, or 1 for a diverged run),
    Ctrl-C (130) and SIGTERM (143, signals.py); a partly written output is never left behind
    (io.py)."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        with stop_on_signals():
            result = self._main(*args, **kwargs)
        code = stopping()
        if code is not None:  # the stop's exception was swallowed and the command ran on
            sys.exit(code)
        return result

    def _main(self, *args: Any, **kwargs: Any) -> Any:
        try:
            try:
                return super().main(*args, **kwargs)
            except BaseException:
                code = stopping()
                if code is not None:  # whatever the stop's exception became, it ends the same way
                    sys.exit(code)
                raise
        except click.exceptions.NoArgsIsHelpError as error:
            click.echo(error.ctx.get_help() if error.ctx else str(error))
            sys.exit(2)
        except click.UsageError as error:
            message = error.format_message()
            if isinstance(error, click.NoSuchOption):
                message = _negative_width(error.option_name, _arguments(args, kwargs)) or message
            click.echo(f"Error: {message}", err=True)
            sys.exit(2)
        except click.ClickException as error:
            error.show()
            sys.exit(error.exit_code)
        except (KeyboardInterrupt, click.Abort):
            click.echo(stop_message(signal.SIGINT), err=True)
            sys.exit(130)
        except BrokenPipeError:
            # The reader closed stdout (`jacchain ... | head`): stop quietly, as SIGPIPE would.
            _silence_stdout()
            sys.exit(141)
        except (SystemExit, click.exceptions.Exit):
            raise
        except Exception as error:
            if os.environ.get("JACCHAIN_DEBUG"):
                raise
            click.echo(
                f"Error: unexpected {type(error).__name__}: {_one_line(error)} (a bug in jacchain: please report it "
                "with the command line; JACCHAIN_DEBUG=1 shows the traceback)",
                err=True,
            )
            sys.exit(70)


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else "no message"


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that Python's flush at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str]:
    given = kwargs.get("args", args[0] if args else None)
    return list(given) if given is not None else sys.argv[1:]


def _negative_width(option: str, arguments: list[str]) -> str | None:
    """A size list with a negative first width ("-3,4") reaches click as an unknown option:
    say what is wrong with it as a spec instead."""
    from ..model.spec import parse_sizes

    for token in arguments:
        if token.startswith(option) and "," in token and token.lstrip("-")[:1].isdigit():
            try:
                parse_sizes(token)
            except JacchainError as error:
                return str(error)
    return None
