"""The MLP of DESIGN.md section 1: seeded parameters, a seeded point, one forward pass that
both the analysis and the trainer run (optionally into preallocated buffers)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..types import Array
from .activations import ACTIVATIONS, Activation
from .losses import LOSSES, Loss
from .spec import NetworkSpec


@dataclass(frozen=True)
class ForwardCache:
    """Pre-activations a_1..a_L and activations z_0..z_L of one forward pass (in the trainer's
    buffers, a_i is z_i itself where the activation does not read a: `reads_input`)."""

    pre: tuple[Array, ...]
    post: tuple[Array, ...]

    @property
    def output(self) -> Array:
        return self.post[-1]


@dataclass(frozen=True)
class ForwardBuffers:
    """Preallocated a_i and z_i for a batch of one size, reused step after step; one buffer
    for both where the layer's activation does not read a_i after the pass."""

    pre: Sequence[Array]
    post: Sequence[Array]

    @classmethod
    def allocate(cls, spec: NetworkSpec, batch: int) -> ForwardBuffers:
        pre = [np.empty((batch, n), dtype=spec.dtype) for n in spec.sizes[1:]]
        post = [a if _one_buffer(name) else np.empty_like(a) for a, name in zip(pre, spec.activations)]
        return cls(pre, post)

    @staticmethod
    def entries(spec: NetworkSpec, batch: int) -> int:
        """How many numbers `allocate` holds for a batch of this size."""
        return batch * sum(n * (1 if _one_buffer(name) else 2) for n, name in zip(spec.sizes[1:], spec.activations))


def _one_buffer(activation: str) -> bool:
    """Whether a layer's z_i is written over its a_i: its activation never reads a again."""
    return not ACTIVATIONS.get(activation).reads_input


def layer_forward(
    z: Array,
    weight: Array,
    bias: Array,
    activation: Activation,
    a_out: Array | None = None,
    z_out: Array | None = None,
) -> tuple[Array, Array]:
    """a = z W^T + b and f(a) for a vector or a batch of rows; into the buffers when given."""
    if a_out is None or z_out is None:
        a = z @ weight.T + bias
        return a, activation.value(a)
    a = np.matmul(z, weight.T, out=a_out)
    a += bias
    return a, activation.value_into(a, z_out)


@dataclass
class MLP:
    """Weights W_i (n_i x n_{i-1}) and biases b_i of a NetworkSpec."""

    spec: NetworkSpec
    weights: list[Array]
    biases: list[Array]

    @classmethod
    def initialise(cls, spec: NetworkSpec, rng: np.random.Generator | None = None) -> MLP:
        """He initialisation before relu, Glorot-style scaling otherwise; zero biases."""
        rng = rng if rng is not None else np.random.default_rng(spec.seed)
        weights, biases = [], []
        for n_in, n_out, activation in zip(spec.sizes, spec.sizes[1:], spec.activations):
            gain = 2.0 if activation == "relu" else 1.0
            scale = np.sqrt(gain / n_in)
            weights.append((rng.standard_normal((n_out, n_in)) * scale).astype(spec.dtype))
            biases.append(np.zeros(n_out, dtype=spec.dtype))
        return cls(spec, weights, biases)

    @cached_property
    def activations(self) -> list[Activation]:
        return [ACTIVATIONS.get(name) for name in self.spec.activations]

    @cached_property
    def loss(self) -> Loss:
        return LOSSES.get(self.spec.loss)

    def forward(self, x: Array, buffers: ForwardBuffers | None = None) -> ForwardCache:
        """Run x (n_0, or B x n_0 with samples as rows) through every layer, keeping a_i and z_i."""
        pre, post = [], [x]
        z = x
        for i, (weight, bias, activation) in enumerate(zip(self.weights, self.biases, self.activations)):
            a_out, z_out = (buffers.pre[i], buffers.post[i]) if buffers is not None else (None, None)
            a, z = layer_forward(z, weight, bias, activation, a_out, z_out)
            pre.append(a)
            post.append(z)
        return ForwardCache(tuple(pre), tuple(post))


def sample_point(spec: NetworkSpec, rng: np.random.Generator) -> tuple[Array, Array]:
    """A seeded input x ~ N(0, 1) and a target y that fits the spec's loss."""
    x = rng.standard_normal(spec.sizes[0]).astype(spec.dtype)
    n_out = spec.sizes[-1]
    if spec.loss == "cross_entropy":
        y = np.asarray(rng.integers(n_out))
    else:
        y = rng.standard_normal(n_out).astype(spec.dtype)
    return x, y


def network_at_point(spec: NetworkSpec) -> tuple[MLP, Array, Array]:
    """The spec's network and the point (x, y) it is analysed at, all from spec.seed."""
    rng = np.random.default_rng(spec.seed)
    network = MLP.initialise(spec, rng)
    x, y = sample_point(spec, rng)
    return network, x, y
