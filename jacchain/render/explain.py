"""Render `explain`: each order's sum term by term, the optimal tree, and why it wins."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..cost.ratio import count_ratio, ratio_text
from ..cost.tree import TreeNode
from ..jobs.explain import Explanation, Term
from ..types import Structure
from .base import Renderer, register
from .text import markdown_table, network_block
from .tree import rich_tree, tree_lines

CSV_FIELDS = ("order", "left", "right", "symbols", "numbers", "macs", "flops")


def intro(explanation: Explanation) -> list[str]:
    spec, chain = explanation.spec, explanation.chain
    widths = " -> ".join([f"x ({spec.sizes[0]})"] + [f"z{i} ({n})" for i, n in enumerate(spec.sizes[1:], 1)])
    target = {"loss": "dl/d", "output": f"dz{spec.n_layers}/d"}[chain.of] + ("x" if chain.wrt == "input" else "theta")
    lines = [
        f"Network {spec.label}: {widths}" + (f" -> loss ({spec.loss})" if chain.of == "loss" else ""),
        f"{target} is a product of {len(chain)} factors ({chain.granularity} granularity):",
    ]
    for factor in explanation.factor_meanings:
        note = f", {factor.structure}" if factor.structure != Structure.DENSE else ""
        lines.append(f"  {factor.name:<4} = {factor.meaning:<18} {factor.shape[0]} x {factor.shape[1]}{note}")
    return lines


def ratio_line(explanation: Explanation) -> str:
    sums = {s.name: s.cost.flops for s in explanation.sums}
    loss_first, input_first, optimal = sums["loss-first"], sums["input-first"], sums["optimal"]
    if loss_first == input_first:
        line = f"loss-first and input-first perform the same FLOPs ({loss_first:,})."
    elif loss_first < input_first:
        line = f"input-first performs {ratio_text(count_ratio(input_first, loss_first))} the FLOPs of loss-first."
    else:
        line = f"loss-first performs {ratio_text(count_ratio(loss_first, input_first))} the FLOPs of input-first."
    best_classic = min(loss_first, input_first)
    if optimal < best_classic:
        line += f" The optimal order needs 1/{best_classic / optimal:,.1f} of the cheaper one's."
    return line


def term_dict(term: Term) -> dict[str, Any]:
    """One product of an order's sum, as JSON and CSV carry it."""
    return {key: getattr(term, key) for key in CSV_FIELDS[1:]}


def to_dict(explanation: Explanation) -> dict[str, Any]:
    def tree(node: TreeNode) -> dict[str, Any]:
        return {
            "label": node.label,
            "shape": list(node.shape),
            "flops": node.flops,
            "children": [tree(child) for child in node.children],
        }

    return {
        "network": network_block(explanation.spec),
        "of": explanation.chain.of,
        "wrt": explanation.chain.wrt,
        "granularity": explanation.chain.granularity,
        "factors": [
            {"name": f.name, "meaning": f.meaning, "shape": list(f.shape), "structure": str(f.structure)}
            for f in explanation.factor_meanings
        ],
        "orders": {
            order.name.replace("-", "_"): {
                "bracketing": order.bracketing,
                "macs": order.cost.macs,
                "flops": order.cost.flops,
                "terms": [term_dict(term) for term in order.terms],
            }
            for order in explanation.sums
        },
        "optimal_tree": tree(explanation.tree) if explanation.tree else None,
        "why": explanation.reason,
    }


def markdown(explanation: Explanation) -> str:
    text = "\n".join(intro(explanation)).replace("\n  ", "\n- ") + "\n\n"
    for order in explanation.sums:
        text += f'**{order.name}** ("{order.article_word}", {order.ad_name}): `{order.bracketing}`\n\n'
        rows = [[f"`{t.left} {t.right}`", t.symbols, t.numbers, f"{t.macs:,}"] for t in order.terms]
        rows.append(["total", "", "", f"{order.cost.macs:,} MACs = {order.cost.flops:,} FLOPs"])
        text += markdown_table(["product", "cost", "numbers", "MACs"], rows, [False, False, False, True]) + "\n"
    text += ratio_line(explanation) + "\n\n"
    if explanation.tree and explanation.tree.children:
        text += "```text\n" + "\n".join(tree_lines(explanation.tree)) + "\n```\n\n"
    return text + explanation.reason + "\n"


def table(explanation: Explanation) -> list[Any]:
    parts: list[Any] = [Text("\n".join(intro(explanation)))]
    for order in explanation.sums:
        title = f'{order.name} (article: "{order.article_word}"; {order.ad_name}): {order.bracketing}'
        grid = Table(title=title, title_justify="left", show_edge=False, box=None, padding=(0, 2))
        grid.add_column("product")
        grid.add_column("cost")
        grid.add_column("numbers")
        grid.add_column("MACs", justify="right")
        for term in order.terms:
            grid.add_row(f"{term.left} {term.right}", term.symbols, term.numbers, f"{term.macs:,}")
        grid.add_row("total", "", "", f"{order.cost.macs:,} MACs = {order.cost.flops:,} FLOPs", style="bold")
        parts += [Text(""), grid]
    parts += [Text(""), Text(ratio_line(explanation))]
    if explanation.tree and explanation.tree.children:
        parts += [
            Text(""),
            Text("optimal bracketing as a tree (shape, FLOPs of each product):"),
            rich_tree(explanation.tree),
        ]
    parts += [Text(""), Text(explanation.reason)]
    return [Group(*parts)]


def csv_rows(explanation: Explanation) -> list[dict[str, Any]]:
    return [{"order": order.name, **term_dict(term)} for order in explanation.sums for term in order.terms]


register(Explanation, Renderer(to_dict, CSV_FIELDS, csv_rows, markdown, table))
