"""The main job: count, run, time and cross-check every requested order for one network."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .chain import Chain, build_chain, bracketing
from .cost import PlanCost, ProductCount, plan_cost, stored_bytes
from .errors import JacchainError
from .execute import compile_plan, run_counted
from .jacobians import build_factors, densify
from .memory import check_fits, default_limit, human_bytes
from .network import network_at_point
from .orders import ORDERS, Order
from .spec import NetworkSpec
from .timing import BlasInfo, Timing, blas_info, blas_threads, time_call

Progress = Callable[[str, int, int], None]
WRT_CHOICES = ("input",)


@dataclass(frozen=True)
class OrderResult:
    order: Order
    bracketing: str
    macs: int
    flops: int
    peak_bytes: int
    products: tuple[ProductCount, ...]
    time: Timing | None

    @property
    def gflops_per_s(self) -> float | None:
        if self.time is None or self.time.median <= 0:
            return None
        return self.flops / self.time.median / 1e9


@dataclass(frozen=True)
class Analysis:
    spec: NetworkSpec
    chain: Chain
    wrt: str
    orders: tuple[OrderResult, ...]
    memory_bytes: int
    max_abs_diff: float | None = None
    build_time: Timing | None = None
    blas: BlasInfo | None = None
    note: str | None = None

    @property
    def analytic(self) -> bool:
        return all(result.time is None for result in self.orders)

    def order(self, name: str) -> OrderResult:
        canonical = ORDERS.canonical(name)
        for result in self.orders:
            if result.order.name == canonical:
                return result
        raise KeyError(name)


def resolve_orders(names: Sequence[str] | None) -> list[Order]:
    """Canonical, de-duplicated orders in registry order; None means all of them."""
    if not names:
        return [ORDERS.get(name) for name in ORDERS]
    wanted = {ORDERS.canonical(name) for name in names}
    return [ORDERS.get(name) for name in ORDERS if name in wanted]


def explicit_memory(spec: NetworkSpec, chain: Chain, costs: Sequence[PlanCost]) -> int:
    """Modelled bytes of an explicit run: parameters, forward cache, factors, intermediates,
    and every order's result kept for the cross-check."""
    itemsize = spec.itemsize
    parameters = spec.n_params * itemsize
    forward_cache = 2 * sum(spec.sizes) * itemsize
    result_rows = chain.factors[0].rows
    results = len(costs) * result_rows * chain.factors[-1].cols * itemsize
    largest_factor = max(stored_bytes(f.rows, f.cols, f.structure, itemsize) for f in chain.factors)
    peak = max((cost.peak_bytes for cost in costs), default=0)
    return parameters + forward_cache + chain.factor_bytes + largest_factor + peak + results


def analyze(
    spec: NetworkSpec,
    orders: Sequence[str] | None = None,
    of: str = "loss",
    wrt: str = "input",
    granularity: str = "layer",
    analytic: bool = False,
    repeats: int | None = None,
    max_memory: int | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
) -> Analysis:
    """Count every order exactly; unless `analytic`, also build, run, time and compare them."""
    if wrt not in WRT_CHOICES:
        raise JacchainError(f"unknown --wrt {wrt!r}; valid options are: {', '.join(WRT_CHOICES)}")
    if repeats is not None and repeats < 1:
        raise JacchainError(f"--repeats must be a positive integer, got {repeats}")
    chain = build_chain(spec, of, granularity)
    selected = resolve_orders(orders)
    plans = [order.build(chain) for order in selected]
    costs = [plan_cost(plan, chain) for plan in plans]
    memory = explicit_memory(spec, chain, costs)

    def modelled(order, plan, cost, time=None, products=None):
        return OrderResult(
            order, bracketing(plan, chain.names), cost.macs, cost.flops, cost.peak_bytes,
            products if products is not None else cost.products, time,
        )

    note = None
    if spec.analytic and not analytic:
        analytic = True
        note = (
            f"{spec.label} is marked analytic (real model widths): counted only; "
            f"an explicit run would need about {human_bytes(memory)}"
        )
    if analytic:
        results = tuple(modelled(*args) for args in zip(selected, plans, costs))
        return Analysis(spec, chain, wrt, results, memory, note=note)

    check_fits(memory, max_memory if max_memory is not None else default_limit(), f"explicit run of {spec.label}")
    notify = progress or (lambda description, done, total: None)
    total = len(selected) + 1
    with blas_threads(threads):
        notify("building Jacobians", 0, total)
        network, x, y = network_at_point(spec)
        cache = network.forward(x)
        build = lambda: build_factors(chain, network, cache, y)  # noqa: E731
        arrays = build()
        build_time = time_call(build, repeats=repeats)
        results, products_of = [], []
        for step, (order, plan, cost) in enumerate(zip(selected, plans, costs), start=1):
            notify(f"timing {order.name}", step, total)
            value, counted = run_counted(plan, arrays)
            if counted != cost.products:  # pragma: no cover - a counting bug, never user input
                raise RuntimeError(f"{order.name}: counted products differ from the cost model")
            timing = time_call(compile_plan(plan, arrays), repeats=repeats)
            results.append(modelled(order, plan, cost, timing, counted))
            products_of.append(densify(value))
        notify("done", total, total)
        blas = blas_info()
    reference = products_of[0]
    diff = max(float(np.max(np.abs(value - reference))) for value in products_of)
    return Analysis(spec, chain, wrt, tuple(results), memory, diff, build_time, blas)
