"""Planning: every requested order's plan over the chain, with its exact cost and the
memory an explicit run of them would take. Pure: nothing is built, so any size works."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..chain.factors import Chain, build_chain
from ..chain.plan import Plan, bracketing
from ..cost.machine import Calibration
from ..cost.memory import base_memory
from ..cost.plan_cost import PlanCost, plan_cost
from ..cost.ratio import FLOAT_MAX
from ..cost.time_model import TimeObjective
from ..errors import JacchainError, choice_error
from ..model.spec import NetworkSpec
from ..planners.orders import Order, resolve_orders
from ..types import COST_CHOICES, CostObjective, Granularity, Of, Wrt


@dataclass(frozen=True)
class PlannedOrder:
    """One order's plan over the chain and its exact modelled cost."""

    order: Order
    plan: Plan
    cost: PlanCost
    bracketing: str


@dataclass(frozen=True)
class Planning:
    """Every requested order planned and costed for one network; nothing built yet."""

    spec: NetworkSpec
    chain: Chain
    orders: tuple[PlannedOrder, ...]
    objective: CostObjective = "flops"
    calibration: Calibration | None = None

    @property
    def base_bytes(self) -> int:
        return base_memory(self.spec, self.chain)

    @property
    def memory_bytes(self) -> int:
        """Modelled bytes of an explicit run: orders run one after another, every order's
        result is kept for the cross-check."""
        costs = [planned.cost for planned in self.orders]
        return self.base_bytes + max(c.peak_bytes for c in costs) + sum(c.result_bytes for c in costs)


def plan_orders(
    spec: NetworkSpec,
    orders: Sequence[str] | None = None,
    of: Of = "loss",
    wrt: Wrt = "input",
    granularity: Granularity = "layer",
    cost: CostObjective = "flops",
    calibration: Calibration | None = None,
) -> Planning:
    """Plan and cost every requested order; builds nothing, so it works at any size.

    >>> from jacchain.model.spec import make_spec
    >>> planning = plan_orders(make_spec((784, 512, 256, 10)), ["loss-first", "input-first"])
    >>> [planned.cost.macs for planned in planning.orders]
    [535040, 104775328]
    """
    if cost not in COST_CHOICES:
        raise choice_error("--cost", cost, COST_CHOICES)
    if cost == "time" and calibration is None:
        raise JacchainError("--cost time needs this machine's calibration: run `jacchain calibrate` first")
    chain = build_chain(spec, of, granularity, wrt)
    if cost == "time" and 2 * max(chain.dims) ** 3 * len(chain) >= FLOAT_MAX:
        raise JacchainError(
            "--cost time prices products in floating point; these counts are beyond it: use --cost flops"
        )
    # every plan reads all the factors in a pass: the least the caches hold between repeats
    objective = (
        TimeObjective(calibration, chain.itemsize, chain.factor_bytes) if cost == "time" and calibration else None
    )
    # Every plan first: an order refused up front (the optimal one over too long a chain) is
    # refused before the others are costed.
    plans = [(order, order.build(chain, objective)) for order in resolve_orders(list(orders) if orders else None)]
    planned = tuple(
        PlannedOrder(order, plan, plan_cost(plan, chain), bracketing(plan, chain.names)) for order, plan in plans
    )
    return Planning(spec, chain, planned, cost, calibration)
