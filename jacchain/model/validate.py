"""Checks of single values, each with its one message: specs, configs, the CLI and training
settings all validate through here."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from ..errors import JacchainError, choice_error
from ..types import DTYPES, Dtype


def is_int(value: Any) -> bool:
    """A Python or numpy integer, never a bool."""
    import numpy as np

    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Rule:
    """What a value must be, as a test and as the words of the message."""

    test: Callable[[Any], bool]
    allowed: str
    schema: dict[str, Any]  # the same rule as a JSON Schema fragment (`jacchain schema config`)

    def check(self, value: Any, subject: str) -> Any:
        """The value if it passes; else an error "<subject> must be <allowed>, got <value>".

        >>> POSITIVE_INT.check(3, "--batch")
        3
        >>> POSITIVE_INT.check(0, "--batch")
        Traceback (most recent call last):
        ...
        jacchain.errors.JacchainError: --batch must be a positive integer, got 0
        """
        if not self.test(value):
            raise JacchainError(f"{subject} must be {self.allowed}, got {value!r}")
        return value


POSITIVE_INT = Rule(lambda v: is_int(v) and v > 0, "a positive integer", {"type": "integer", "minimum": 1})
SEED = Rule(lambda v: is_int(v) and v >= 0, "a non-negative integer", {"type": "integer", "minimum": 0})
FLAG = Rule(lambda v: isinstance(v, bool), "true or false", {"type": "boolean"})
NAME = Rule(lambda v: isinstance(v, str) and bool(v), "a name", {"type": "string", "minLength": 1})

# The `train:` section of a config and the options of `jacchain train`: one rule per key.
TRAIN_RULES: dict[str, Rule] = {
    "dataset": Rule(lambda v: isinstance(v, str) and bool(v), "a name or path", {"type": "string", "minLength": 1}),
    "steps": POSITIVE_INT,
    "epochs": POSITIVE_INT,
    "batch": POSITIVE_INT,
    "lr": Rule(lambda v: is_number(v) and v > 0, "a positive number", {"type": "number", "exclusiveMinimum": 0}),
    "momentum": Rule(
        lambda v: is_number(v) and 0 <= v < 1,
        "a number in [0, 1)",
        {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
    ),
    "weight_decay": Rule(lambda v: is_number(v) and v >= 0, "a non-negative number", {"type": "number", "minimum": 0}),
    "test_fraction": Rule(
        lambda v: is_number(v) and 0 < v < 1,
        "a number in (0, 1)",
        {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    ),
}


def check_dtype(value: Any, where: str) -> Dtype:
    if value not in DTYPES:
        raise JacchainError(f"{where}: {choice_error('dtype', value, DTYPES)}")
    return cast(Dtype, value)  # membership in DTYPES is the narrowing


def check_seed(value: Any, where: str) -> int:
    return int(SEED.check(value, f"{where}: seed"))
