"""The two classic orders of one chain: fold from the loss end, or from the input end."""

from __future__ import annotations

from ..chain.plan import Plan, PlanBuilder


def left_fold(n_factors: int) -> Plan:
    """((f0 f1) f2) ...: the loss-first order.

    >>> left_fold(3).steps
    ((0, 1), (3, 2))
    """
    build, current = PlanBuilder(n_factors), 0
    for index in range(1, n_factors):
        current = build.multiply(current, index)
    return build.plan()


def right_fold(n_factors: int) -> Plan:
    """f0 (f1 (f2 ...)): the input-first order.

    >>> right_fold(3).steps
    ((1, 2), (0, 3))
    """
    build, current = PlanBuilder(n_factors), n_factors - 1
    for index in range(n_factors - 2, -1, -1):
        current = build.multiply(index, current)
    return build.plan()
