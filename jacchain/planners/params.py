"""Plans for the gradient with respect to every layer's parameters (DESIGN.md section 1).

dl/dtheta_i = (g J_L ... J_{i+1}) P_i. Loss-first walks the chain once, left to right,
caching each row dl/dz_i and multiplying it by P_i as it passes; input-first pushes P_i's
|theta_i| tangent columns through J_{i+1}, ..., J_L for every layer before g meets them.
"""

from __future__ import annotations

from ..chain.factors import Chain
from ..chain.plan import Plan, PlanBuilder
from ..types import FactorKind


def layer_factors(chain: Chain, layer: int) -> list[int]:
    """The factors of dz_i/dz_{i-1}, left to right: [J_i] or [D_i, W_i] (no D for identity)."""
    if chain.granularity == "layer":
        return [chain.position(FactorKind.LAYER, layer)]
    activation = chain.index(FactorKind.ACTIVATION, layer)
    return ([activation] if activation is not None else []) + [chain.position(FactorKind.WEIGHT, layer)]


def loss_first_params(chain: Chain) -> Plan:
    """g J_L -> cached row -> times P_L; then on to J_{L-1}: every factor meets one row vector.

    In op granularity the row that meets P_i is dl/da_i, after D_i and before W_i.
    """
    build = PlanBuilder(len(chain))
    row = chain.position(FactorKind.LOSS, chain.n_layers)
    outputs = []
    for layer in range(chain.n_layers, 0, -1):
        factors = layer_factors(chain, layer)
        if chain.granularity == "op" and len(factors) == 2:
            row = build.multiply(row, factors[0])
            factors = factors[1:]
        outputs.append(build.multiply(row, chain.position(FactorKind.PARAMS, layer)))
        if layer > 1:
            for factor in factors:
                row = build.multiply(row, factor)
    return build.plan(tuple(outputs))


def input_first_params(chain: Chain) -> Plan:
    """For each layer: (g (J_L (... (J_{i+1} P_i)))): one tangent per parameter, no sharing."""
    build = PlanBuilder(len(chain))
    loss = chain.position(FactorKind.LOSS, chain.n_layers)
    outputs = []
    for layer in range(chain.n_layers, 0, -1):
        tangents = chain.position(FactorKind.PARAMS, layer)
        if chain.granularity == "op":
            activation = chain.index(FactorKind.ACTIVATION, layer)
            if activation is not None:
                tangents = build.multiply(activation, tangents)
        for upper in range(layer + 1, chain.n_layers + 1):
            for factor in reversed(layer_factors(chain, upper)):
                tangents = build.multiply(factor, tangents)
        outputs.append(build.multiply(loss, tangents))
    return build.plan(tuple(outputs))
