"""Explicit Jacobians of every factor of a chain at one point, as real numpy arrays.

Dense factors are 2-D arrays; diagonal factors are 1-D arrays holding the diagonal.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..chain.factors import Chain, Factor
from ..model.network import MLP, ForwardCache
from ..types import Array, FactorKind, Structure
from .arrays import Kron, Value


def layer_jacobian(network: MLP, cache: ForwardCache, layer: int) -> Array:
    """J_i = D_i W_i = dz_i/dz_{i-1}, dense n_i x n_{i-1}."""
    activation = network.activations[layer - 1]
    return activation.jacobian_times(cache.pre[layer - 1], cache.post[layer], network.weights[layer - 1])


def params_jacobian(factor: Factor, network: MLP, cache: ForwardCache, layer: int) -> Value:
    """P_i = dz_i/dtheta_i = D_i [I (x) z_{i-1}^T, I], theta_i = (W_i row-major, b_i).

    Kept as D and z (Kron) in op granularity, where D_i is a factor of its own; formed
    densely, D_i included, in layer granularity, as the article costs it.
    """
    z_previous = cache.post[layer - 1]
    if factor.structure == Structure.KRON:
        return Kron(np.ones(factor.rows, dtype=z_previous.dtype), z_previous)
    activation = network.activations[layer - 1]
    basis = Kron(np.ones(factor.rows, dtype=z_previous.dtype), z_previous).dense()
    return activation.jacobian_times(cache.pre[layer - 1], cache.post[layer], basis, out=basis)


def activation_jacobian(factor: Factor, network: MLP, cache: ForwardCache, layer: int) -> Array:
    """D_i = dz_i/da_i: its diagonal for an elementwise activation, dense otherwise."""
    return network.activations[layer - 1].jacobian(cache.pre[layer - 1], cache.post[layer])


# How each kind of factor is built: one entry per FactorKind, looked up, never if-chained.
_BUILDERS: dict[FactorKind, Callable[[Factor, MLP, ForwardCache, int], Value]] = {
    FactorKind.LAYER: lambda factor, network, cache, layer: layer_jacobian(network, cache, layer),
    FactorKind.WEIGHT: lambda factor, network, cache, layer: network.weights[layer - 1],
    FactorKind.ACTIVATION: activation_jacobian,
    FactorKind.PARAMS: params_jacobian,
}


def factor_array(factor: Factor, network: MLP, cache: ForwardCache, y: Array) -> Value:
    if factor.kind == FactorKind.LOSS:
        return network.loss.jacobian(cache.output, y)
    return _BUILDERS[factor.kind](factor, network, cache, factor.layer)


def build_factors(chain: Chain, network: MLP, cache: ForwardCache, y: Array) -> list[Value]:
    """The arrays of a chain's factors, in chain order, each of the factor's dtype and shape."""
    arrays = []
    for factor in chain.factors:
        array = factor_array(factor, network, cache, y)
        if not isinstance(array, Kron):
            array = np.ascontiguousarray(array)
        expected = (factor.rows,) if factor.structure == Structure.DIAGONAL else factor.shape
        if array.shape != expected:  # pragma: no cover - a layout bug, not user input
            raise RuntimeError(f"factor {factor.name}: built {array.shape}, layout says {expected}")
        arrays.append(array)
    return arrays
