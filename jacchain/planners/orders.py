"""The registry of multiplication orders: each turns a Chain into a Plan for one executor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..chain.factors import Chain
from ..chain.plan import Plan
from ..cost.time_model import TimeObjective
from ..registry import Registry
from .dp import optimal_plan
from .folds import left_fold, right_fold
from .params import input_first_params, loss_first_params

Builder = Callable[[Chain, "TimeObjective | None"], Plan]


@dataclass(frozen=True)
class Order:
    name: str
    article_word: str
    ad_name: str
    build: Builder

    @property
    def key(self) -> str:
        """The JSON key: loss_first, input_first, optimal."""
        return self.name.replace("-", "_")


def loss_first(chain: Chain, objective: TimeObjective | None = None) -> Plan:
    return loss_first_params(chain) if chain.wrt == "params" else left_fold(len(chain))


def input_first(chain: Chain, objective: TimeObjective | None = None) -> Plan:
    return input_first_params(chain) if chain.wrt == "params" else right_fold(len(chain))


def optimal(chain: Chain, objective: TimeObjective | None = None) -> Plan:
    """The DP's bracketing of one chain: least FLOPs, or least predicted time given an
    objective. For dl/dtheta loss-first is already optimal: each factor meets a single row
    vector, and no product with it can cost less than touching it once."""
    return loss_first_params(chain) if chain.wrt == "params" else optimal_plan(chain, objective)


ORDERS: Registry[Order] = Registry("order")
ORDERS.add(
    "loss-first",
    Order("loss-first", "forwards", "reverse mode (VJP)", loss_first),
    aliases=("forwards", "reverse", "reverse-mode", "vjp", "jacrev", "loss-first", "loss_first"),
)
ORDERS.add(
    "input-first",
    Order("input-first", "backwards", "forward mode (JVP)", input_first),
    aliases=("backwards", "forward-mode", "jvp", "jacfwd", "input_first"),
)
ORDERS.add(
    "optimal",
    Order("optimal", "-", "optimal bracketing (DP)", optimal),
    aliases=("best", "dp"),
)


def resolve_orders(names: list[str] | tuple[str, ...] | None) -> list[Order]:
    """Canonical, de-duplicated orders in registry order; None or empty means all of them."""
    if not names:
        return [ORDERS.get(name) for name in ORDERS]
    wanted = {ORDERS.canonical(name) for name in names}
    return [ORDERS.get(name) for name in ORDERS if name in wanted]
