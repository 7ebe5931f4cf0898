"""Surrogate elementals: a chain config has no arrays, so it runs on stand-ins built to its
numbers. Elemental l (n inputs, m outputs, tangent cost t, adjoint cost a) becomes a linear
map whose tangent model costs exactly t multiply-adds per column and whose adjoint model
costs exactly a per row, so that a plan's counted MACs equal the model's and its time is the
time of that much dense work on this machine.

The Jacobian is J = L R + l r^T: R (r x n) and L (m x r) are dense with r = c // (n + m), where
c = min(t, a); the last term is a partial rank one, r with p leading entries and l with q,
p + q = c mod (n + m). A product with J then costs r(n + m) + p + q = c per vector either way.
What the tangent or the adjoint costs beyond c (an adjoint's tape recording, say) is one more
product of the same size into a scratch block: real work, counted, that leaves the result
alone. Entries are drawn from the seed, scaled by 1/sqrt(width) to keep the chain's product
of order one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..chain.elementals import Elemental, ElementalChain
from ..cost.product import ProductCount, product_count
from ..types import Array, Structure
from .elemental import PROBE_WIDTH, Counter, ElementalModel

DENSE = Structure.DENSE
SEED = 0
DRAW_ENTRIES = 8192  # drawn at a time, in float64, while a surrogate's parts are filled
RANK_ONE = 3  # the place of the rank-one term (`outer`) among a tangent's or an adjoint's products
# The twins' elementals (`twin`): every product of a tangent non-empty (rank 4, a rank-one
# term of 3 and 3, a tangent pad of a row and 2), as the config's elementals' mostly are.
PROBE_ELEMENTAL = Elemental(PROBE_WIDTH, PROBE_WIDTH, tangent_cost=80, adjoint_cost=70, tape=0)


@dataclass(frozen=True)
class Shape:
    """How elemental costs split: rank r, the partial term's p inputs and q outputs, and the
    padding each direction adds beyond the shared part (t - c, a - c)."""

    rank: int
    p: int
    q: int
    tangent_pad: int
    adjoint_pad: int

    @classmethod
    def of(cls, e: Elemental) -> Shape:
        n, m = e.inputs, e.outputs
        shared = min(e.tangent_cost, e.adjoint_cost)
        rank, rest = divmod(shared, n + m)
        q = min(m, rest // 2)
        p = min(n, rest - q)
        return cls(rank, p, rest - p, e.tangent_cost - shared, e.adjoint_cost - shared)


def padding(pad: int, width: int) -> tuple[int, int]:
    """A pad of `pad` MACs per vector against a vector of `width`: full rows and a remainder."""
    return divmod(pad, width) if width else (0, 0)


class SurrogateChain(ElementalModel):
    """A chain config's elementals as surrogate linear maps (module doc)."""

    def __init__(self, chain: ElementalChain, dtype: str = "float64", seed: int = SEED) -> None:
        self.chain, self.dtype = chain, dtype
        self.itemsize = np.dtype(dtype).itemsize
        rng = np.random.default_rng(seed)
        self.shapes = [Shape.of(e) for e in chain.elementals]
        self.parts: list[dict[str, Array]] = []
        for e, shape in zip(chain.elementals, self.shapes):
            n, m = e.inputs, e.outputs

            def draw(rows: int, cols: int, scale: int) -> Array:
                # a few rows at a time: no float64 copy of a whole (large) part beside it
                array = np.empty((rows, cols), dtype)
                step = max(1, DRAW_ENTRIES // max(cols, 1))
                for start in range(0, rows, step):
                    block = rng.standard_normal((min(step, rows - start), cols))
                    block /= np.sqrt(max(scale, 1))
                    array[start : start + step] = block
                return array

            t_rows, t_rest = padding(shape.tangent_pad, n)
            a_cols, a_rest = padding(shape.adjoint_pad, m)
            self.parts.append(
                {
                    "R": draw(shape.rank, n, n),
                    "L": draw(m, shape.rank, shape.rank + 1),
                    "r": draw(1, shape.p, n),
                    "l": draw(shape.q, 1, 1),
                    "tangent_pad": draw(t_rows, n, n),
                    "tangent_rest": draw(1, t_rest, n),
                    "adjoint_pad": draw(m, a_cols, m),
                    "adjoint_rest": draw(a_rest, 1, m),
                }
            )

    @property
    def n_entries(self) -> int:
        """Entries the surrogate's matrices hold (for the memory check)."""
        return sum(a.size for part in self.parts for a in part.values())

    def tangent(self, index: int, block: Array, counter: Counter) -> Array:
        part, p = self.parts[index], self.shapes[index].p
        mm = self.multiply
        result = mm(part["L"], mm(part["R"], block, counter), counter)
        result[: part["l"].shape[0]] += self.outer(part["l"], mm(part["r"], block[:p], counter), counter)
        # The tangent's own work beyond J V: counted, its result discarded.
        mm(part["tangent_pad"], block, counter)
        mm(part["tangent_rest"], block[: part["tangent_rest"].shape[1]], counter)
        return result

    def adjoint(self, index: int, block: Array, counter: Counter) -> Array:
        part, q = self.parts[index], self.shapes[index].q
        mm = self.multiply
        result = mm(mm(block, part["L"], counter), part["R"], counter)
        result[:, : part["r"].shape[1]] += self.outer(mm(block[:, :q], part["l"], counter), part["r"], counter)
        # The adjoint's own work beyond W J (its tape, say): counted, its result discarded.
        mm(block, part["adjoint_pad"], counter)
        mm(block[:, : part["adjoint_rest"].shape[0]], part["adjoint_rest"], counter)
        return result

    def outer(self, column: Array, row: Array, counter: Counter) -> Array:
        """The partial rank-one term: a column times a row, by broadcasting (BLAS's (q x 1)(1 x k)
        product is several times slower here), counted like the product it is."""
        counter.add(column.shape[0] * row.shape[1])
        return column * row

    def tangent_products(self, index: int, columns: int) -> list[ProductCount]:
        part = self.parts[index]
        n = self.chain.elementals[index].inputs
        p = self.shapes[index].p
        pairs = [
            (part["R"].shape, (n, columns)),
            (part["L"].shape, (part["R"].shape[0], columns)),
            (part["r"].shape, (p, columns)),
            (part["l"].shape, (1, columns)),
            (part["tangent_pad"].shape, (n, columns)),
            (part["tangent_rest"].shape, (part["tangent_rest"].shape[1], columns)),
        ]
        return _products(pairs)

    def adjoint_products(self, index: int, rows: int) -> list[ProductCount]:
        part = self.parts[index]
        m = self.chain.elementals[index].outputs
        q = self.shapes[index].q
        pairs = [
            ((rows, m), part["L"].shape),
            ((rows, part["L"].shape[1]), part["R"].shape),
            ((rows, q), part["l"].shape),
            ((rows, 1), part["r"].shape),
            ((rows, m), part["adjoint_pad"].shape),
            ((rows, part["adjoint_rest"].shape[0]), part["adjoint_rest"].shape),
        ]
        return _products(pairs)

    def jacobian(self, index: int) -> Array:
        """J_l itself, from its factors (no model evaluation)."""
        part = self.parts[index]
        result = part["L"] @ part["R"]
        result[: part["l"].shape[0], : part["r"].shape[1]] += part["l"] @ part["r"]
        return result

    def reference(self) -> Array:
        """The full Jacobian as the product of the elementals' own Jacobians."""
        result = self.jacobian(0)
        for index in range(1, len(self.chain)):
            result = self.jacobian(index) @ result
        return result

    def twin(self, length: int) -> SurrogateChain:
        """`length` surrogates of PROBE_ELEMENTAL, in this model's dtype."""
        return SurrogateChain(ElementalChain((PROBE_ELEMENTAL,) * length), self.dtype)


def _products(pairs: Sequence[tuple[tuple[int, ...], tuple[int, ...]]]) -> list[ProductCount]:
    """The products of (left shape, right shape) pairs as a model evaluation makes them, the
    empty ones too (each still a call), the pair at RANK_ONE its rank-one term (`outer`)."""
    return [
        replace(product_count((left[0], left[1], DENSE), (right[0], right[1], DENSE)), broadcast=place == RANK_ONE)
        for place, (left, right) in enumerate(pairs)
    ]
