"""Render analyses: rich tables, JSON, Markdown and CSV, all pure functions of a result."""

from __future__ import annotations

import statistics
import time
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..cost.machine import Calibration
from ..cost.memory import human_bytes, over_limit_message, sizes_apart
from ..cost.product import ProductCount
from ..cost.ratio import count_ratio, ratio_text
from ..cost.tree import TreeNode, plan_tree
from ..jobs.analyze import Analysis, CountOnly, CountOnlyReason, OrderResult
from ..types import Structure
from .base import Renderer, register
from .text import markdown_table, network_block, seconds_text
from .tree import rich_tree

MAX_TREE_FACTORS = 16  # draw the optimal bracketing as a tree up to this many factors


def product_text(product: ProductCount) -> str:
    """(1x10)(10x256), with diag(n) for a diagonal operand."""

    def operand(shape: tuple[int, int], structure: Structure) -> str:
        return f"diag({shape[0]})" if structure == Structure.DIAGONAL else f"({shape[0]}x{shape[1]})"

    return operand(product.left, product.left_structure) + operand(product.right, product.right_structure)


# ----------------------------------------------------------------------------- JSON


def order_to_dict(result: OrderResult) -> dict[str, Any]:
    return {
        "name": result.order.name,
        "article_word": result.order.article_word,
        "ad_name": result.order.ad_name,
        "bracketing": result.bracketing,
        "macs": result.macs,
        "flops": result.flops,
        "peak_bytes": result.peak_bytes,
        "products": [product.to_dict() for product in result.products],
        "time_s": result.time.to_dict() if result.time else None,
        "gflops_per_s": result.gflops_per_s,
        "measured_peak_bytes": result.measured_peak_bytes,
        "predicted_time_s": result.predicted_time,
        "fraction_of_limit": result.fraction_of_limit,
    }


def analysis_to_dict(analysis: Analysis) -> dict[str, Any]:
    chain = analysis.chain
    return {
        "network": network_block(analysis.spec),
        "of": chain.of,
        "wrt": analysis.wrt,
        "granularity": chain.granularity,
        "analytic": analysis.analytic,
        "factors": [{"name": f.name, "shape": list(f.shape), "structure": str(f.structure)} for f in chain.factors],
        "factor_bytes": chain.factor_bytes,
        "memory_bytes": analysis.memory_bytes,
        "orders": {result.order.key: order_to_dict(result) for result in analysis.orders},
        "max_abs_diff": analysis.max_abs_diff,
        "jacobian_build_time_s": analysis.build_time.to_dict() if analysis.build_time else None,
        "blas": analysis.blas.to_dict() if analysis.blas else None,
        "calibration": analysis.calibration.to_dict() if analysis.calibration else None,
        "fixed_costs": analysis.fixed_costs.to_dict() if analysis.fixed_costs else None,
        "cost": analysis.cost,
        "note": note(analysis),
    }


def reason_text(analysis: Analysis, reason: CountOnly) -> str:
    """Why (part of) an analysis was counted only, in words."""
    needed, limit = sizes_apart(reason.needed_bytes, reason.limit_bytes or 0)
    if reason.reason == CountOnlyReason.MARKED_ANALYTIC:
        return (
            f"{analysis.spec.label} is marked analytic (real model widths): counted only; "
            f"an explicit run would need about {needed}"
        )
    if reason.reason == CountOnlyReason.FACTORS_OVER_LIMIT:
        return f"analytic: the explicit factors need about {needed}, over the --max-memory limit of {limit}"
    if reason.reason == CountOnlyReason.ORDER_OVER_LIMIT:
        return f"{reason.order} is analytic: running it would need about {needed}, over the --max-memory limit"
    return over_limit_message(f"explicit run of {analysis.spec.label}", reason.needed_bytes, reason.limit_bytes or 0)


def note(analysis: Analysis) -> str | None:
    return "; ".join(reason_text(analysis, reason) for reason in analysis.count_only) or None


def optimal_tree(analysis: Analysis) -> TreeNode | None:
    """The optimal bracketing as a tree, for chains short enough to draw."""
    if analysis.wrt != "input" or len(analysis.chain) > MAX_TREE_FACTORS:
        return None
    for result in analysis.orders:
        if result.order.name == "optimal":
            return plan_tree(result.plan, analysis.chain)
    return None


# ----------------------------------------------------------------------------- summaries


def comparisons(analysis: Analysis) -> list[str]:
    """Sentences comparing each order with the cheapest one, in FLOPs and in measured time."""
    if len(analysis.orders) < 2:
        return []
    cheapest = min(analysis.orders, key=lambda r: r.flops)
    lines = []
    for result in analysis.orders:
        if result is cheapest or result.flops == cheapest.flops:
            continue
        line = (
            f"{result.order.name} performs {ratio_text(count_ratio(result.flops, cheapest.flops))} "
            f"the FLOPs of {cheapest.order.name}"
        )
        if result.time and cheapest.time and cheapest.time.median > 0:
            line += f" and takes {ratio_text(result.time.median / cheapest.time.median)} the time"
        lines.append(line)
    same = [r.order.name for r in analysis.orders if r is not cheapest and r.flops == cheapest.flops]
    if same:
        lines.append(f"{', '.join(same)} costs the same FLOPs as {cheapest.order.name}")
    return lines


