"""The trainer's gradients against fourth-order central differences, in float64."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..model.network import MLP
from ..model.spec import NetworkSpec
from ..types import Array
from .settings import TrainSettings
from .trainer import Trainer

# (coordinate, parameter array, offset) -> (loss there, which relus are on there)
Probe = Callable[[tuple[Any, ...], Array, float], tuple[float, list[Any]]]


@dataclass(frozen=True)
class GradCheck:
    max_rel_error: float
    coordinates: int
    skipped_at_kinks: int = 0


def grad_check(spec: NetworkSpec, network: MLP, X: Array, y: Array, per_array: int = 12, seed: int = 0) -> GradCheck:
    """Compare batched VJP gradients with central differences (float64) on sampled coordinates."""
    spec64 = replace(spec, dtype="float64")
    copy = MLP(spec64, [w.astype(np.float64) for w in network.weights], [b.astype(np.float64) for b in network.biases])
    checker = Trainer(copy, TrainSettings())
    X64 = X.astype(np.float64)
    y64 = y if spec.loss == "cross_entropy" else y.astype(np.float64)
    checker.vjp_gradients(X64, y64)
    rng = np.random.default_rng(seed)
    kinked = [i for i, name in enumerate(spec.activations) if name == "relu"]

    def evaluate_at(index: tuple[Any, ...], param: Array, offset: float) -> tuple[float, list[Any]]:
        """The loss with one coordinate moved, and which relus are on there."""
        saved = param[index]
        param[index] = saved + offset
        cache = copy.forward(X64)
        param[index] = saved
        return copy.loss.value(cache.output, y64), [cache.pre[i] > 0 for i in kinked]

    base_pattern = evaluate_at((0,) * copy.weights[0].ndim, copy.weights[0], 0.0)[1]
    worst, count, skipped = 0.0, 0, 0
    for params, grads in ((copy.weights, checker.grads_w), (copy.biases, checker.grads_b)):
        for param, grad in zip(params, grads):
            picks = rng.choice(param.size, size=min(per_array, param.size), replace=False)
            for flat in picks:
                index = tuple(np.unravel_index(flat, param.shape))
                found = _stencil(evaluate_at, index, param, base_pattern)
                if found is None:
                    skipped += 1
                    continue
                numeric, noise = found
                count += 1
                if grad[index] == 0 and abs(numeric) <= noise:
                    continue  # a structural zero (dead unit, zero input): relative error is undefined
                worst = max(worst, abs(numeric - grad[index]) / max(abs(numeric), abs(grad[index])))
    return GradCheck(worst, count, skipped)


def _stencil(
    evaluate_at: Probe, index: tuple[Any, ...], param: Array, base_pattern: list[Any]
) -> tuple[float, float] | None:
    """Fourth-order central difference (truncation ~h^4, rounding ~1e-16/h) and a bound on
    its rounding noise. A step that flips a relu crosses a kink, where the derivative is not
    what the stencil sees: retry smaller, and give up (None) if every step crosses one."""
    for h in (1e-4, 1e-5, 1e-6):
        values = []
        for k in (-2, -1, 1, 2):
            value, pattern = evaluate_at(index, param, k * h)
            if any((p != q).any() for p, q in zip(pattern, base_pattern)):
                break
            values.append(value)
        else:
            noise = 64 * np.finfo(np.float64).eps * max(abs(v) for v in values) / h
            return (values[0] - 8 * values[1] + 8 * values[2] - values[3]) / (12 * h), noise
    return None
