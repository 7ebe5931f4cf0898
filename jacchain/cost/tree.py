"""A plan as a tree: each node's bracketing, shape, and the FLOPs of its own product."""

from __future__ import annotations

from dataclasses import dataclass

from ..chain.factors import Chain
from ..chain.plan import Plan
from .plan_cost import plan_cost


@dataclass(frozen=True)
class TreeNode:
    label: str
    shape: tuple[int, int]
    flops: int
    children: tuple[TreeNode, ...] = ()


def plan_tree(plan: Plan, chain: Chain) -> TreeNode:
    """The tree of a single-output plan (a bracketing of one chain)."""
    nodes = [TreeNode(f.name, f.shape, 0) for f in chain.factors]
    for (left, right), count in zip(plan.steps, plan_cost(plan, chain).products):
        shape = (count.left[0], count.right[1])
        nodes.append(
            TreeNode(f"({nodes[left].label} {nodes[right].label})", shape, count.flops, (nodes[left], nodes[right]))
        )
    return nodes[plan.result]