def footer_lines(analysis: Analysis) -> list[str]:
    lines = comparisons(analysis)
    if analysis.max_abs_diff is not None:
        lines.append(f"max abs difference between orders: {analysis.max_abs_diff:.3g}")
    if analysis.build_time is not None:
        t = analysis.build_time
        lines.append(
            f"building the Jacobians ({human_bytes(analysis.chain.factor_bytes)}): "
            f"{seconds_text(t.median)} (min {seconds_text(t.min)}, max {seconds_text(t.max)}), "
            "timed apart from the chain products"
        )
    lines += time_model_lines(analysis)
    if analysis.blas is not None:
        lines.append(f"BLAS: {analysis.blas.library}, {analysis.blas.threads} thread(s)")
    if note(analysis):
        lines.append(note(analysis) or "")
    elif analysis.analytic:
        lines.append("analytic: counts from the cost model; nothing was built or timed")
    return lines


def compute_text(c: Calibration) -> str:
    """How the model prices a dense product's FLOPs with these figures."""
    if not c.gemm_curve:
        return f"FLOPs / {c.gemm_gflops:.1f} GFLOP/s"
    rates = [rate for _, rate in c.gemm_curve + c.gemm_curve_narrow + c.small_curve + c.small_curve_narrow]
    curves = "GEMM curves (short and narrow results)" if c.gemm_curve_narrow else "GEMM curve"
    small = ", or the small-product curves" if c.small_curve else ""
    return f"FLOPs / {min(rates):.1f}-{max(rates):.1f} GFLOP/s, the {curves} read at the product's shape{small}"


def transfer_text(c: Calibration) -> str:
    """How the model prices a product's bytes with these figures."""
    if not c.stream_curve:
        return (
            f"bytes / {c.cache_gbps:.1f} GB/s from cache (up to {human_bytes(c.cache_bytes)}) "
            f"or {c.stream_gbps:.1f} GB/s from memory"
        )
    rates = [rate for _, rate in c.stream_curve + c.stream_curve_one] + [c.stream_gbps]
    return (
        f"bytes / {min(rates):.1f}-{max(rates):.1f} GB/s, the streaming rate measured where the caches "
        "hold what the whole order moves"
    )


def time_model_lines(analysis: Analysis) -> list[str]:
    """The machine's limits used, and predicted against measured ratios of the classic orders."""
    c, machine = analysis.calibration, analysis.machine
    if c is None or machine is None:
        return []
    fixed = (
        f"{seconds_text(machine.call_s)} (timed beside the orders; calibrated {seconds_text(c.call_s)})"
        if analysis.fixed_costs
        else seconds_text(c.call_s)
    )
    lines = [
        f"time model per product: {fixed} + max({compute_text(c)}; "
        f"{transfer_text(c)}; a matrix-vector product by its bytes alone), "
        f"plus {seconds_text(machine.run_s)} per run, "
        f"from `jacchain calibrate` ({c.dtype}, {c.threads} thread(s))"
        + ("; optimal minimises predicted time (--cost time)" if analysis.cost == "time" else "")
    ]
    lines += doubtful_calibration(c)
    lines += drifted(analysis)
    orders = {r.order.name: r for r in analysis.orders}
    first, second = orders.get("input-first"), orders.get("loss-first")
    if first and second and first.predicted_time and second.predicted_time:
        line = f"input-first / loss-first time: predicted {first.predicted_time / second.predicted_time:,.1f}x"
        if first.time and second.time:
            line += f", measured {first.time.median / second.time.median:,.1f}x"
        lines.append(line)
    return lines


DRIFT = 1.5  # every order this much slower (or faster) than predicted: the machine has changed


def drifted(analysis: Analysis) -> list[str]:
    """One line when every measured order is off its prediction in the same direction by more
    than DRIFT: a calibration that no longer describes the machine, whatever its age."""
    ratios = [r.time.median / r.predicted_time for r in analysis.orders if r.time and r.predicted_time]
    if len(ratios) < 2 or not (min(ratios) > DRIFT or max(ratios) < 1 / DRIFT):
        return []
    factor = statistics.geometric_mean(ratios)
    how = f"{factor:.1f}x slower" if factor > 1 else f"{1 / factor:.1f}x faster"
    c = analysis.calibration
    redo = f"jacchain calibrate --dtype {c.dtype} --threads {c.threads}" if c else "jacchain calibrate"
    return [f"note: every order ran {how} than predicted; the machine has changed since it was calibrated: `{redo}`"]


def doubtful_calibration(c: Calibration) -> list[str]:
    """One line when the calibration is stale, was taken under load or did not settle."""
    notes = c.notes(time.time())
    if not notes:
        return []
    threads = f" --threads {c.threads}"
    return [
        f"note: the calibration behind these predictions looks doubtful: {'; '.join(notes)}; "
        f"redo it on an idle machine with `jacchain calibrate --dtype {c.dtype}{threads}`"
    ]


