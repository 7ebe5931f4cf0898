"""The main job: measure the planned orders that fit (build, run, time, cross-check), or count
them only, and say why."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np

from ..chain.factors import Chain
from ..chain.plan import Plan
from ..cost.machine import Calibration, FixedCosts, with_fixed_costs
from ..cost.memory import check_fits, default_limit, order_memory
from ..cost.plan_cost import PlanCost
from ..cost.product import ProductCount
from ..cost.time_model import plan_time
from ..errors import JacchainError
from ..model.network import network_at_point
from ..model.spec import NetworkSpec
from ..planners.orders import ORDERS, Order
from ..run.arrays import Value, densify, max_abs_difference
from ..run.calibrate import calibration_for, time_with_fixed_costs
from ..run.execute import compile_plan, run_counted
from ..run.jacobians import build_factors
from ..run.timing import BlasInfo, Timing, blas_info, blas_threads, time_call
from ..types import CostObjective, Granularity, Of, Progress, Wrt
from .plan import PlannedOrder, Planning, plan_orders


class CountOnlyReason(StrEnum):
    """Why (part of) an analysis was counted from the model instead of run."""

    MARKED_ANALYTIC = "marked-analytic"  # the config says its widths are real model widths
    FACTORS_OVER_LIMIT = "factors-over-limit"  # --wrt params: the factors alone do not fit
    ORDER_OVER_LIMIT = "order-over-limit"  # this order's run does not fit
    RUN_OVER_LIMIT = "run-over-limit"  # the explicit run does not fit (a sweep point)


@dataclass(frozen=True)
class CountOnly:
    reason: CountOnlyReason
    needed_bytes: int
    limit_bytes: int | None = None
    order: str | None = None


@dataclass(frozen=True)
class OrderResult:
    """A planned order with what was measured of it (nothing, for a count-only analysis)."""

    planned: PlannedOrder
    time: Timing | None = None
    measured_peak_bytes: int | None = None
    predicted_time: float | None = None

    @property
    def order(self) -> Order:
        return self.planned.order

    @property
    def plan(self) -> Plan:
        return self.planned.plan

    @property
    def cost(self) -> PlanCost:
        return self.planned.cost

    @property
    def bracketing(self) -> str:
        return self.planned.bracketing

    @property
    def macs(self) -> int:
        return self.cost.macs

    @property
    def flops(self) -> int:
        return self.cost.flops

    @property
    def peak_bytes(self) -> int:
        return self.cost.peak_bytes

    @property
    def products(self) -> tuple[ProductCount, ...]:
        return self.cost.products

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
    orders: tuple[OrderResult, ...]
    memory_bytes: int
    max_abs_diff: float | None = None
    build_time: Timing | None = None
    blas: BlasInfo | None = None
    count_only: tuple[CountOnly, ...] = ()
    calibration: Calibration | None = None
    cost: CostObjective = "flops"
    fixed_costs: FixedCosts | None = None

    @property
    def machine(self) -> Calibration | None:
        """The figures the predictions use: the calibration's, with its fixed costs replaced
        by those timed beside the orders where they were."""
        return with_fixed_costs(self.calibration, self.fixed_costs)

    @property
    def wrt(self) -> Wrt:
        return self.chain.wrt

    @property
    def analytic(self) -> bool:
        return all(result.time is None for result in self.orders)

    def order(self, name: str) -> OrderResult:
        canonical = ORDERS.canonical(name)
        for result in self.orders:
            if result.order.name == canonical:
                return result
        raise KeyError(name)


def counted(
    planning: Planning,
    planned: PlannedOrder,
    time: Timing | None = None,
    measured_peak: int | None = None,
    fixed: FixedCosts | None = None,
) -> OrderResult:
    """An order's result: the model's counts, with its predicted time where the machine is
    known (with the fixed costs timed beside the orders, where given)."""
    calibration = with_fixed_costs(planning.calibration, fixed)
    predicted = plan_time(planned.cost.products, calibration, planning.chain.itemsize) if calibration else None
    if predicted is not None and not math.isfinite(predicted):
        predicted = None  # counts beyond a float: no prediction to show
    return OrderResult(planned, time, measured_peak, predicted)


def count_only(planning: Planning, reasons: tuple[CountOnly, ...] = ()) -> Analysis:
    """An analysis from the model alone."""
    return Analysis(
        planning.spec,
        planning.chain,
        tuple(counted(planning, p) for p in planning.orders),
        planning.memory_bytes,
        count_only=reasons,
        calibration=planning.calibration,
        cost=planning.objective,
    )


def count_only_reasons(planning: Planning, analytic: bool, limit: int) -> tuple[CountOnly, ...] | None:
    """Why the whole analysis is counted only (an empty tuple when asked for), or None when
    it runs. A --wrt input run that does not fit is refused: the user asked for a run."""
    spec = planning.spec
    if spec.analytic and not analytic:
        return (CountOnly(CountOnlyReason.MARKED_ANALYTIC, planning.memory_bytes),)
    if analytic:
        return ()
    if planning.chain.wrt == "params":
        if planning.base_bytes > limit:
            return (CountOnly(CountOnlyReason.FACTORS_OVER_LIMIT, planning.base_bytes, limit),)
        return None
    check_fits(planning.memory_bytes, limit, f"explicit run of {spec.label}")
    return None


def measure(
    planning: Planning,
    limit: int,
    repeats: int | None = None,
    threads: int | None = None,
    measure_memory: bool = False,
    progress: Progress | None = None,
) -> Analysis:
    """Build the factors at the spec's point, run every order that fits in `limit` (the
    others stay counted), check each run's counts against the model, time the runs side by
    side in alternating rounds (run/timing.time_alternating), and compare the orders' results."""
    notify = progress or (lambda description, done, total: None)
    total = len(planning.orders) + 2
    chain, base = planning.chain, planning.base_bytes
    with blas_threads(threads):
        notify("building Jacobians", 0, total)
        network, x, y = network_at_point(planning.spec)
        cache = network.forward(x)

        def build() -> list[Value]:
            return build_factors(chain, network, cache, y)

        # timed before the factors are kept, so that no two builds are ever held at once (the
        # memory model allows one build and the largest factor once more while it is made)
        build_time = time_call(build, repeats=repeats)
        arrays = build()
        reasons, values_of = [], []
        runs: dict[int, Callable[[], object]] = {}  # the orders that fit, by their place
        for step, planned in enumerate(planning.orders, start=1):
            needed = base + order_memory(planned.cost)
            if needed > limit:
                reasons.append(CountOnly(CountOnlyReason.ORDER_OVER_LIMIT, needed, limit, planned.order.name))
                continue
            notify(f"checking {planned.order.name}", step, total)
            values, products = run_counted(planned.plan, arrays)
            if products != planned.cost.products:  # pragma: no cover - a counting bug, never user input
                raise RuntimeError(f"{planned.order.name}: counted products differ from the cost model")
            runs[step - 1] = compile_plan(planned.plan, arrays)
            values_of.append([densify(value) for value in values])
        notify("timing the orders side by side", total - 1, total)
        priced = planning.spec.dtype if planning.calibration is not None else None
        timed, fixed = time_with_fixed_costs(list(runs.values()), priced, repeats)
        timings = dict(zip(runs, timed))
        results = [
            counted(planning, planned, timings[place], measure_peak(runs[place]) if measure_memory else None, fixed)
            if place in runs
            else counted(planning, planned, fixed=fixed)
            for place, planned in enumerate(planning.orders)
        ]
        notify("done", total, total)
        blas = blas_info()
    return Analysis(
        planning.spec,
        chain,
        tuple(results),
        planning.memory_bytes,
        max_difference(values_of),
        build_time,
        blas,
        tuple(reasons),
        planning.calibration,
        planning.objective,
        fixed,
    )


