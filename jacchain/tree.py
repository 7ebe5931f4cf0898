"""A plan drawn as a tree: each node's bracketing, shape, and the FLOPs of its own product."""

from __future__ import annotations

from dataclasses import dataclass

from .chain import Chain, Plan
from .cost import product_count


@dataclass(frozen=True)
class TreeNode:
    label: str
    shape: tuple[int, int]
    flops: int
    children: tuple["TreeNode", ...] = ()


def plan_tree(plan: Plan, chain: Chain) -> TreeNode:
    """The tree of a single-output plan (a bracketing of one chain)."""
    nodes = [TreeNode(f.name, f.shape, 0) for f in chain.factors]
    shapes = [(f.rows, f.cols, f.structure) for f in chain.factors]
    for left, right in plan.steps:
        count, structure = product_count(shapes[left], shapes[right])
        shape = (shapes[left][0], shapes[right][1])
        nodes.append(TreeNode(f"({nodes[left].label} {nodes[right].label})", shape, count.flops,
                              (nodes[left], nodes[right])))
        shapes.append((*shape, structure))
    return nodes[plan.result]
