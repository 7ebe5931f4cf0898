"""Activation functions: value, explicit Jacobian, VJP and JVP side by side, by name.

Every function works on the last axis, so a batch of row vectors (B x n) goes through the
same code as a single vector. `jacobian` takes one vector and returns what DESIGN.md calls
D_i: the diagonal (as a 1-D array) for elementwise activations, a dense n x n matrix otherwise.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod

import numpy as np

from ..registry import Registry
from ..types import Array


@functools.lru_cache(maxsize=64)
def constant_row(width: int, dtype: np.dtype, value: int) -> Array:
    """A read-only row of `width` copies of `value`, made once per width and dtype."""
    row = np.full(width, value, dtype=dtype)
    row.flags.writeable = False
    return row


class Activation(ABC):
    """An activation: its value, its Jacobian D, and the products with D on either side."""

    name: str = ""
    elementwise: bool = False
    # Whether its Jacobian, VJP and JVP read a itself. Where they do not (they read z, or only
    # the sign of a, which relu's z = max(a, 0) keeps), they give the same handed z in place of
    # a, and the trainer writes z over a: one buffer a layer less, and the activation's pass
    # writes where the product has just written (the step's time within a few percent either
    # way, timed against two buffers a layer: docs/performance.md).
    reads_input: bool = True
    # Whether it is the identity: `value_into` returns a and `vjp_into` returns v, not their
    # `out`, and a training step reads a_i as z_i and dl/dz_i as dl/da_i.
    passes_through: bool = False

    @abstractmethod
    def value(self, a: Array) -> Array:
        """f(a), along the last axis."""

    @abstractmethod
    def jacobian(self, a: Array, z: Array) -> Array:
        """D = dz/da at one point: a 1-D diagonal if elementwise, else a dense matrix."""

    @abstractmethod
    def jacobian_times(self, a: Array, z: Array, m: Array, out: Array | None = None) -> Array:
        """D m for a matrix m with a row per entry of z, into `out` if given (m itself will do):
        its result is its only large allocation, a dense D never formed."""

    @abstractmethod
    def vjp(self, a: Array, z: Array, v: Array) -> Array:
        """v D: pull a row vector (or a batch of them) back through the activation."""

    @abstractmethod
    def jvp(self, a: Array, z: Array, t: Array) -> Array:
        """D t: push a tangent forward."""

    def value_into(self, a: Array, out: Array) -> Array:
        """f(a) written into `out` (training reuses its buffers); returns the result."""
        out[...] = self.value(a)
        return out

    def vjp_into(self, a: Array, z: Array, v: Array, out: Array) -> Array:
        """v D written into `out`; returns the result (which may be v itself for identity)."""
        out[...] = self.vjp(a, z, v)
        return out

    def dense_jacobian(self, a: Array, z: Array) -> Array:
        """The Jacobian as a full matrix, whatever its structure (for tests and teaching)."""
        jac = self.jacobian(a, z)
        return np.diag(jac) if self.elementwise else jac


class Elementwise(Activation):
    """z_k = f(a_k): D is diagonal, so the Jacobian, VJP and JVP all come from f'."""

    elementwise = True

    @abstractmethod
    def derivative(self, a: Array, z: Array) -> Array:
        """f'(a), elementwise (z = f(a) is given, as many derivatives are cheaper from it)."""

    def jacobian(self, a: Array, z: Array) -> Array:
        return self.derivative(a, z)

    def jacobian_times(self, a: Array, z: Array, m: Array, out: Array | None = None) -> Array:
        return np.multiply(m, self.derivative(a, z)[:, None], out=out)

    def vjp(self, a: Array, z: Array, v: Array) -> Array:
        return v * self.derivative(a, z)

    def jvp(self, a: Array, z: Array, t: Array) -> Array:
        return self.derivative(a, z) * t


class Identity(Elementwise):
    name = "identity"
    reads_input = False
    passes_through = True

    def value(self, a: Array) -> Array:
        return a

    def derivative(self, a: Array, z: Array) -> Array:
        return np.ones_like(a)

    def vjp(self, a: Array, z: Array, v: Array) -> Array:
        return v

    def jvp(self, a: Array, z: Array, t: Array) -> Array:
        return t

    def value_into(self, a: Array, out: Array) -> Array:
        return a

    def vjp_into(self, a: Array, z: Array, v: Array, out: Array) -> Array:
        return v


