"""Explicit Jacobians of every factor of a chain at one point, as real numpy arrays.

Dense factors are 2-D arrays; diagonal factors are 1-D arrays holding the diagonal.
"""

from __future__ import annotations

import numpy as np

from .chain import DIAGONAL, Chain, Factor
from .network import MLP, ForwardCache

Array = np.ndarray


def layer_jacobian(network: MLP, cache: ForwardCache, layer: int) -> Array:
    """J_i = D_i W_i = dz_i/dz_{i-1}, dense n_i x n_{i-1}."""
    activation = network.activations[layer - 1]
    a, z, weight = cache.pre[layer - 1], cache.post[layer], network.weights[layer - 1]
    jac = activation.jacobian(a, z)
    return jac[:, None] * weight if activation.elementwise else jac @ weight


def factor_array(factor: Factor, network: MLP, cache: ForwardCache, y: Array) -> Array:
    kind, layer = factor.source
    if kind == "loss":
        return network.loss.jacobian(cache.output, y)
    if kind == "layer":
        return layer_jacobian(network, cache, layer)
    if kind == "weight":
        return network.weights[layer - 1]
    activation = network.activations[layer - 1]
    return activation.jacobian(cache.pre[layer - 1], cache.post[layer])


def build_factors(chain: Chain, network: MLP, cache: ForwardCache, y: Array) -> list[Array]:
    """The arrays of a chain's factors, in chain order, each of the factor's dtype and shape."""
    arrays = []
    for factor in chain.factors:
        array = np.ascontiguousarray(factor_array(factor, network, cache, y))
        expected = (factor.rows,) if factor.structure == DIAGONAL else factor.shape
        if array.shape != expected:  # pragma: no cover - a layout bug, not user input
            raise RuntimeError(f"factor {factor.name}: built {array.shape}, layout says {expected}")
        arrays.append(array)
    return arrays


def densify(array: Array) -> Array:
    """A diagonal factor (1-D) as its full matrix; dense arrays pass through."""
    return np.diag(array) if array.ndim == 1 else array
