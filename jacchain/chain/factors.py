"""The chain of factors of a derivative: each factor's shape, structure and origin."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from ..errors import JacchainError, choice_error
from ..model.activations import ACTIVATIONS
from ..model.spec import NetworkSpec
from ..types import GRANULARITIES, OF_CHOICES, WRT_CHOICES, Count, FactorKind, Granularity, Of, Structure, Wrt


@dataclass(frozen=True)
class Factor:
    """One matrix of the chain: its symbol, shape, structure and where it comes from: its
    kind and its layer, counting from 1 (the loss factor carries L), so the builder of the
    arrays knows which one to make."""

    name: str
    rows: int
    cols: int
    structure: Structure
    kind: FactorKind
    layer: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows, self.cols)

    def n_stored(self) -> int:
        """Entries held in memory: the diagonal of a diagonal factor; D and z of a Kronecker one."""
        return stored_entries(self.rows, self.cols, self.structure)


def stored_entries(rows: Count, cols: Count, structure: Structure) -> Count:
    """Entries an array of this shape and structure holds.

    >>> D, K = Structure.DIAGONAL, Structure.KRON
    >>> stored_entries(3, 3, D), stored_entries(3, 3 * 4 + 3, K), stored_entries(2, 5, Structure.DENSE)
    (3, 7, 10)
    """
    if structure == Structure.DIAGONAL:
        return rows
    if structure == Structure.KRON:
        return rows + (cols - rows) // rows
    return rows * cols


@dataclass(frozen=True)
class Chain:
    """Factors in matrix order, left to right: g, J_L, ..., J_1 (or their op split)."""

    factors: tuple[Factor, ...]
    itemsize: int
    of: Of = "loss"
    granularity: Granularity = "layer"
    wrt: Wrt = "input"

    def __len__(self) -> int:
        return len(self.factors)

    def index(self, kind: FactorKind, layer: int) -> int | None:
        """Position of the factor built from (kind, layer), or None if the chain has none."""
        for position, factor in enumerate(self.factors):
            if factor.kind == kind and factor.layer == layer:
                return position
        return None

    def position(self, kind: FactorKind, layer: int) -> int:
        """Position of a factor the chain must have (the planners' layout guarantees it)."""
        found = self.index(kind, layer)
        if found is None:  # pragma: no cover - a layout bug, not user input
            raise LookupError(f"the chain has no {kind} factor for layer {layer}")
        return found

    @property
    def n_layers(self) -> int:
        """L, the layers the chain runs through (the layer of its first factor)."""
        return max(factor.layer for factor in self.factors)

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


def chain_of_dims(dims: list[int], diagonal: list[bool] | None = None, itemsize: int = 8) -> Chain:
    """A bare chain of factors p_t x p_{t+1}, some of them diagonal (square), not from a
    network: for studying bracketings of any chain.

    >>> chain_of_dims([10, 20, 20, 5], [False, True, False]).names
    ['F0', 'F1', 'F2']
    """
    diagonal = diagonal or [False] * (len(dims) - 1)
    factors = []
    for index, (rows, cols) in enumerate(itertools.pairwise(dims)):
        if diagonal[index] and rows != cols:
            raise JacchainError(f"factor {index}: a diagonal factor is square, got {rows} x {cols}")
        structure = Structure.DIAGONAL if diagonal[index] else Structure.DENSE
        factors.append(Factor(f"F{index}", rows, cols, structure, FactorKind.LAYER, index + 1))
    return Chain(tuple(factors), itemsize)


def check_chain_choice(of: Of, granularity: Granularity, wrt: Wrt) -> None:
    """Refuse a combination of --of, --granularity and --wrt that names no chain."""
    if wrt not in WRT_CHOICES:
        raise choice_error("--wrt", wrt, WRT_CHOICES)
    if wrt == "params" and of != "loss":
        raise JacchainError("--wrt params needs --of loss: jacchain computes the gradient dl/dtheta, not dz_L/dtheta")
    if of not in OF_CHOICES:
        raise choice_error("--of", of, OF_CHOICES)
    if granularity not in GRANULARITIES:
        raise choice_error("granularity", granularity, GRANULARITIES)


def build_chain(spec: NetworkSpec, of: Of = "loss", granularity: Granularity = "layer", wrt: Wrt = "input") -> Chain:
    """Lay out the factors of dl/dx (of="loss") or dz_L/dx (of="output") for a spec.

    With wrt="params" the chain also holds P_L..P_1 = dz_i/dtheta_i after the layer factors;
    plans for it are built by planners/params.py, not by bracketing one product.
    """
    check_chain_choice(of, granularity, wrt)
    sizes, n_layers = spec.sizes, spec.n_layers
    factors: list[Factor] = []
    if of == "loss":
        factors.append(Factor("g", 1, sizes[-1], Structure.DENSE, FactorKind.LOSS, n_layers))
    for i in range(n_layers, 0, -1):
        n_out, n_in = sizes[i], sizes[i - 1]
        if granularity == "layer":
            factors.append(Factor(f"J{i}", n_out, n_in, Structure.DENSE, FactorKind.LAYER, i))
            continue
        activation = ACTIVATIONS.get(spec.activations[i - 1])
        # An identity activation contributes D_i = I: no operation, so no factor.
        if activation.name != "identity":
            structure = Structure.DIAGONAL if activation.elementwise else Structure.DENSE
            factors.append(Factor(f"D{i}", n_out, n_out, structure, FactorKind.ACTIVATION, i))
        factors.append(Factor(f"W{i}", n_out, n_in, Structure.DENSE, FactorKind.WEIGHT, i))
    if wrt == "params":
        structure = Structure.DENSE if granularity == "layer" else Structure.KRON
        for i in range(n_layers, 0, -1):
            n_theta = sizes[i] * sizes[i - 1] + sizes[i]
            factors.append(Factor(f"P{i}", sizes[i], n_theta, structure, FactorKind.PARAMS, i))
    return Chain(tuple(factors), spec.itemsize, of, granularity, wrt)
