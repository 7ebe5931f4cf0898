"""Render generalised-chain analyses and explanations in every format."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..chain.elementals import ElementalChain
from ..cost.ratio import count_ratio, ratio_text
from ..jobs.chain import ChainAnalysis, ChainExplanation, ChainOrderResult, Measured
from ..planners.jcdp import ElementalPlan, Operation
from ..planners.schedule import Schedule
from .base import Renderer, register
from .text import markdown_table, seconds_text

MODES = {"acc_tan": "tangent", "acc_adj": "adjoint", "tan": "tangent", "adj": "adjoint", "multiply": "-"}


def segment(first: int, last: int) -> list[int]:
    """1-based elemental numbers, as the model writes segments."""
    return [first + 1, last + 1]


def operation_to_dict(op: Operation, chain: ElementalChain) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "kind": "accumulate" if op.kind in ("acc_tan", "acc_adj") else str(op.kind),
        "mode": MODES[str(op.kind)],
        "segment": segment(op.first, op.last),
        "cost": op.cost,
    }
    if op.split is not None:
        entry["split"] = op.split + 1
    if op.through is not None:
        entry["through"] = [chain.symbol(index) for index in range(op.through[0], op.through[1] + 1)]
    return entry


def operation_text(op: Operation, chain: ElementalChain) -> str:
    names = f"{chain.symbol(op.first)}..{chain.symbol(op.last)}" if op.first != op.last else chain.symbol(op.first)
    if op.kind in ("acc_tan", "acc_adj"):
        return f"accumulate {names} by {MODES[str(op.kind)]}s"
    if op.kind == "multiply":
        return f"multiply into [{names}] at {chain.symbol(op.split or 0)}"
    assert op.through is not None
    through = ",".join(chain.symbol(index) for index in range(op.through[0], op.through[1] + 1))
    return f"{MODES[str(op.kind)]} elimination through {through} -> [{names}]"


def schedule_to_dict(schedule: Schedule, heuristic: int | None) -> dict[str, Any]:
    return {
        "machines": schedule.machines,
        "makespan": schedule.makespan,
        "exact": schedule.exact,
        "lower_bound": schedule.lower_bound,
        "work": schedule.work,
        "dp_heuristic": heuristic,
        "tasks": [
            {
                "operation": "accumulate" if task.kind in ("acc_tan", "acc_adj") else str(task.kind),
                "mode": MODES[str(task.kind)],
                "segment": segment(task.first, task.last),
                "cost": task.cost,
                "machine": task.machine,
                "start": task.start,
                "end": task.end,
            }
            for task in schedule.tasks
        ],
    }


def order_to_dict(result: ChainOrderResult, chain: ElementalChain) -> dict[str, Any]:
    plan = result.plan
    return {
        "name": result.order.name,
        "article_word": result.order.article_word,
        "ad_name": result.order.ad_name,
        "allowed": plan is not None,
        "macs": None if plan is None else plan.cost,
        "flops": None if plan is None else 2 * plan.cost,
        "bracketing": None if plan is None else plan.bracketing(chain),
        "plan": None if plan is None else [operation_to_dict(op, chain) for op in plan.operations],
        "schedule": None if result.schedule is None else schedule_to_dict(result.schedule, result.dp_heuristic),
        "measured": None if result.measured is None else measured_to_dict(result.measured),
    }


def measured_to_dict(measured: Measured) -> dict[str, Any]:
    return {
        "time_s": measured.time.to_dict(),
        "predicted_time_s": measured.predicted_time,
        "max_abs_diff": measured.max_abs_diff,
        "makespan_s": None if measured.makespan is None else measured.makespan.to_dict(),
        "one_thread_s": None if measured.one_thread is None else measured.one_thread.to_dict(),
        "predicted_makespan_s": measured.predicted_makespan,
        "speedup": measured.speedup,
    }


def chain_block(chain: ElementalChain) -> dict[str, Any]:
    return {
        "name": chain.name,
        "widths": list(chain.widths),
        "elementals": [
            {
                "name": chain.symbol(index),
                "inputs": e.inputs,
                "outputs": e.outputs,
                "tangent_cost": e.tangent_cost,
                "adjoint_cost": e.adjoint_cost,
                "tape": e.tape,
            }
            for index, e in enumerate(chain.elementals)
        ],
    }


def analysis_to_dict(analysis: ChainAnalysis) -> dict[str, Any]:
    return {
        "chain": chain_block(analysis.chain),
        "source": analysis.source,
        "memory": analysis.memory,
        "machines": analysis.machines,
        "critical_path": analysis.critical_path,
        "blas": analysis.blas.to_dict() if analysis.blas else None,
        "fixed_costs": analysis.fixed_costs.to_dict() if analysis.fixed_costs else None,
        "orders": {r.order.key: order_to_dict(r, analysis.chain) for r in analysis.orders},
    }


def title(analysis: ChainAnalysis) -> str:
    limit = f", memory limit {analysis.memory:,}" if analysis.memory else ", no memory limit"
    machines = f", {analysis.machines} machine(s)" if analysis.machines else ""
    return f"{analysis.chain.label}: {len(analysis.chain)} elementals ({analysis.source}){limit}{machines}, MACs"


HEADINGS = ("order", "plan", "MACs", "FLOPs")
SCHEDULE_HEADINGS = ("makespan", "exact", "DP heuristic", "work")
MEASURED_HEADINGS = ("time (median)", "model time", "max |diff|")
MEASURED_SCHEDULE_HEADINGS = ("makespan on P threads", "model makespan", "speed-up")


def headings(analysis: ChainAnalysis) -> tuple[str, ...]:
    measured = any(r.measured for r in analysis.orders)
    found = HEADINGS + (MEASURED_HEADINGS if measured else ())
    if analysis.machines:
        found += SCHEDULE_HEADINGS + (MEASURED_SCHEDULE_HEADINGS if measured else ())
    return found


def row(result: ChainOrderResult, chain: ElementalChain, machines: int | None, measured: bool = False) -> list[str]:
    plan, m = result.plan, result.measured
    cells = [
        f"{result.order.name}\n{result.order.ad_name}",
        "not allowed: a tape over the memory limit" if plan is None else plan.bracketing(chain),
        "-" if plan is None else f"{plan.cost:,}",
        "-" if plan is None else f"{2 * plan.cost:,}",
    ]
    if measured:
        cells += (
            ["-"] * 3
            if m is None
            else [
                seconds_text(m.time.median),
                "-" if m.predicted_time is None else seconds_text(m.predicted_time),
                f"{m.max_abs_diff:.1e}",
            ]
        )
    if machines:
        s = result.schedule
        cells += (
            ["-"] * 4
            if s is None
            else [
                f"{s.makespan:,}",
                "yes" if s.exact else f"no (>= {s.lower_bound:,})",
                "-" if result.dp_heuristic is None else f"{result.dp_heuristic:,}",
                f"{s.work:,}",
            ]
        )
        if measured:
            cells += (
                ["-"] * 3
                if m is None or m.makespan is None
                else [
                    seconds_text(m.makespan.median),
                    "-" if m.predicted_makespan is None else seconds_text(m.predicted_makespan),
                    "-" if m.speedup is None else f"{m.speedup:.2f}x",
                ]
            )
    return cells


def footer(analysis: ChainAnalysis) -> list[str]:
    lines = []
    best, dense = analysis.order("matrix-free"), analysis.order("accumulate")
    if best and dense and best.macs and dense.macs:
        lines.append(
            f"matrix-free costs {best.macs:,} MACs, accumulate-then-multiply {dense.macs:,}: "
            f"{ratio_text(count_ratio(dense.macs, best.macs))} fewer"
        )
    for name in ("input-first", "loss-first"):
        result = analysis.order(name)
        if best and best.macs and result and result.macs:
            lines.append(
                f"{name} ({result.order.ad_name}) costs {ratio_text(count_ratio(result.macs, best.macs))} the optimum"
            )
    if analysis.critical_path is not None:
        lines.append(f"least critical path over all plans (unlimited machines): {analysis.critical_path:,}")
    if analysis.blas is not None:
        lines.append(
            (
                "run on surrogate elementals (random linear maps that cost exactly the config's numbers)"
                if analysis.source == "chain config"
                else "run on real arrays at the spec's point"
            )
            + f"; BLAS: {analysis.blas.library}, {analysis.blas.threads} thread(s)"
            + (schedules_text(analysis.machines, analysis.cores) if analysis.machines else "")
        )
    if analysis.fixed_costs is not None:
        fixed = analysis.fixed_costs
        lines.append(
            f"predicted times: the calibration's rates, with {seconds_text(fixed.call_s)} a library call and "
            f"{seconds_text(fixed.run_s)} a run, timed beside the plans on small elementals of the same kind"
        )
    return lines


def schedules_text(machines: int, cores: int | None) -> str:
    """How the schedules ran, and what their model's makespan assumes of the cores."""
    text = "; schedules on P threads with one BLAS thread each"
    if cores is not None and cores < machines:
        text += f", their model sharing this machine's {cores} core(s) among the {machines}"
    return text


