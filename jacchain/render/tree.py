"""A plan's tree drawn: as ASCII lines (Markdown) and as a rich Tree (terminal)."""

from __future__ import annotations

from rich.text import Text
from rich.tree import Tree

from ..cost.tree import TreeNode


def tree_lines(node: TreeNode, prefix: str = "", last: bool = True, root: bool = True) -> list[str]:
    """The bracketing as an ASCII tree, each node with its shape and the FLOPs of its product."""
    line = f"{node.shape[0]}x{node.shape[1]} {node.label}" + (f"  {node.flops:,} FLOPs" if node.children else "")
    lines = [line if root else prefix + ("`-- " if last else "|-- ") + line]
    child_prefix = "" if root else prefix + ("    " if last else "|   ")
    for index, child in enumerate(node.children):
        lines += tree_lines(child, child_prefix, index == len(node.children) - 1, root=False)
    return lines


def rich_tree(node: TreeNode, tree: Tree | None = None) -> Tree:
    text = Text(f"{node.shape[0]}x{node.shape[1]} ", style="cyan")
    text.append(node.label, style="bold" if node.children else "")
    if node.children:
        text.append(f"  {node.flops:,} FLOPs", style="dim")
    branch = Tree(text) if tree is None else tree.add(text)
    for child in node.children:
        rich_tree(child, branch)
    return branch