def predicted_cell(result: OrderResult) -> str:
    if result.predicted_time is None:
        return "-"
    text = seconds_text(result.predicted_time)
    fraction = result.fraction_of_limit
    return text + (f"\n{fraction * 100:.0f}% of limit" if fraction is not None else "")


def title(analysis: Analysis) -> str:
    spec, chain = analysis.spec, analysis.chain
    target = {"loss": "dl/d", "output": "dz_L/d"}[chain.of] + ("x" if analysis.wrt == "input" else "theta")
    name = f"{spec.name} " if spec.name else ""
    return (
        f"{name}[{','.join(map(str, spec.sizes))}] {target}, {chain.granularity} granularity, "
        f"{spec.dtype}, activations {'/'.join(spec.activations)}, loss {spec.loss}"
    )


def time_cell(result: OrderResult, separator: str = "\n") -> str:
    if result.time is None:
        return "-"
    t = result.time
    return f"{seconds_text(t.median)}{separator}{seconds_text(t.min)}-{seconds_text(t.max)}, n={t.repeats}"


# ----------------------------------------------------------------------------- table


def analysis_table(analysis: Analysis) -> Group:
    table = Table(title=title(analysis), title_justify="left", show_lines=True)
    table.add_column("order", max_width=20)
    table.add_column("bracketing")
    table.add_column("products", no_wrap=True)
    measured = any(result.measured_peak_bytes is not None for result in analysis.orders)
    predicted = analysis.calibration is not None
    headings = (
        ("MACs", "FLOPs", "time (median, min-max)")
        + (("model time",) if predicted else ())
        + ("GFLOP/s", "peak bytes (model)")
    )
    for heading in headings + (("peak bytes (measured)",) if measured else ()):
        table.add_column(heading, justify="right")
    for result in analysis.orders:
        order = result.order
        label = Text(order.name, style="bold")
        label.append(f"\narticle: {order.article_word}\n{order.ad_name}", style="dim")
        gflops = result.gflops_per_s
        table.add_row(
            label,
            result.bracketing,
            "\n".join(product_text(p) for p in result.products) or "-",
            f"{result.macs:,}",
            f"{result.flops:,}",
            time_cell(result),
            *((predicted_cell(result),) if predicted else ()),
            f"{gflops:.2f}" if gflops is not None else "-",
            f"{result.peak_bytes:,}",
            *(
                (f"{result.measured_peak_bytes:,}" if result.measured_peak_bytes is not None else "-",)
                if measured
                else ()
            ),
        )
    parts: list[Any] = [table]
    tree = optimal_tree(analysis)
    if tree is not None and tree.children:
        parts += [Text("optimal bracketing (shape, FLOPs of each product):"), rich_tree(tree)]
    return Group(*parts, *(Text(line) for line in footer_lines(analysis)))


# ----------------------------------------------------------------------------- markdown / csv

CSV_FIELDS = (
    "network",
    "of",
    "wrt",
    "granularity",
    "order",
    "article_word",
    "ad_name",
    "bracketing",
    "macs",
    "flops",
    "peak_bytes",
    "time_median_s",
    "time_min_s",
    "time_max_s",
    "repeats",
    "gflops_per_s",
    "predicted_time_s",
    "max_abs_diff",
)


def csv_rows(analysis: Analysis) -> list[dict[str, Any]]:
    """One flat row per order, from the same dictionary as the JSON."""
    rows = []
    for result in analysis.orders:
        order = order_to_dict(result)
        t = order["time_s"] or {}
        flat = {
            "network": analysis.spec.label,
            "of": analysis.chain.of,
            "wrt": analysis.wrt,
            "granularity": analysis.chain.granularity,
            "order": order["name"],
            "time_median_s": t.get("median"),
            "time_min_s": t.get("min"),
            "time_max_s": t.get("max"),
            "repeats": t.get("repeats"),
            "max_abs_diff": analysis.max_abs_diff,
        }
        flat.update({key: order[key] for key in CSV_FIELDS if key in order and key not in flat})
        rows.append({key: "" if flat.get(key) is None else flat[key] for key in CSV_FIELDS})
    return rows


def analysis_markdown(analysis: Analysis) -> str:
    headings = ["order", "article", "AD name", "bracketing", "MACs", "FLOPs", "time (median)", "GFLOP/s", "peak bytes"]
    rows = []
    for result in analysis.orders:
        gflops = result.gflops_per_s
        rows.append(
            [
                f"**{result.order.name}**",
                result.order.article_word,
                result.order.ad_name,
                f"`{result.bracketing}`",
                f"{result.macs:,}",
                f"{result.flops:,}",
                time_cell(result, " (") + (")" if result.time else ""),
                f"{gflops:.2f}" if gflops is not None else "-",
                f"{result.peak_bytes:,}",
            ]
        )
    text = f"### {title(analysis)}\n\n"
    text += markdown_table(headings, rows, [False] * 4 + [True] * 5)
    return text + "\n" + "".join(f"- {line}\n" for line in footer_lines(analysis))


register(
    Analysis,
    Renderer(analysis_to_dict, CSV_FIELDS, csv_rows, analysis_markdown, lambda analysis: [analysis_table(analysis)]),
)
