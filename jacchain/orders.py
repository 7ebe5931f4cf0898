"""The registry of multiplication orders: each turns a Chain into a Plan for one executor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .chain import Chain, Plan, left_fold, right_fold
from .cost import optimal_plan
from .registry import Registry


@dataclass(frozen=True)
class Order:
    name: str
    article_word: str
    ad_name: str
    build: Callable[[Chain], Plan]

    @property
    def key(self) -> str:
        """The JSON key: loss_first, input_first, optimal."""
        return self.name.replace("-", "_")


ORDERS: Registry[Order] = Registry("order")
ORDERS.add(
    "loss-first",
    Order("loss-first", "forwards", "reverse mode (VJP)", lambda chain: left_fold(len(chain))),
    aliases=("forwards", "reverse", "reverse-mode", "vjp", "jacrev", "loss-first", "loss_first"),
)
ORDERS.add(
    "input-first",
    Order("input-first", "backwards", "forward mode (JVP)", lambda chain: right_fold(len(chain))),
    aliases=("backwards", "forward-mode", "jvp", "jacfwd", "input_first"),
)
ORDERS.add(
    "optimal",
    Order("optimal", "-", "optimal bracketing (DP)", optimal_plan),
    aliases=("best", "dp"),
)

CLASSIC_ORDERS = ("loss-first", "input-first")
