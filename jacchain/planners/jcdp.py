"""Exact sequential solutions of the generalised Jacobian chain problem (the model's section
3.6): the cheapest plan with accumulations, multiplications and, matrix-free, tangent and
adjoint eliminations, under an optional memory limit on adjoints; and the dense variant
(every elemental accumulated, then the best product).

The dynamic program runs over all segments of one length at a time, vectorised with numpy
like planners/dp.py: W[i, L] is the least cost of segment [i..i+L-1], R[j, L] the same by its
end, so both halves of every split are slices. int64 where no plan can reach 2**62 (exact),
Python integers in object arrays beyond (exact, slower)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..chain.elementals import ElementalChain
from ..cost.elimination import (
    OpKind,
    accumulation,
    adjoint_elimination,
    adjoint_fits,
    multiplication,
    tangent_elimination,
)
from ..cost.product import ProductKind

_INT64_SAFE = 2**62


@dataclass(frozen=True)
class Operation:
    """One step of a plan. The result is the explicit Jacobian of [first..last] (0-based,
    inclusive). A multiplication splits at `split` (the last elemental of its lower operand);
    an elimination passes through `through` = (first, last) elementals matrix-free.
    `operands` index the earlier operations whose results it consumes."""

    kind: OpKind
    first: int
    last: int
    cost: int
    operands: tuple[int, ...] = ()
    split: int | None = None
    through: tuple[int, int] | None = None


@dataclass(frozen=True)
class ElementalPlan:
    """Operations in an executable order (operands before their consumers); the last one
    yields the whole chain's Jacobian."""

    operations: tuple[Operation, ...]

    @property
    def cost(self) -> int:
        return sum(op.cost for op in self.operations)

    def bracketing(self, chain: ElementalChain) -> str:
        """The plan as one expression, e.g. adj[F1](tan[F3](acc_tan(F2)))."""
        text: list[str] = []
        for op in self.operations:
            if op.kind in (OpKind.ACC_TAN, OpKind.ACC_ADJ):
                text.append(f"{op.kind}({chain.symbol(op.first)})")
            elif op.kind == OpKind.MULTIPLY:
                lower, upper = op.operands
                text.append(f"({text[upper]} {text[lower]})")
            else:
                assert op.through is not None
                names = ",".join(chain.symbol(index) for index in range(op.through[0], op.through[1] + 1))
                text.append(f"{op.kind}[{names}]({text[op.operands[0]]})")
        return text[-1]


def pure_tangent(chain: ElementalChain) -> ElementalPlan:
    """Input-first: accumulate F_1 by tangents, then one tangent elimination through the rest:
    n_1 T(1..q)."""
    first = chain.elementals[0]
    operations = [Operation(OpKind.ACC_TAN, 0, 0, first.inputs * first.tangent_cost)]
    if len(chain) > 1:
        rest = sum(e.tangent_cost for e in chain.elementals[1:])
        operations.append(
            Operation(
                OpKind.TAN_ELIM,
                0,
                len(chain) - 1,
                tangent_elimination(first.inputs, rest),
                (0,),
                None,
                (1, len(chain) - 1),
            )
        )
    return ElementalPlan(tuple(operations))


def pure_adjoint(chain: ElementalChain, memory: int | None = None) -> ElementalPlan | None:
    """Loss-first: accumulate F_q by adjoints, then pull it back through the rest: m_q A(1..q).
    Under a memory limit the elimination is split into one step per elemental when the tapes
    together do not fit (same cost); None when some single tape does not fit."""
    q, elementals = len(chain), chain.elementals
    if not all(adjoint_fits(e.tape, memory) for e in elementals):
        return None
    last = elementals[-1]
    operations = [Operation(OpKind.ACC_ADJ, q - 1, q - 1, last.outputs * last.adjoint_cost)]
    if q > 1 and adjoint_fits(sum(e.tape for e in elementals[:-1]), memory):
        rest = sum(e.adjoint_cost for e in elementals[:-1])
        operations.append(
            Operation(OpKind.ADJ_ELIM, 0, q - 1, adjoint_elimination(last.outputs, rest), (0,), None, (0, q - 2))
        )
    elif q > 1:
        for index in range(q - 2, -1, -1):
            cost = adjoint_elimination(last.outputs, elementals[index].adjoint_cost)
            operations.append(
                Operation(OpKind.ADJ_ELIM, index, q - 1, cost, (len(operations) - 1,), None, (index, index))
            )
    return ElementalPlan(tuple(operations))


def _bound(chain: ElementalChain) -> int:
    """An upper bound on any plan's cost: q operations, none dearer than the largest product or
    the largest whole-chain elimination."""
    widest = max(chain.widths)
    every = sum(e.tangent_cost + e.adjoint_cost for e in chain.elementals)
    acc = sum(max(e.inputs * e.tangent_cost, e.outputs * e.adjoint_cost) for e in chain.elementals)
    return len(chain) * (widest**3 + widest * every) + acc


MULTIPLY, TANGENT, ADJOINT = 0, 1, 2


