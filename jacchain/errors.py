"""The one exception type for bad user input; the CLI turns it into exit code 2."""


class JacchainError(ValueError):
    """A user-facing error: the message names the bad value and what is allowed."""


class MemoryLimitError(JacchainError):
    """An explicit run would need more memory than --max-memory allows."""


def read_text(path: str, missing: str) -> str:
    """A user's file as text; a missing or unreadable file is a JacchainError (`missing` says
    what to do about a missing one)."""
    from pathlib import Path

    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise JacchainError(missing) from None
    except (OSError, UnicodeDecodeError) as error:
        raise JacchainError(f"{path}: cannot read: {error}") from None
