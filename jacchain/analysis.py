"""The main job: count, run, time and cross-check every requested order for one network."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .calibrate import Calibration
from .chain import Chain, bracketing, build_chain
from .cost import PlanCost, ProductCount, plan_cost, stored_bytes
from .errors import JacchainError
from .execute import compile_plan, run_counted
from .jacobians import build_factors, densify
from .memory import check_fits, default_limit, human_bytes
from .network import network_at_point
from .orders import ORDERS, Order
from .spec import NetworkSpec
from .timemodel import plan_time, rates
from .timing import BlasInfo, Timing, blas_info, blas_threads, time_call
from .tree import TreeNode, plan_tree

Progress = Callable[[str, int, int], None]
COST_CHOICES = ("flops", "time")
MAX_TREE_FACTORS = 16  # draw the optimal bracketing as a tree up to this many factors


@dataclass(frozen=True)
class OrderResult:
    order: Order
    bracketing: str
    macs: int
    flops: int
    peak_bytes: int
    products: tuple[ProductCount, ...]
    time: Timing | None
    measured_peak_bytes: int | None = None
    predicted_time: float | None = None

    @property
    def fraction_of_limit(self) -> float | None:
        """Predicted over measured time: how close this order runs to the machine's roofline."""
        if self.predicted_time is None or self.time is None or self.time.median <= 0:
            return None
        return self.predicted_time / self.time.median

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
    optimal_tree: TreeNode | None = None
    calibration: Calibration | None = None
    cost: str = "flops"

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


def base_memory(spec: NetworkSpec, chain: Chain) -> int:
    """Modelled bytes every explicit run holds: parameters, forward cache, the factors, and
    the largest factor once more while it is being built."""
    itemsize = spec.itemsize
    largest = max(stored_bytes(f.rows, f.cols, f.structure, itemsize) for f in chain.factors)
    return spec.n_params * itemsize + 2 * sum(spec.sizes) * itemsize + chain.factor_bytes + largest


def order_memory(cost: PlanCost) -> int:
    """What one order adds while it runs: its peak of intermediates and its kept results."""
    return cost.peak_bytes + cost.result_bytes


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
    measure_memory: bool = False,
    calibration: Calibration | None = None,
    cost: str = "flops",
    progress: Progress | None = None,
) -> Analysis:
    """Count every order exactly; unless `analytic`, also build, run, time and compare them.

    With wrt="input" an explicit run that would not fit in `max_memory` is refused. With
    wrt="params" each order runs explicitly only where it fits; the others stay analytic.
    """
    if repeats is not None and repeats < 1:
        raise JacchainError(f"--repeats must be a positive integer, got {repeats}")
    if cost not in COST_CHOICES:
        raise JacchainError(f"unknown --cost {cost!r}; valid options are: {', '.join(COST_CHOICES)}")
    if cost == "time" and calibration is None:
        raise JacchainError("--cost time needs this machine's calibration: run `jacchain calibrate` first")
    chain = build_chain(spec, of, granularity, wrt)
    selected = resolve_orders(orders)
    objective = rates(calibration) if cost == "time" else None
    plans = [order.build(chain, objective) for order in selected]
    costs = [plan_cost(plan, chain) for plan in plans]
    base = base_memory(spec, chain)
    # Orders run one after another; every order's result is kept for the cross-check.
    memory = base + max(c.peak_bytes for c in costs) + sum(c.result_bytes for c in costs)
    limit = max_memory if max_memory is not None else default_limit()

    def modelled(order, plan, counts, time=None, measured=None):
        predicted = plan_time(counts.products, calibration, chain.itemsize) if calibration else None
        return OrderResult(
            order, bracketing(plan, chain.names), counts.macs, counts.flops, counts.peak_bytes,
            counts.products, time, measured, predicted,
        )

    tree = None
    if wrt == "input" and len(chain) <= MAX_TREE_FACTORS:
        tree = next((plan_tree(plan, chain) for order, plan in zip(selected, plans) if order.name == "optimal"), None)
    notes = []
    if spec.analytic and not analytic:
        analytic = True
        notes.append(f"{spec.label} is marked analytic (real model widths): counted only; "
                     f"an explicit run would need about {human_bytes(memory)}")
    if wrt == "params" and not analytic and base > limit:
        analytic = True
        notes.append(f"analytic: the explicit factors need about {human_bytes(base)}, over the "
                     f"--max-memory limit of {human_bytes(limit)}")
    if analytic:
        results = tuple(modelled(*args) for args in zip(selected, plans, costs))
        return Analysis(spec, chain, wrt, results, memory, note="; ".join(notes) or None, optimal_tree=tree,
                        calibration=calibration, cost=cost)
    if wrt == "input":
        check_fits(memory, limit, f"explicit run of {spec.label}")

    notify = progress or (lambda description, done, total: None)
    total = len(selected) + 1
    with blas_threads(threads):
        notify("building Jacobians", 0, total)
        network, x, y = network_at_point(spec)
        cache = network.forward(x)
        build = lambda: build_factors(chain, network, cache, y)  # noqa: E731
        arrays = build()
        build_time = time_call(build, repeats=repeats)
        results, values_of = [], []
        for step, (order, plan, counts) in enumerate(zip(selected, plans, costs), start=1):
            if base + order_memory(counts) > limit:
                notes.append(f"{order.name} is analytic: running it would need about "
                             f"{human_bytes(base + order_memory(counts))}, over the --max-memory limit")
                results.append(modelled(order, plan, counts))
                continue
            notify(f"timing {order.name}", step, total)
            values, counted = run_counted(plan, arrays)
            if counted != counts.products:  # pragma: no cover - a counting bug, never user input
                raise RuntimeError(f"{order.name}: counted products differ from the cost model")
            run = compile_plan(plan, arrays)
            timing = time_call(run, repeats=repeats)
            measured = measure_peak(run) if measure_memory else None
            results.append(modelled(order, plan, counts, timing, measured))
            values_of.append([densify(value) for value in values])
        notify("done", total, total)
        blas = blas_info()
    diff = None
    if values_of:
        diff = max(
            float(np.max(np.abs(value - reference)))
            for values in values_of
            for value, reference in zip(values, values_of[0])
        )
    return Analysis(spec, chain, wrt, tuple(results), memory, diff, build_time, blas, "; ".join(notes) or None, tree,
                    calibration, cost)


def measure_peak(run: Callable[[], object]) -> int:
    """Peak bytes numpy allocates during one run, as tracemalloc sees them."""
    import tracemalloc

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = run()
        peak = tracemalloc.get_traced_memory()[1] - before
        del result
    finally:
        tracemalloc.stop()
    return peak
