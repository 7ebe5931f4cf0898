"""The one exception type for bad user input; the CLI turns it into exit code 2."""


class JacchainError(ValueError):
    """A user-facing error: the message names the bad value and what is allowed."""