def table(analysis: ChainAnalysis) -> list[Any]:
    grid = Table(title=title(analysis), title_justify="left", show_lines=True)
    names = headings(analysis)
    for heading in names:
        grid.add_column(heading, justify="left" if heading in ("order", "plan") else "right")
    measured = MEASURED_HEADINGS[0] in names
    for result in analysis.orders:
        grid.add_row(*row(result, analysis.chain, analysis.machines, measured))
    return [Group(grid, *(Text(line) for line in footer(analysis)))]


def markdown(analysis: ChainAnalysis) -> str:
    names = headings(analysis)
    measured = MEASURED_HEADINGS[0] in names
    rows = [
        [cell.replace("\n", " / ") for cell in row(r, analysis.chain, analysis.machines, measured)]
        for r in analysis.orders
    ]
    text = f"### {title(analysis)}\n\n" + markdown_table(names, rows, [False, False] + [True] * (len(names) - 2))
    return text + "".join(f"\n{line}\n" for line in footer(analysis))


CSV_FIELDS = ("chain", "order", "allowed", "macs", "flops", "bracketing", "makespan", "exact", "dp_heuristic", "work")


def csv_rows(analysis: ChainAnalysis) -> list[dict[str, Any]]:
    rows = []
    for result in analysis.orders:
        s = result.schedule
        rows.append(
            {
                "chain": analysis.chain.label,
                "order": result.order.name,
                "allowed": result.plan is not None,
                "macs": result.macs,
                "flops": None if result.macs is None else 2 * result.macs,
                "bracketing": None if result.plan is None else result.plan.bracketing(analysis.chain),
                "makespan": None if s is None else s.makespan,
                "exact": None if s is None else s.exact,
                "dp_heuristic": result.dp_heuristic,
                "work": None if s is None else s.work,
            }
        )
    return rows


