"""Render `explain`: each order's sum term by term, the optimal tree, and why it wins."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from .explain import Explanation
from .tree import TreeNode
from .formats import markdown_table, ratio_text, to_csv, to_json


def intro(explanation: Explanation) -> list[str]:
    spec, chain = explanation.spec, explanation.chain
    widths = " -> ".join([f"x ({spec.sizes[0]})"] + [f"z{i} ({n})" for i, n in enumerate(spec.sizes[1:], 1)])
    target = {"loss": "dl/d", "output": f"dz{spec.n_layers}/d"}[chain.of] + ("x" if chain.wrt == "input" else "theta")
    lines = [f"Network {spec.label}: {widths}" + (f" -> loss ({spec.loss})" if chain.of == "loss" else ""),
             f"{target} is a product of {len(chain)} factors ({chain.granularity} granularity):"]
    for name, meaning, shape, structure in explanation.factor_meanings:
        note = f", {structure}" if structure != "dense" else ""
        lines.append(f"  {name:<4} = {meaning:<18} {shape[0]} x {shape[1]}{note}")
    return lines


def ratio_line(explanation: Explanation) -> str:
    sums = {s.name: s.cost.flops for s in explanation.sums}
    loss_first, input_first, optimal = sums["loss-first"], sums["input-first"], sums["optimal"]
    if loss_first == input_first:
        line = f"loss-first and input-first perform the same FLOPs ({loss_first:,})."
    elif loss_first < input_first:
        line = f"input-first performs {ratio_text(input_first / max(loss_first, 1))} the FLOPs of loss-first."
    else:
        line = f"loss-first performs {ratio_text(loss_first / max(input_first, 1))} the FLOPs of input-first."
    best_classic = min(loss_first, input_first)
    if optimal < best_classic:
        line += f" The optimal order needs 1/{best_classic / optimal:,.1f} of the cheaper one's."
    return line


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


def to_dict(explanation: Explanation) -> dict[str, Any]:
    def tree(node: TreeNode) -> dict[str, Any]:
        return {"label": node.label, "shape": list(node.shape), "flops": node.flops,
                "children": [tree(child) for child in node.children]}

    return {
        "schema_version": 1,
        "network": {"name": explanation.spec.name, "sizes": list(explanation.spec.sizes)},
        "of": explanation.chain.of, "wrt": explanation.chain.wrt, "granularity": explanation.chain.granularity,
        "factors": [{"name": n, "meaning": m, "shape": list(s), "structure": st}
                    for n, m, s, st in explanation.factor_meanings],
        "orders": {
            order.name.replace("-", "_"): {
                "bracketing": order.bracketing, "macs": order.cost.macs, "flops": order.cost.flops,
                "terms": [{"left": t.left, "right": t.right, "symbols": t.symbols, "numbers": t.numbers,
                           "macs": t.macs, "flops": t.flops} for t in order.terms],
            }
            for order in explanation.sums
        },
        "optimal_tree": tree(explanation.tree) if explanation.tree else None,
        "why": explanation.reason,
    }


def render_explanation(explanation: Explanation, fmt: str) -> Any:
    if fmt == "json":
        return to_json(to_dict(explanation))
    if fmt == "csv":
        fields = ("order", "left", "right", "symbols", "numbers", "macs", "flops")
        rows = [{"order": o.name, "left": t.left, "right": t.right, "symbols": t.symbols, "numbers": t.numbers,
                 "macs": t.macs, "flops": t.flops} for o in explanation.sums for t in o.terms]
        return to_csv(rows, fields)
    if fmt == "markdown":
        text = "\n".join(intro(explanation)).replace("\n  ", "\n- ") + "\n\n"
        for order in explanation.sums:
            text += f"**{order.name}** (\"{order.article_word}\", {order.ad_name}): `{order.bracketing}`\n\n"
            rows = [[f"`{t.left} {t.right}`", t.symbols, t.numbers, f"{t.macs:,}"] for t in order.terms]
            rows.append(["total", "", "", f"{order.cost.macs:,} MACs = {order.cost.flops:,} FLOPs"])
            text += markdown_table(["product", "cost", "numbers", "MACs"], rows, [False, False, False, True]) + "\n"
        text += ratio_line(explanation) + "\n\n"
        if explanation.tree and explanation.tree.children:
            text += "```text\n" + "\n".join(tree_lines(explanation.tree)) + "\n```\n\n"
        return text + explanation.reason + "\n"
    parts: list[Any] = [Text("\n".join(intro(explanation)))]
    for order in explanation.sums:
        table = Table(title=f"{order.name} (article: \"{order.article_word}\"; {order.ad_name}): {order.bracketing}",
                      title_justify="left", show_edge=False, box=None, padding=(0, 2))
        table.add_column("product")
        table.add_column("cost")
        table.add_column("numbers")
        table.add_column("MACs", justify="right")
        for term in order.terms:
            table.add_row(f"{term.left} {term.right}", term.symbols, term.numbers, f"{term.macs:,}")
        table.add_row("total", "", "", f"{order.cost.macs:,} MACs = {order.cost.flops:,} FLOPs", style="bold")
        parts += [Text(""), table]
    parts += [Text(""), Text(ratio_line(explanation))]
    if explanation.tree and explanation.tree.children:
        parts += [Text(""), Text("optimal bracketing as a tree (shape, FLOPs of each product):"), rich_tree(explanation.tree)]
    parts += [Text(""), Text(explanation.reason)]
    return [Group(*parts)]
