"""Analyse a generalised Jacobian chain: every order's plan and exact cost, and on P machines
the exact schedule of the optima beside JCDP's DP heuristic; explain the matrix-free plan."""

from __future__ import annotations

from dataclasses import dataclass

from ..chain.elementals import ElementalChain
from ..cost.elimination import OpKind
from ..cost.ratio import count_ratio, ratio_text
from ..errors import JacchainError
from ..planners.jcdp import ElementalPlan, solve
from ..planners.orders import ElementalOrder, resolve_elemental_orders
from ..planners.schedule import Schedule, critical_path, dp_heuristic, exact_schedule, list_schedule
from ..types import Progress

EXACT_SCHEDULE_UP_TO = 8  # elementals: beyond, the schedule search starts from a list schedule only


@dataclass(frozen=True)
class ChainOrderResult:
    order: ElementalOrder
    plan: ElementalPlan | None  # None: the memory limit refuses this order's adjoints
    schedule: Schedule | None = None
    dp_heuristic: int | None = None

    @property
    def macs(self) -> int | None:
        return None if self.plan is None else self.plan.cost


@dataclass(frozen=True)
class ChainAnalysis:
    chain: ElementalChain
    source: str  # "chain config", or how a network was read as a chain
    memory: int | None
    machines: int | None
    orders: tuple[ChainOrderResult, ...]
    critical_path: int | None = None

    def order(self, name: str) -> ChainOrderResult | None:
        return next((r for r in self.orders if r.order.name == name), None)


def analyze_chain(
    chain: ElementalChain,
    orders: list[str] | tuple[str, ...] | None = None,
    memory: int | None = None,
    machines: int | None = None,
    time_limit: float = 10.0,
    source: str = "chain config",
    progress: Progress | None = None,
) -> ChainAnalysis:
    """Plan every order (exact costs); with `machines`, schedule the optima on them."""
    if memory is not None and memory < 0:
        raise JacchainError(f"--memory must be a non-negative integer (0: no limit), got {memory}")
    if machines is not None and machines < 1:
        raise JacchainError(f"--machines must be a positive integer, got {machines}")
    results = []
    for order in resolve_elemental_orders(orders):
        plan = order.build(chain, memory)
        schedule = heuristic = None
        if machines is not None and order.schedulable and plan is not None:
            if progress is not None:
                progress(f"scheduling {order.name} on {machines} machine(s)", 0, 1)
            matrix_free = order.name == "matrix-free"
            schedule = schedule_on(chain, plan, machines, matrix_free, memory, time_limit)
            heuristic = dp_heuristic(chain, machines, matrix_free, memory)
        results.append(ChainOrderResult(order, plan, schedule, heuristic))
    floor = critical_path(chain, True, memory) if machines is not None and len(chain) <= 64 else None
    return ChainAnalysis(chain, source, memory, machines, tuple(results), floor)


def schedule_on(
    chain: ElementalChain, plan: ElementalPlan, machines: int, matrix_free: bool, memory: int | None, time_limit: float
) -> Schedule:
    """The exact schedule (branch and bound from the plan's list schedule) up to
    EXACT_SCHEDULE_UP_TO elementals or the time limit; beyond, the list schedule, not exact."""
    start = list_schedule(chain, plan, machines)
    if len(chain) > EXACT_SCHEDULE_UP_TO:
        return start
    return exact_schedule(chain, machines, matrix_free, memory, time_limit, start)


@dataclass(frozen=True)
class ChainExplanation:
    chain: ElementalChain
    memory: int | None
    best: ElementalPlan
    dense: ElementalPlan
    why: str


def explain_chain(chain: ElementalChain, memory: int | None = None) -> ChainExplanation:
    """The matrix-free optimum's operations, and why it beats accumulate-then-multiply."""
    best, dense = solve(chain, True, memory), solve(chain, False, memory)
    return ChainExplanation(chain, memory, best, dense, why(chain, best, dense))


def why(chain: ElementalChain, best: ElementalPlan, dense: ElementalPlan) -> str:
    """One sentence: what the matrix-free plan avoids, in the chain's numbers."""
    passed = [
        index
        for op in best.operations
        if op.kind in (OpKind.TAN_ELIM, OpKind.ADJ_ELIM) and op.through is not None
        for index in range(op.through[0], op.through[1] + 1)
    ]
    if best.cost == dense.cost or not passed:
        return (
            f"Accumulating every elemental and multiplying the Jacobians is already optimal here "
            f"({dense.cost:,} multiply-adds): no elimination is cheaper than forming a Jacobian."
        )
    names = ", ".join(chain.symbol(index) for index in sorted(passed))
    columns = sum(1 for op in best.operations if op.kind == OpKind.TAN_ELIM)
    rows = sum(1 for op in best.operations if op.kind == OpKind.ADJ_ELIM)
    return (
        f"The matrix-free plan never forms the Jacobians of {names}: it pushes the explicit result "
        f"through them ({columns} tangent and {rows} adjoint elimination(s)), which costs less than "
        f"accumulating them and multiplying them in, so {best.cost:,} multiply-adds against {dense.cost:,} "
        f"for accumulate-then-multiply ({ratio_text(count_ratio(dense.cost, best.cost))} fewer)."
    )