def solve(chain: ElementalChain, matrix_free: bool = True, memory: int | None = None) -> ElementalPlan:
    """The cheapest plan: over all plans (matrix_free) or over accumulate-everything-then-
    multiply plans (dense, JCDP's matrix_free 0); adjoints limited by `memory` (None or 0:
    no limit)."""
    q = len(chain)
    leaves = [accumulation(e, memory) for e in chain.elementals]
    if q == 1:
        return ElementalPlan((Operation(leaves[0][0], 0, 0, leaves[0][1]),))
    exact = _bound(chain) < _INT64_SAFE
    dtype: Any = np.int64 if exact else object
    unreachable: Any = _INT64_SAFE if exact else _bound(chain) + 1
    n = np.array([e.inputs for e in chain.elementals], dtype=dtype)
    m = np.array([e.outputs for e in chain.elementals], dtype=dtype)
    tangent_sum = np.array(chain.prefix("tangent_cost"), dtype=dtype)
    adjoint_sum = np.array(chain.prefix("adjoint_cost"), dtype=dtype)
    tape_sum = np.array(chain.prefix("tape"), dtype=dtype)
    by_start = np.full((q, q + 1), unreachable, dtype=dtype)
    by_end = np.full((q, q + 1), unreachable, dtype=dtype)
    choice = np.zeros((q, q + 1), dtype=np.int8)
    split = np.zeros((q, q + 1), dtype=np.int64)
    for index, (_, cost) in enumerate(leaves):
        by_start[index, 1] = by_end[index, 1] = cost
    for length in range(2, q + 1):
        starts = np.arange(q - length + 1)
        ends = starts + length - 1
        lower_lengths = np.arange(1, length)
        lower = by_start[starts[:, None], lower_lengths[None, :]]
        upper = by_end[ends[:, None], (length - lower_lengths)[None, :]]
        k = starts[:, None] + lower_lengths[None, :] - 1  # the last elemental of the lower part
        options = [lower + upper + ProductKind.DENSE.macs(m[ends][:, None], m[k], n[starts][:, None])]
        if matrix_free:
            through_above = tangent_sum[ends + 1][:, None] - tangent_sum[k + 1]
            options.append(lower + n[starts][:, None] * through_above)
            through_below = adjoint_sum[k + 1] - adjoint_sum[starts][:, None]
            adjoint = upper + m[ends][:, None] * through_below
            if memory:
                tapes = tape_sum[k + 1] - tape_sum[starts][:, None]
                adjoint = np.where(tapes <= memory, adjoint, unreachable)
            options.append(adjoint[:, ::-1])  # longest elimination first: ties keep one long step
        stacked = np.stack(options)  # (option, start, lower length)
        flat = stacked.transpose(1, 0, 2).reshape(len(starts), -1)
        best = np.argmin(flat, axis=1)
        by_start[starts, length] = by_end[ends, length] = flat[starts, best]
        how, offset = best // (length - 1), best % (length - 1)
        choice[starts, length] = how
        split[starts, length] = np.where(how == ADJOINT, length - 1 - offset, offset + 1)
    return _reconstruct(chain, leaves, choice, split, q)


def _reconstruct(
    chain: ElementalChain, leaves: list[tuple[OpKind, int]], choice: Any, split: Any, q: int
) -> ElementalPlan:
    """The operations of the optimal plan of [0..q-1], operands first (an explicit stack: no
    recursion, whatever q)."""
    tangent_sum, adjoint_sum = chain.prefix("tangent_cost"), chain.prefix("adjoint_cost")
    operations: list[Operation] = []
    # Post-order: (start, length, expanded?) frames; results of children are popped in order.
    stack: list[tuple[int, int, bool]] = [(0, q, False)]
    results: list[int] = []
    while stack:
        start, length, expanded = stack.pop()
        end = start + length - 1
        if length == 1:
            kind, cost = leaves[start]
            operations.append(Operation(kind, start, start, cost))
            results.append(len(operations) - 1)
            continue
        how, lower_length = int(choice[start, length]), int(split[start, length])
        k = start + lower_length - 1
        if not expanded:
            stack.append((start, length, True))
            if how in (MULTIPLY, TANGENT):
                stack.append((start, lower_length, False))
            if how in (MULTIPLY, ADJOINT):
                stack.append((k + 1, length - lower_length, False))
            continue
        e = chain.elementals
        if how == MULTIPLY:
            lower_result, upper_result = results.pop(), results.pop()
            cost = multiplication(e[end].outputs, e[k].outputs, e[start].inputs)
            operations.append(Operation(OpKind.MULTIPLY, start, end, cost, (lower_result, upper_result), split=k))
        elif how == TANGENT:
            cost = tangent_elimination(e[start].inputs, tangent_sum[end + 1] - tangent_sum[k + 1])
            operations.append(Operation(OpKind.TAN_ELIM, start, end, cost, (results.pop(),), through=(k + 1, end)))
        else:
            cost = adjoint_elimination(e[end].outputs, adjoint_sum[k + 1] - adjoint_sum[start])
            operations.append(Operation(OpKind.ADJ_ELIM, start, end, cost, (results.pop(),), through=(start, k)))
        results.append(len(operations) - 1)
    return ElementalPlan(tuple(operations))
