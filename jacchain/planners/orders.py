"""The registry of multiplication orders: each turns a Chain into a Plan for one executor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..chain.elementals import ElementalChain
from ..chain.factors import Chain
from ..chain.plan import Plan
from ..cost.time_model import TimeObjective
from ..registry import Registry
from .dp import optimal_plan
from .folds import left_fold, right_fold
from .jcdp import ElementalPlan, pure_adjoint, pure_tangent, solve
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


# Orders of a generalised chain of elementals (chain/elementals.py): the classic orders are its
# pure modes; accumulate and matrix-free are JCDP's dense and matrix-free optima.
ElementalBuilder = Callable[[ElementalChain, "int | None"], "ElementalPlan | None"]


@dataclass(frozen=True)
class ElementalOrder:
    name: str
    article_word: str
    ad_name: str
    build: ElementalBuilder
    schedulable: bool  # --machines schedules it (the optima, not the fixed pure modes)

    @property
    def key(self) -> str:
        return self.name.replace("-", "_")


ELEMENTAL_ORDERS: Registry[ElementalOrder] = Registry("order")
ELEMENTAL_ORDERS.add(
    "input-first",
    ElementalOrder("input-first", "backwards", "pure tangent mode", lambda chain, memory: pure_tangent(chain), False),
    aliases=("backwards", "forward-mode", "jvp", "jacfwd", "input_first", "tangent"),
)
ELEMENTAL_ORDERS.add(
    "loss-first",
    ElementalOrder("loss-first", "forwards", "pure adjoint mode", pure_adjoint, False),
    aliases=("forwards", "reverse", "reverse-mode", "vjp", "jacrev", "loss_first", "adjoint"),
)
ELEMENTAL_ORDERS.add(
    "accumulate",
    ElementalOrder("accumulate", "-", "accumulate, then multiply (JCDP dense)", lambda c, m: solve(c, False, m), True),
    aliases=("dense", "acc"),
)
ELEMENTAL_ORDERS.add(
    "matrix-free",
    ElementalOrder("matrix-free", "-", "matrix-free optimum (JCDP)", lambda c, m: solve(c, True, m), True),
    aliases=("matrix_free", "matfree", "jcdp"),
)
ELEMENTAL_ONLY = ("accumulate", "matrix-free")


def wants_elementals(names: list[str] | tuple[str, ...] | None) -> bool:
    """Whether --order names an order that only a chain of elementals has."""
    return any(name in ELEMENTAL_ORDERS and ELEMENTAL_ORDERS.canonical(name) in ELEMENTAL_ONLY for name in names or ())


def resolve_elemental_orders(names: list[str] | tuple[str, ...] | None) -> list[ElementalOrder]:
    if not names:
        return [ELEMENTAL_ORDERS.get(name) for name in ELEMENTAL_ORDERS]
    wanted = {ELEMENTAL_ORDERS.canonical(name) for name in names}
    return [ELEMENTAL_ORDERS.get(name) for name in ELEMENTAL_ORDERS if name in wanted]
