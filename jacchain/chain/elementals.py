"""Generalised Jacobian chains: a chain of elemental functions F_1..F_q whose Jacobians are not
given, each with its tangent and adjoint costs and its tape (../shared/GENERALISED-CHAINS.md).

A network reads as such a chain: layer i is an elemental with n_{i-1} inputs and n_i outputs
whose tangent cost, adjoint cost and tape are the multiply-adds of one op-granularity pass
through it: n_i n_{i-1} for W_i, plus n_i for an elementwise activation other than identity,
plus n_i^2 for softmax's dense Jacobian. With of="loss" the loss is one more elemental
(n_L inputs, 1 output, costs and tape n_L)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate

from ..errors import JacchainError
from ..model.spec import NetworkSpec
from ..types import Of


@dataclass(frozen=True)
class Elemental:
    """F_l: `inputs` (n_l) -> `outputs` (m_l); one tangent costs `tangent_cost` (t_l), one
    adjoint `adjoint_cost` (a_l), and an adjoint needs `tape` (e_l) of memory."""

    inputs: int
    outputs: int
    tangent_cost: int
    adjoint_cost: int
    tape: int
    name: str = ""


@dataclass(frozen=True)
class ElementalChain:
    """F = F_q o ... o F_1: the first elemental is applied to the input."""

    elementals: tuple[Elemental, ...]
    name: str | None = None

    def __post_init__(self) -> None:
        if not self.elementals:
            raise JacchainError("a chain needs at least one elemental")
        for index, (lower, upper) in enumerate(zip(self.elementals, self.elementals[1:]), start=1):
            if upper.inputs != lower.outputs:
                raise JacchainError(
                    f"elemental {index + 1} takes {upper.inputs} inputs but elemental {index} gives "
                    f"{lower.outputs} outputs; each elemental's inputs must equal the outputs before it"
                )

    def __len__(self) -> int:
        return len(self.elementals)

    @property
    def label(self) -> str:
        return self.name or "chain of " + ",".join(str(w) for w in self.widths)

    @property
    def widths(self) -> tuple[int, ...]:
        """n_1, m_1, ..., m_q: the widths between the elementals."""
        return (self.elementals[0].inputs, *(e.outputs for e in self.elementals))

    def symbol(self, index: int) -> str:
        """The 1-based name of elemental `index` (0-based): its own name, else F<l>."""
        return self.elementals[index].name or f"F{index + 1}"

    def prefix(self, field: str) -> tuple[int, ...]:
        """Prefix sums of tangent_cost, adjoint_cost or tape: sum over [i..k] is p[k+1] - p[i]."""
        return (0, *accumulate(getattr(e, field) for e in self.elementals))


def layer_cost(spec: NetworkSpec, layer: int) -> int:
    """Multiply-adds of one op-granularity tangent (or adjoint) pass through layer `layer`
    (1-based): W_i, then the activation's Jacobian."""
    n_in, n_out = spec.sizes[layer - 1], spec.sizes[layer]
    activation = spec.activations[layer - 1]
    cost = n_out * n_in
    if activation == "softmax":
        cost += n_out * n_out
    elif activation != "identity":
        cost += n_out
    return cost


def network_chain(spec: NetworkSpec, of: Of = "loss") -> ElementalChain:
    """The network read as an elemental chain (module doc for the convention)."""
    elementals = [
        Elemental(
            spec.sizes[i - 1], spec.sizes[i], layer_cost(spec, i), layer_cost(spec, i), layer_cost(spec, i), f"L{i}"
        )
        for i in range(1, spec.n_layers + 1)
    ]
    if of == "loss":
        width = spec.sizes[-1]
        elementals.append(Elemental(width, 1, width, width, width, "loss"))
    return ElementalChain(tuple(elementals), spec.label)
