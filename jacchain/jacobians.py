"""Explicit Jacobians of every factor of a chain at one point, as real numpy arrays.

Dense factors are 2-D arrays; diagonal factors are 1-D arrays holding the diagonal.
"""

from __future__ import annotations

import numpy as np

from .chain import DIAGONAL, KRON, Chain, Factor
from .execute import Kron
from .network import MLP, ForwardCache

Array = np.ndarray


def layer_jacobian(network: MLP, cache: ForwardCache, layer: int) -> Array:
    """J_i = D_i W_i = dz_i/dz_{i-1}, dense n_i x n_{i-1}."""
    activation = network.activations[layer - 1]
    a, z, weight = cache.pre[layer - 1], cache.post[layer], network.weights[layer - 1]
    jac = activation.jacobian(a, z)
    return jac[:, None] * weight if activation.elementwise else jac @ weight


def params_jacobian(factor: Factor, network: MLP, cache: ForwardCache, layer: int):
    """P_i = dz_i/dtheta_i = D_i [I (x) z_{i-1}^T, I], theta_i = (W_i row-major, b_i).

    Kept as D and z (Kron) in op granularity, where D_i is a factor of its own; formed
    densely, D_i included, in layer granularity, as the article costs it.
    """
    z_previous = cache.post[layer - 1]
    if factor.structure == KRON:
        return Kron(np.ones(factor.rows, dtype=z_previous.dtype), z_previous)
    activation = network.activations[layer - 1]
    basis = Kron(np.ones(factor.rows, dtype=z_previous.dtype), z_previous).dense()
    jac = activation.jacobian(cache.pre[layer - 1], cache.post[layer])
    return jac[:, None] * basis if activation.elementwise else jac @ basis


def factor_array(factor: Factor, network: MLP, cache: ForwardCache, y: Array) -> Array:
    kind, layer = factor.source
    if kind == "loss":
        return network.loss.jacobian(cache.output, y)
    if kind == "layer":
        return layer_jacobian(network, cache, layer)
    if kind == "weight":
        return network.weights[layer - 1]
    if kind == "params":
        return params_jacobian(factor, network, cache, layer)
    activation = network.activations[layer - 1]
    return activation.jacobian(cache.pre[layer - 1], cache.post[layer])


def build_factors(chain: Chain, network: MLP, cache: ForwardCache, y: Array) -> list[Array]:
    """The arrays of a chain's factors, in chain order, each of the factor's dtype and shape."""
    arrays = []
    for factor in chain.factors:
        array = factor_array(factor, network, cache, y)
        if factor.structure != KRON:
            array = np.ascontiguousarray(array)
        expected = (factor.rows,) if factor.structure == DIAGONAL else factor.shape
        if array.shape != expected:  # pragma: no cover - a layout bug, not user input
            raise RuntimeError(f"factor {factor.name}: built {array.shape}, layout says {expected}")
        arrays.append(array)
    return arrays


def densify(array) -> Array:
    """Any factor or result as its full matrix: a diagonal (1-D) or Kron is expanded."""
    if isinstance(array, Kron):
        return array.dense()
    return np.diag(array) if array.ndim == 1 else array
