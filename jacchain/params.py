"""Plans for the gradient with respect to every layer's parameters (DESIGN.md §1).

dl/dtheta_i = (g J_L ... J_{i+1}) P_i. Loss-first walks the chain once, left to right,
caching each row dl/dz_i and multiplying it by P_i as it passes; input-first pushes P_i's
|theta_i| tangent columns through J_{i+1}, ..., J_L for every layer before g meets them.
"""

from __future__ import annotations

from .chain import Chain, Plan


class _Builder:
    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.steps: list[tuple[int, int]] = []

    def multiply(self, left: int, right: int) -> int:
        self.steps.append((left, right))
        return len(self.chain) + len(self.steps) - 1

    def layer_factors(self, layer: int) -> list[int]:
        """The factors of dz_i/dz_{i-1}, left to right: [J_i] or [D_i, W_i] (no D for identity)."""
        chain = self.chain
        if chain.granularity == "layer":
            return [chain.index("layer", layer)]
        activation = chain.index("activation", layer)
        return ([activation] if activation is not None else []) + [chain.index("weight", layer)]

    def plan(self, outputs: list[int]) -> Plan:
        return Plan(len(self.chain), tuple(self.steps), tuple(outputs))


def n_layers(chain: Chain) -> int:
    return sum(1 for f in chain.factors if f.source[0] == "params")


def loss_first_params(chain: Chain) -> Plan:
    """g J_L -> cached row -> times P_L; then on to J_{L-1}: every factor meets one row vector.

    In op granularity the row that meets P_i is dl/da_i, after D_i and before W_i.
    """
    build = _Builder(chain)
    row = chain.index("loss", n_layers(chain))
    outputs = []
    for layer in range(n_layers(chain), 0, -1):
        factors = build.layer_factors(layer)
        if chain.granularity == "op" and len(factors) == 2:
            row = build.multiply(row, factors[0])
            factors = factors[1:]
        outputs.append(build.multiply(row, chain.index("params", layer)))
        if layer > 1:
            for factor in factors:
                row = build.multiply(row, factor)
    return build.plan(outputs)


def input_first_params(chain: Chain) -> Plan:
    """For each layer: (g (J_L (... (J_{i+1} P_i)))): one tangent per parameter, no sharing."""
    build = _Builder(chain)
    loss = chain.index("loss", n_layers(chain))
    outputs = []
    for layer in range(n_layers(chain), 0, -1):
        tangents = chain.index("params", layer)
        if chain.granularity == "op":
            activation = chain.index("activation", layer)
            if activation is not None:
                tangents = build.multiply(activation, tangents)
        for upper in range(layer + 1, n_layers(chain) + 1):
            for factor in reversed(build.layer_factors(upper)):
                tangents = build.multiply(factor, tangents)
        outputs.append(build.multiply(loss, tangents))
    return build.plan(outputs)