def max_difference(values_of: list[list[np.ndarray]]) -> float | None:
    """The largest absolute difference between any order's results and the first order's."""
    if not values_of:
        return None
    return max(
        max_abs_difference(value, reference) for values in values_of for value, reference in zip(values, values_of[0])
    )


def analyze(
    spec: NetworkSpec,
    orders: Sequence[str] | None = None,
    of: Of = "loss",
    wrt: Wrt = "input",
    granularity: Granularity = "layer",
    analytic: bool = False,
    repeats: int | None = None,
    max_memory: int | None = None,
    threads: int | None = None,
    measure_memory: bool = False,
    calibration: Calibration | None = None,
    cost: CostObjective = "flops",
    progress: Progress | None = None,
    calibrate: Callable[[], Calibration | None] | None = None,
) -> Analysis:
    """Count every order exactly; unless `analytic`, also build, run, time and compare them.

    With wrt="input" an explicit run that would not fit in `max_memory` is refused. With
    wrt="params" each order runs explicitly only where it fits; the others stay analytic.
    `calibrate`, when given instead of a calibration, is called only once the run is
    admitted, so a refused run never measures the machine (not with --cost time, which
    plans with the calibration).
    """
    if repeats is not None and repeats < 1:
        raise JacchainError(f"--repeats must be a positive integer, got {repeats}")
    if calibration is None and calibrate is not None and cost == "time":
        calibration = calibrate()
    planning = plan_orders(spec, orders, of, wrt, granularity, cost, calibration)
    limit = max_memory if max_memory is not None else default_limit()
    reasons = count_only_reasons(planning, analytic, limit)
    if planning.calibration is None and calibrate is not None:
        planning = replace(planning, calibration=calibrate())
    if reasons is not None:
        return count_only(planning, reasons)
    return measure(planning, limit, repeats, threads, measure_memory, progress)


def machine_for(
    spec: NetworkSpec,
    time_model: bool,
    cost: CostObjective,
    analytic: bool,
    threads: int | None,
    progress: Progress | None = None,
    max_memory: int | None = None,
) -> Calibration | None:
    """The calibration an analysis of `spec` uses: none without the time model or --cost time;
    measured now (once, then cached) for --cost time or for predictions beside a run, if the
    measurement fits in `max_memory`; a count-only analysis shows predictions only if the
    machine was already calibrated."""
    if not (time_model or cost == "time"):
        return None
    measure_if_missing = cost == "time" or not (analytic or spec.analytic)
    return calibration_for(spec.dtype, threads, measure_if_missing, progress, max_memory)


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
