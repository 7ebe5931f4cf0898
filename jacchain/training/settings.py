"""Training settings: defaults, a config's `train:` section merged with the command's options,
and validation through the one rule per key in model/validate.py."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from ..errors import JacchainError, choice_error
from ..model.validate import TRAIN_RULES
from ..run.blas import backend
from ..types import TRAIN_MODES, TrainMode

DEFAULT_EPOCHS = 10


@dataclass(frozen=True)
class TrainSettings:
    dataset: str = "synthetic"
    steps: int | None = None
    epochs: int | None = None
    batch: int = 32
    lr: float = 0.05
    momentum: float = 0.0
    weight_decay: float = 0.0
    test_fraction: float = 0.2
    mode: TrainMode = "vjp"
    grad_check: bool = False
    blas: str = "numpy"  # the step's BLAS (run/blas.py): numpy's own, or MKL

    def validated(self) -> TrainSettings:
        """Check every value (named as its command-line option) and fill in the epochs."""
        for key, rule in TRAIN_RULES.items():
            value = getattr(self, key)
            if value is not None:
                rule.check(value, f"--{key.replace('_', '-')}")
        if self.steps is not None and self.epochs is not None:
            raise JacchainError("give --steps or --epochs, not both")
        if self.mode not in TRAIN_MODES:
            raise choice_error("mode", self.mode, TRAIN_MODES)
        if self.blas != "numpy":
            if self.mode != "vjp":
                raise JacchainError(f"--blas {self.blas} runs the batched step: give it with --mode vjp")
            backend(self.blas)  # refused here, in one line, when it cannot be had
        if self.steps is None and self.epochs is None:
            return replace(self, epochs=DEFAULT_EPOCHS)
        return self

    @classmethod
    def resolve(
        cls,
        section: Mapping[str, Any] | None,
        given: Mapping[str, Any],
        mode: TrainMode = "vjp",
        grad_check: bool = False,
    ) -> TrainSettings:
        """A config's `train:` section, overridden by the options given (None: not given).
        Giving --steps drops the section's epochs and the other way round."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in (section or {}).items() if key in known}
        if given.get("steps") is not None:
            values.pop("epochs", None)
        if given.get("epochs") is not None:
            values.pop("steps", None)
        values.update({key: value for key, value in given.items() if value is not None})
        return cls(**values, mode=mode, grad_check=grad_check).validated()
