"""The chain of factors (shapes and structure only) and plans: bracketings of that chain."""

from __future__ import annotations

from dataclasses import dataclass

from .activations import ACTIVATIONS
from .errors import JacchainError
from .spec import NetworkSpec

DENSE = "dense"
DIAGONAL = "diagonal"
OF_CHOICES = ("loss", "output")
GRANULARITIES = ("layer", "op")


@dataclass(frozen=True)
class Factor:
    """One matrix of the chain: its symbol, shape, structure and where it comes from.

    `source` is ("loss", L), ("layer", i), ("weight", i) or ("activation", i), i counting
    layers from 1, so jacobians.py knows which array to build.
    """

    name: str
    rows: int
    cols: int
    structure: str
    source: tuple[str, int]

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows, self.cols)

    def n_stored(self) -> int:
        """Entries held in memory: the diagonal alone for a diagonal factor."""
        return self.rows if self.structure == DIAGONAL else self.rows * self.cols


@dataclass(frozen=True)
class Chain:
    """Factors in matrix order, left to right: g, J_L, ..., J_1 (or their op split)."""

    factors: tuple[Factor, ...]
    itemsize: int
    of: str = "loss"
    granularity: str = "layer"

    def __len__(self) -> int:
        return len(self.factors)

    @property
    def names(self) -> list[str]:
        return [factor.name for factor in self.factors]

    @property
    def dims(self) -> list[int]:
        """p_0..p_n with factor t of shape p_t x p_{t+1}."""
        return [self.factors[0].rows] + [factor.cols for factor in self.factors]

    @property
    def factor_bytes(self) -> int:
        return sum(factor.n_stored() for factor in self.factors) * self.itemsize


def build_chain(spec: NetworkSpec, of: str = "loss", granularity: str = "layer") -> Chain:
    """Lay out the factors of dl/dx (of="loss") or dz_L/dx (of="output") for a spec."""
    if of not in OF_CHOICES:
        raise JacchainError(f"unknown --of {of!r}; valid options are: {', '.join(OF_CHOICES)}")
    if granularity not in GRANULARITIES:
        raise JacchainError(
            f"unknown granularity {granularity!r}; valid options are: {', '.join(GRANULARITIES)}"
        )
    sizes, n_layers = spec.sizes, spec.n_layers
    factors: list[Factor] = []
    if of == "loss":
        factors.append(Factor("g", 1, sizes[-1], DENSE, ("loss", n_layers)))
    for i in range(n_layers, 0, -1):
        n_out, n_in = sizes[i], sizes[i - 1]
        if granularity == "layer":
            factors.append(Factor(f"J{i}", n_out, n_in, DENSE, ("layer", i)))
            continue
        activation = ACTIVATIONS.get(spec.activations[i - 1])
        # An identity activation contributes D_i = I: no operation, so no factor.
        if activation.name != "identity":
            structure = DIAGONAL if activation.elementwise else DENSE
            factors.append(Factor(f"D{i}", n_out, n_out, structure, ("activation", i)))
        factors.append(Factor(f"W{i}", n_out, n_in, DENSE, ("weight", i)))
    return Chain(tuple(factors), spec.itemsize, of, granularity)


@dataclass(frozen=True)
class Plan:
    """A bracketing as a flat program: step t multiplies two values into value n_factors + t.

    Values 0..n_factors-1 are the factors; the last step's value is the product of the chain.
    Steps are in evaluation order (post-order), which the cost model and executor share.
    """

    n_factors: int
    steps: tuple[tuple[int, int], ...]

    @property
    def result(self) -> int:
        return self.n_factors + len(self.steps) - 1 if self.steps else 0


def left_fold(n_factors: int) -> Plan:
    """((f0 f1) f2) ...: the loss-first order.

    >>> left_fold(3).steps
    ((0, 1), (3, 2))
    """
    steps, current = [], 0
    for index in range(1, n_factors):
        steps.append((current, index))
        current = n_factors + len(steps) - 1
    return Plan(n_factors, tuple(steps))


def right_fold(n_factors: int) -> Plan:
    """f0 (f1 (f2 ...)): the input-first order.

    >>> right_fold(3).steps
    ((1, 2), (0, 3))
    """
    steps, current = [], n_factors - 1
    for index in range(n_factors - 2, -1, -1):
        steps.append((index, current))
        current = n_factors + len(steps) - 1
    return Plan(n_factors, tuple(steps))


def bracketing(plan: Plan, names: list[str]) -> str:
    """Write a plan with parentheses, e.g. "((g J3) (J2 J1))".

    >>> bracketing(right_fold(4), ["g", "J3", "J2", "J1"])
    '(g (J3 (J2 J1)))'
    """
    text = list(names)
    for left, right in plan.steps:
        text.append(f"({text[left]} {text[right]})")
    return text[plan.result]


def spans(plan: Plan) -> list[tuple[int, int]]:
    """The factor range [first, last] that each value covers (factors, then steps)."""
    covered = [(index, index) for index in range(plan.n_factors)]
    for left, right in plan.steps:
        covered.append((covered[left][0], covered[right][1]))
    return covered
