"""The exception types the library raises for the user; the CLI maps them to exit codes."""


class JacchainError(ValueError):
    """A user-facing error: the message names the bad value and what is allowed (exit 2)."""

    exit_code = 2


class MemoryLimitError(JacchainError):
    """An explicit run would need more memory than --max-memory allows."""

    def __init__(self, message: str, needed: int = 0, limit: int = 0) -> None:
        super().__init__(message)
        self.needed, self.limit = needed, limit


class DivergedError(JacchainError):
    """Training produced a NaN or infinite loss; the message names the step (exit 1)."""

    exit_code = 1


def choice_error(what: str, value: object, allowed: tuple[str, ...] | list[str]) -> JacchainError:
    """The one wording of "not one of the allowed names".

    >>> str(choice_error("--of", "inputs", ("loss", "output")))
    "unknown --of 'inputs'; valid options are: loss, output"
    """
    return JacchainError(f"unknown {what} {value!r}; valid options are: {', '.join(allowed)}")