class Relu(Elementwise):
    name = "relu"
    reads_input = False

    def value(self, a: Array) -> Array:
        return np.maximum(a, 0)

    def derivative(self, a: Array, z: Array) -> Array:
        return (a > 0).astype(a.dtype)

    def value_into(self, a: Array, out: Array) -> Array:
        # Against a row of zeros, not the scalar 0: numpy's maximum runs its SIMD loop only
        # when both operands step through memory: 1.2-2x faster on 32x128 to 256x2048
        # float32 batches, timed in alternation.
        return np.maximum(a, constant_row(a.shape[-1], a.dtype, 0), out=out)

    def vjp_into(self, a: Array, z: Array, v: Array, out: Array) -> Array:
        # The 0/1 derivative [z > 0] written straight into the float buffer, then one multiply:
        # no allocation, and 0.55x the time of np.sign (a branching loop here) and the multiply
        # at 256 x 2048 float32; in the step, alternated with it in one process, 0.988x at
        # 784,512,256,10 b128 and 0.983x at 2048,2048,10 b256, 1.013x at 64,128,64,10 b32 (the
        # cast's setup, about 2 us a call). A NaN in z gives 0 here, but the loss is NaN then.
        np.greater(z, 0, out=out, casting="unsafe")
        return np.multiply(out, v, out=out)


class Tanh(Elementwise):
    name = "tanh"
    reads_input = False

    def value(self, a: Array) -> Array:
        return np.tanh(a)

    def derivative(self, a: Array, z: Array) -> Array:
        return 1 - z * z


class Sigmoid(Elementwise):
    name = "sigmoid"
    reads_input = False

    def value(self, a: Array) -> Array:
        # Two-sided form: exp of a non-positive number never overflows.
        e = np.exp(-np.abs(a))
        return np.where(a >= 0, 1 / (1 + e), e / (1 + e))

    def derivative(self, a: Array, z: Array) -> Array:
        return z * (1 - z)


class Gelu(Elementwise):
    """GELU in the tanh form used by GPT-2 and BERT."""

    name = "gelu"
    _c = float(np.sqrt(2 / np.pi))  # a Python float: a numpy float64 would make float32 arrays float64

    def value(self, a: Array) -> Array:
        return 0.5 * a * (1 + np.tanh(self._c * (a + 0.044715 * a**3)))

    def derivative(self, a: Array, z: Array) -> Array:
        inner = np.tanh(self._c * (a + 0.044715 * a**3))
        return 0.5 * (1 + inner) + 0.5 * a * (1 - inner**2) * self._c * (1 + 3 * 0.044715 * a**2)


class Softmax(Activation):
    name = "softmax"
    elementwise = False
    reads_input = False

    def value(self, a: Array) -> Array:
        shifted = np.exp(a - a.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)

    def jacobian(self, a: Array, z: Array) -> Array:
        """diag(z) - z z^T in one n x n array (-z z^T, then z added along its diagonal), the
        same numbers as forming the two and subtracting, without their two n x n temporaries."""
        jac = np.outer(z, -z)
        jac.reshape(-1)[:: z.size + 1] += z
        return jac

    def jacobian_times(self, a: Array, z: Array, m: Array, out: Array | None = None) -> Array:
        """D m = diag(z) m - z (z^T m), row k of it z_k (m_k - z^T m): O(n k) work and memory,
        where D m as a product takes n^2 k work and D's n x n (3.2 GB in float64 at 20,000
        units, held three times over while D was formed by its formula)."""
        out = np.subtract(m, z @ m, out=out)
        out *= z[:, None]
        return out

    def vjp(self, a: Array, z: Array, v: Array) -> Array:
        return z * (v - (v * z).sum(axis=-1, keepdims=True))

    def jvp(self, a: Array, z: Array, t: Array) -> Array:
        # The softmax Jacobian is symmetric, so the JVP has the VJP's form.
        return z * (t - (z * t).sum(axis=-1, keepdims=True))


ACTIVATIONS: Registry[Activation] = Registry("activation")
for _activation in (Identity(), Relu(), Tanh(), Sigmoid(), Gelu(), Softmax()):
    ACTIVATIONS.add(_activation.name, _activation, aliases=("linear",) if _activation.name == "identity" else ())
