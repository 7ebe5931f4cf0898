"""The cost of each operation on a generalised Jacobian chain, in multiply-adds (MACs), and the
memory rule for adjoints (../shared/GENERALISED-CHAINS.md, sections 2 and 3.3). The solvers,
the schedulers, the executor and the tests all price operations here.

* accumulation of F_l: by tangents n_l t_l, by adjoints m_l a_l (adjoints need e_l <= M);
* multiplication of explicit [k+1..j] by explicit [i..k]: m_j m_k n_i, the dense product rule
  of cost/product.py (ProductKind.DENSE) in MACs;
* tangent elimination of explicit [i..k] through F_{k+1}..F_j: n_i T(k+1..j);
* adjoint elimination of explicit [k+1..j] through F_i..F_k: m_j A(i..k) (needs E(i..k) <= M).
"""

from __future__ import annotations

from enum import StrEnum

from ..chain.elementals import Elemental
from .product import ProductKind


class OpKind(StrEnum):
    ACC_TAN = "acc_tan"
    ACC_ADJ = "acc_adj"
    MULTIPLY = "multiply"
    TAN_ELIM = "tan"
    ADJ_ELIM = "adj"


def adjoint_fits(tape: int, memory: int | None) -> bool:
    """The memory rule: an adjoint operation reversing `tape` is allowed when there is no limit
    (None or 0) or the tape fits (<=)."""
    return not memory or tape <= memory


def accumulation(elemental: Elemental, memory: int | None) -> tuple[OpKind, int]:
    """The cheapest allowed accumulation of one elemental: its mode and cost (tangents on a tie).

    >>> from jacchain.chain.elementals import Elemental
    >>> accumulation(Elemental(5, 1, 6, 6, 20), None), accumulation(Elemental(5, 1, 6, 6, 20), 10)
    ((<OpKind.ACC_ADJ: 'acc_adj'>, 6), (<OpKind.ACC_TAN: 'acc_tan'>, 30))
    """
    tangent = elemental.inputs * elemental.tangent_cost
    adjoint = elemental.outputs * elemental.adjoint_cost
    if adjoint < tangent and adjoint_fits(elemental.tape, memory):
        return OpKind.ACC_ADJ, adjoint
    return OpKind.ACC_TAN, tangent


def multiplication(rows: int, inner: int, cols: int) -> int:
    """(rows x inner)(inner x cols): the dense product rule, in MACs.

    >>> multiplication(1, 4, 5)
    20
    """
    return ProductKind.DENSE.macs(rows, inner, cols)


def tangent_elimination(columns: int, tangent_costs: int) -> int:
    """One tangent per column of the explicit lower Jacobian through the elementals above."""
    return columns * tangent_costs


def adjoint_elimination(rows: int, adjoint_costs: int) -> int:
    """One adjoint per row of the explicit upper Jacobian through the elementals below."""
    return rows * adjoint_costs