register(ChainAnalysis, Renderer(analysis_to_dict, CSV_FIELDS, csv_rows, markdown, table))


def plan_lines(plan: ElementalPlan, chain: ElementalChain) -> list[tuple[str, str]]:
    return [(operation_text(op, chain), f"{op.cost:,}") for op in plan.operations]


def explanation_to_dict(explanation: ChainExplanation) -> dict[str, Any]:
    chain = explanation.chain
    return {
        "chain": chain_block(chain),
        "memory": explanation.memory,
        "matrix_free": {
            "macs": explanation.best.cost,
            "bracketing": explanation.best.bracketing(chain),
            "plan": [operation_to_dict(op, chain) for op in explanation.best.operations],
        },
        "accumulate": {
            "macs": explanation.dense.cost,
            "bracketing": explanation.dense.bracketing(chain),
            "plan": [operation_to_dict(op, chain) for op in explanation.dense.operations],
        },
        "why": explanation.why,
    }


def explanation_table(explanation: ChainExplanation) -> list[Any]:
    chain, parts = explanation.chain, []
    for heading, plan in (("matrix-free optimum", explanation.best), ("accumulate, then multiply", explanation.dense)):
        grid = Table(title=f"{heading}: {plan.bracketing(chain)}", title_justify="left")
        grid.add_column("operation")
        grid.add_column("MACs", justify="right")
        for text, cost in plan_lines(plan, chain):
            grid.add_row(text, cost)
        grid.add_row("total", f"{plan.cost:,}")
        parts.append(grid)
    return [Group(*parts, Text(explanation.why))]


def explanation_markdown(explanation: ChainExplanation) -> str:
    chain = explanation.chain
    text = f"### {chain.label}\n"
    for heading, plan in (("matrix-free optimum", explanation.best), ("accumulate, then multiply", explanation.dense)):
        rows = [[name, cost] for name, cost in plan_lines(plan, chain)] + [["total", f"{plan.cost:,}"]]
        text += f"\n**{heading}**: `{plan.bracketing(chain)}`\n\n" + markdown_table(
            ("operation", "MACs"), rows, [False, True]
        )
    return text + f"\n{explanation.why}\n"


def explanation_csv(explanation: ChainExplanation) -> list[dict[str, Any]]:
    chain = explanation.chain
    return [
        {"plan": name, "operation": operation_text(op, chain), "macs": op.cost}
        for name, plan in (("matrix-free", explanation.best), ("accumulate", explanation.dense))
        for op in plan.operations
    ]


register(
    ChainExplanation,
    Renderer(
        explanation_to_dict, ("plan", "operation", "macs"), explanation_csv, explanation_markdown, explanation_table
    ),
)
