"""Exact cost of a plan from shapes alone: every product's counts and the peak bytes of the
intermediates it keeps alive."""

from __future__ import annotations

from dataclasses import dataclass

from ..chain.factors import Chain, stored_entries
from ..chain.plan import Plan
from ..types import Structure
from .product import ProductCount, product_count


@dataclass(frozen=True)
class PlanCost:
    macs: int
    flops: int
    peak_bytes: int
    products: tuple[ProductCount, ...]
    result_bytes: int = 0


def stored_bytes(rows: int, cols: int, structure: Structure, itemsize: int) -> int:
    return stored_entries(rows, cols, structure) * itemsize


def plan_cost(plan: Plan, chain: Chain) -> PlanCost:
    """Model a plan: every product's counts and the peak bytes of live intermediate results.

    An intermediate lives from the step that makes it to the step that last uses it (outputs
    to the end); the factors themselves are not counted (see Chain.factor_bytes).
    """
    values = [(f.rows, f.cols, f.structure) for f in chain.factors]
    products, live, peak = [], 0, 0
    for (left, right), freed in zip(plan.steps, plan.frees()):
        count = product_count(values[left], values[right])
        made = (count.left[0], count.right[1], count.result_structure)
        out_bytes = stored_bytes(*made, chain.itemsize)
        peak = max(peak, live + out_bytes)
        live += out_bytes - sum(stored_bytes(*values[value], chain.itemsize) for value in freed)
        values.append(made)
        products.append(count)
    return PlanCost(
        macs=sum(p.macs for p in products),
        flops=sum(p.flops for p in products),
        peak_bytes=peak,
        products=tuple(products),
        result_bytes=sum(stored_bytes(*values[value], chain.itemsize) for value in plan.results),
    )
