"""The registry of multiplication orders: each turns a Chain into a Plan for one executor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .chain import Chain, Plan, left_fold, right_fold
from .cost import optimal_plan
from .params import input_first_params, loss_first_params
from .registry import Registry


@dataclass(frozen=True)
class Order:
    name: str
    article_word: str
    ad_name: str
    build: Callable[..., Plan]  # (chain, rates=None) -> Plan

    @property
    def key(self) -> str:
        """The JSON key: loss_first, input_first, optimal."""
        return self.name.replace("-", "_")


def loss_first(chain: Chain, rates: tuple[float, float] | None = None) -> Plan:
    return loss_first_params(chain) if chain.wrt == "params" else left_fold(len(chain))


def input_first(chain: Chain, rates: tuple[float, float] | None = None) -> Plan:
    return input_first_params(chain) if chain.wrt == "params" else right_fold(len(chain))


def optimal(chain: Chain, rates: tuple[float, float] | None = None) -> Plan:
    """The DP's bracketing of one chain: least FLOPs, or least predicted time given `rates`
    (FLOP/s, bytes/s). For dl/dtheta loss-first is already optimal: each factor meets a single
    row vector, and no product with it can cost less than touching it once."""
    return loss_first_params(chain) if chain.wrt == "params" else optimal_plan(chain, rates)


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
