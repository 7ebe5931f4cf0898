"""The chain of factors (shapes and structure only) and plans: bracketings of that chain."""

from __future__ import annotations

from dataclasses import dataclass

from .activations import ACTIVATIONS
from .errors import JacchainError
from .spec import NetworkSpec

DENSE = "dense"
DIAGONAL = "diagonal"
# dz_i/dtheta_i = D [I (x) z^T, I] in op granularity: stored as its row scale D and z alone.
KRON = "kron"
OF_CHOICES = ("loss", "output")
WRT_CHOICES = ("input", "params")
GRANULARITIES = ("layer", "op")


@dataclass(frozen=True)
class Factor:
    """One matrix of the chain: its symbol, shape, structure and where it comes from.

    `source` is ("loss", L), ("layer", i), ("weight", i), ("activation", i) or ("params", i),
    i counting layers from 1, so jacobians.py knows which array to build.
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
        """Entries held in memory: the diagonal of a diagonal factor; D and z of a Kronecker one."""
        return stored_entries(self.rows, self.cols, self.structure)


def stored_entries(rows: int, cols: int, structure: str) -> int:
    """Entries an array of this shape and structure holds.

    >>> stored_entries(3, 3, DIAGONAL), stored_entries(3, 3 * 4 + 3, KRON), stored_entries(2, 5, DENSE)
    (3, 7, 10)
    """
    if structure == DIAGONAL:
        return rows
    if structure == KRON:
        return rows + (cols - rows) // rows
    return rows * cols


@dataclass(frozen=True)
class Chain:
    """Factors in matrix order, left to right: g, J_L, ..., J_1 (or their op split)."""

    factors: tuple[Factor, ...]
    itemsize: int
    of: str = "loss"
    granularity: str = "layer"
    wrt: str = "input"

    def __len__(self) -> int:
        return len(self.factors)

    def index(self, kind: str, layer: int) -> int | None:
        """Position of the factor built from (kind, layer), or None if the chain has none."""
        for position, factor in enumerate(self.factors):
            if factor.source == (kind, layer):
                return position
        return None

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


def build_chain(spec: NetworkSpec, of: str = "loss", granularity: str = "layer", wrt: str = "input") -> Chain:
    """Lay out the factors of dl/dx (of="loss") or dz_L/dx (of="output") for a spec.

    With wrt="params" the chain also holds P_L..P_1 = dz_i/dtheta_i after the layer factors;
    plans for it are built by params.py, not by bracketing one product.
    """
    if wrt not in WRT_CHOICES:
        raise JacchainError(f"unknown --wrt {wrt!r}; valid options are: {', '.join(WRT_CHOICES)}")
    if wrt == "params" and of != "loss":
        raise JacchainError("--wrt params needs --of loss: jacchain computes the gradient dl/dtheta, not dz_L/dtheta")
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
    if wrt == "params":
        structure = DENSE if granularity == "layer" else KRON
        for i in range(n_layers, 0, -1):
            n_theta = sizes[i] * sizes[i - 1] + sizes[i]
            factors.append(Factor(f"P{i}", sizes[i], n_theta, structure, ("params", i)))
    return Chain(tuple(factors), spec.itemsize, of, granularity, wrt)


@dataclass(frozen=True)
class Plan:
    """A computation as a flat program: step t multiplies two values into value n_factors + t.

    Values 0..n_factors-1 are the factors. A bracketing of one chain has one output, the
    last value; a parameter gradient has one output per layer and reuses cached rows.
    Steps are in evaluation order, which the cost model and the executor share.
    """

    n_factors: int
    steps: tuple[tuple[int, int], ...]
    outputs: tuple[int, ...] = ()

    @property
    def result(self) -> int:
        return self.n_factors + len(self.steps) - 1 if self.steps else 0

    @property
    def results(self) -> tuple[int, ...]:
        return self.outputs or (self.result,)

    def frees(self) -> list[tuple[int, ...]]:
        """For each step, the intermediates it uses for the last time (and that are no output)."""
        last_use: dict[int, int] = {}
        for step, operands in enumerate(self.steps):
            for value in operands:
                last_use[value] = step
        keep = set(self.results)
        freed: list[list[int]] = [[] for _ in self.steps]
        for value, step in last_use.items():
            if value >= self.n_factors and value not in keep:
                freed[step].append(value)
        return [tuple(sorted(values)) for values in freed]


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
    return "; ".join(text[value] for value in plan.results)


def spans(plan: Plan) -> list[tuple[int, int]]:
    """The factor range [first, last] that each value covers (factors, then steps)."""
    covered = [(index, index) for index in range(plan.n_factors)]
    for left, right in plan.steps:
        covered.append((covered[left][0], covered[right][1]))
    return covered
