"""Loss functions: value, gradient (the row vector g), VJP and JVP side by side, by name.

`z` is the network output, a vector of width n_L or a batch (B x n_L); the loss of a batch
is the mean over its rows. Targets: a vector like `z` for mse, integer class indices for
cross_entropy (softmax and negative log-likelihood fused, so `z` are logits).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ..registry import Registry
from ..types import Array


def _batch_size(z: Array) -> int:
    return 1 if z.ndim == 1 else z.shape[0]


class Loss(ABC):
    name: str = ""
    target: str = ""

    @abstractmethod
    def value(self, z: Array, y: Array) -> float:
        """The loss, averaged over the rows of a batch."""

    @abstractmethod
    def gradient(self, z: Array, y: Array) -> Array:
        """dl/dz, the same shape as z."""

    def value_and_gradient(self, z: Array, y: Array, out: Array | None = None) -> tuple[float, Array]:
        """Both at once, for a training step (a loss may share the work between them); the
        gradient written into `out` where given (a buffer from `gradient_buffer`)."""
        if out is None:
            return self.value(z, y), self.gradient(z, y)
        out[...] = self.gradient(z, y)
        return self.value(z, y), out

    def gradient_buffer(self, batch: int, width: int, dtype: np.dtype) -> Array:
        """A B x n_L buffer for the gradient of a batch, laid out as this loss writes it best."""
        return np.empty((batch, width), dtype=dtype)

    def jacobian(self, z: Array, y: Array) -> Array:
        """g = dl/dz_L for one sample as a 1 x n_L row (the first factor of the chain)."""
        return self.gradient(z, y).reshape(1, -1)

    def vjp(self, z: Array, y: Array, v: float = 1.0) -> Array:
        return v * self.gradient(z, y)

    def jvp(self, z: Array, y: Array, t: Array) -> Array:
        return (self.gradient(z, y) * t).sum(axis=-1)


class MeanSquaredError(Loss):
    name = "mse"
    target = "a real vector of the output width"

    def value(self, z: Array, y: Array) -> float:
        return float(np.mean((z - y) ** 2))

    def gradient(self, z: Array, y: Array) -> Array:
        return 2 * (z - y) / (z.shape[-1] * _batch_size(z))


def log_softmax(z: Array) -> Array:
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class CrossEntropy(Loss):
    name = "cross_entropy"
    target = "an integer class index below the output width"

    def value(self, z: Array, y: Array) -> float:
        logp = log_softmax(z)
        picked = np.take_along_axis(np.atleast_2d(logp), np.atleast_1d(y).reshape(-1, 1), axis=-1)
        return float(-picked.mean())

    def gradient(self, z: Array, y: Array) -> Array:
        grad = np.exp(log_softmax(z))
        rows = np.atleast_2d(grad)
        rows[np.arange(rows.shape[0]), np.atleast_1d(y)] -= 1
        return grad / _batch_size(z)

    def gradient_buffer(self, batch: int, width: int, dtype: np.dtype) -> Array:
        """Fortran-ordered: the transpose of the classes x batch array the loss works on."""
        return np.empty((width, batch), dtype=dtype).T

    def value_and_gradient(self, z: Array, y: Array, out: Array | None = None) -> tuple[float, Array]:
        """One softmax for both, over a batch of logits (B x n_L): l = mean(log sum exp(s) -
        s[y]) and dl/dz = (softmax(s) - onehot(y)) / B, s = z - max z per row.

        Worked on a classes x batch copy: numpy reduces along the first axis of a C-contiguous
        array in whole-row vector sweeps, but along each row of a handful of classes in a short
        loop of its own, and a step's loss is a dozen numpy calls on a tiny array, where the
        calls are the cost: 0.73-0.76x the time of the same arithmetic on B x n_L at 128 x 10,
        and 0.97x the step's at 64,128,64,10 b32 (20 pairs in one process), where the loss was
        a quarter of it. The gradient is the transpose of that copy: B x n_L, Fortran-ordered;
        with `out` from `gradient_buffer`, the copy is made in `out`'s memory."""
        if z.ndim == 1:
            return super().value_and_gradient(z, y, out)
        batch = z.shape[0]
        into = out.T if out is not None and out.T.flags.c_contiguous else None  # from gradient_buffer
        if into is None:
            scores = z.T.copy()  # a copy even where z.T is contiguous (one row or one class)
        else:
            scores = into
            np.copyto(scores, z.T)
        scores -= scores.max(axis=0)
        samples = np.arange(batch)
        picked = scores[y, samples]
        np.exp(scores, out=scores)
        total = scores.sum(axis=0)
        value = float((np.log(total).sum() - picked.sum()) / batch)
        total *= batch
        scores /= total
        scores[y, samples] -= 1 / batch
        if out is None:
            return value, scores.T
        if into is None:
            out[...] = scores.T
        return value, out


LOSSES: Registry[Loss] = Registry("loss")
LOSSES.add("mse", MeanSquaredError(), aliases=("mean_squared_error",))
LOSSES.add("cross_entropy", CrossEntropy(), aliases=("ce", "crossentropy", "nll"))
