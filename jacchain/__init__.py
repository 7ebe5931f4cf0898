"""jacchain: the cost of backpropagation made visible and measurable.

Plan, run, report, in Python:

>>> from jacchain import count_only, load_network, plan_orders, report
>>> planning = plan_orders(load_network("784,512,256,10"))
>>> analysis = count_only(planning)
>>> analysis.order("input-first").flops, analysis.order("loss-first").flops
(209550656, 1070080)
>>> print(report(analysis, "csv").splitlines()[1][:40])
784,512,256,10,loss,input,layer,loss-fir
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names, typed, for checkers; at run time they load on first use
    from .chain.factors import Chain, Factor, build_chain
    from .chain.plan import Plan, bracketing
    from .cost.machine import Calibration
    from .cost.plan_cost import PlanCost, plan_cost
    from .cost.product import ProductCount, product_count
    from .cost.time_model import TimeObjective, plan_time, product_time
    from .errors import Diverged, JacchainError, MemoryLimitError
    from .jobs.analyze import Analysis, OrderResult, Planning, analyze, count_only, measure, plan_orders
    from .jobs.explain import Explanation, explain
    from .jobs.regress import CheckResult, check
    from .jobs.sweep import Sweep, run_sweep
    from .model.config import load_network, parse_config
    from .model.network import MLP, network_at_point
    from .model.spec import NetworkSpec, make_spec, parse_sizes
    from .planners.dp import optimal_plan
    from .planners.orders import ORDERS, Order
    from .render import render as report
    from .run.calibrate import calibration_for
    from .run.execute import compile_plan, run_counted
    from .run.jacobians import build_factors
    from .training.data import Dataset, load_dataset
    from .training.loop import TrainResult, train
    from .training.settings import TrainSettings
    from .types import Structure

# Names resolve on first use, so `jacchain --help` does not pay for everything at once.
_EXPORTS = {
    "Chain": "chain.factors", "Factor": "chain.factors", "build_chain": "chain.factors",
    "Plan": "chain.plan", "bracketing": "chain.plan",
    "Calibration": "cost.machine",
    "PlanCost": "cost.plan_cost", "plan_cost": "cost.plan_cost",
    "ProductCount": "cost.product", "product_count": "cost.product",
    "TimeObjective": "cost.time_model", "plan_time": "cost.time_model", "product_time": "cost.time_model",
    "Diverged": "errors", "JacchainError": "errors", "MemoryLimitError": "errors",
    "Analysis": "jobs.analyze", "OrderResult": "jobs.analyze", "Planning": "jobs.analyze",
    "analyze": "jobs.analyze", "count_only": "jobs.analyze", "measure": "jobs.analyze",
    "plan_orders": "jobs.analyze",
    "Explanation": "jobs.explain", "explain": "jobs.explain",
    "CheckResult": "jobs.regress", "check": "jobs.regress",
    "Sweep": "jobs.sweep", "run_sweep": "jobs.sweep",
    "load_network": "model.config", "parse_config": "model.config",
    "MLP": "model.network", "network_at_point": "model.network",
    "NetworkSpec": "model.spec", "make_spec": "model.spec", "parse_sizes": "model.spec",
    "optimal_plan": "planners.dp",
    "ORDERS": "planners.orders", "Order": "planners.orders",
    "report": "render",
    "calibration_for": "run.calibrate",
    "compile_plan": "run.execute", "run_counted": "run.execute",
    "build_factors": "run.jacobians",
    "Dataset": "training.data", "load_dataset": "training.data",
    "TrainResult": "training.loop", "train": "training.loop",
    "TrainSettings": "training.settings",
    "Structure": "types",
}
__all__ = sorted(_EXPORTS)


_RENAMED = {"report": "render"}  # the package jacchain.render would shadow a function of that name


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'jacchain' has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), _RENAMED.get(name, name))
