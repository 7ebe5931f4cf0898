"""jacchain: the cost of backpropagation made visible and measurable.

Plan, run, report, in Python:

>>> from jacchain import count_only, load_network, plan_orders, report
>>> planning = plan_orders(load_network("784,512,256,10"))
>>> analysis = count_only(planning)
>>> analysis.order("input-first").flops, analysis.order("loss-first").flops
(209550656, 1070080)
>>> print(report(analysis, "csv").splitlines()[1][:38])
"784,512,256,10",loss,input,layer,loss
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names, typed, for checkers; at run time they load on first use
    from .chain.factors import Chain as Chain
    from .chain.factors import Factor as Factor
    from .chain.factors import build_chain as build_chain
    from .chain.plan import Plan as Plan
    from .chain.plan import bracketing as bracketing
    from .cost.machine import Calibration as Calibration
    from .cost.plan_cost import PlanCost as PlanCost
    from .cost.plan_cost import plan_cost as plan_cost
    from .cost.product import ProductCount as ProductCount
    from .cost.product import product_count as product_count
    from .cost.time_model import TimeObjective as TimeObjective
    from .cost.time_model import plan_time as plan_time
    from .cost.time_model import product_time as product_time
    from .errors import DivergedError as DivergedError
    from .errors import JacchainError as JacchainError
    from .errors import MemoryLimitError as MemoryLimitError
    from .jobs.analyze import Analysis as Analysis
    from .jobs.analyze import OrderResult as OrderResult
    from .jobs.analyze import analyze as analyze
    from .jobs.analyze import count_only as count_only
    from .jobs.analyze import measure as measure
    from .jobs.explain import Explanation as Explanation
    from .jobs.explain import explain as explain
    from .jobs.plan import Planning as Planning
    from .jobs.plan import plan_orders as plan_orders
    from .jobs.regress import CheckResult as CheckResult
    from .jobs.regress import check as check
    from .jobs.sweep import Sweep as Sweep
    from .jobs.sweep import run_sweep as run_sweep
    from .model.config import load_network as load_network
    from .model.config import parse_config as parse_config
    from .model.network import MLP as MLP
    from .model.network import network_at_point as network_at_point
    from .model.spec import NetworkSpec as NetworkSpec
    from .model.spec import make_spec as make_spec
    from .model.spec import parse_sizes as parse_sizes
    from .planners.dp import optimal_plan as optimal_plan
    from .planners.orders import ORDERS as ORDERS
    from .planners.orders import Order as Order
    from .render import render as report  # noqa: F401  (re-exported under the name of its step)
    from .run.calibrate import calibration_for as calibration_for
    from .run.execute import compile_plan as compile_plan
    from .run.execute import run_counted as run_counted
    from .run.jacobians import build_factors as build_factors
    from .training.data import Dataset as Dataset
    from .training.data import load_dataset as load_dataset
    from .training.loop import TrainResult as TrainResult
    from .training.loop import train as train
    from .training.settings import TrainSettings as TrainSettings
    from .types import Structure as Structure

# Names resolve on first use, so `jacchain --help` does not pay for everything at once.
_EXPORTS = {
    "Chain": "chain.factors",
    "Factor": "chain.factors",
    "build_chain": "chain.factors",
    "Plan": "chain.plan",
    "bracketing": "chain.plan",
    "Calibration": "cost.machine",
    "PlanCost": "cost.plan_cost",
    "plan_cost": "cost.plan_cost",
    "ProductCount": "cost.product",
    "product_count": "cost.product",
    "TimeObjective": "cost.time_model",
    "plan_time": "cost.time_model",
    "product_time": "cost.time_model",
    "DivergedError": "errors",
    "JacchainError": "errors",
    "MemoryLimitError": "errors",
    "Analysis": "jobs.analyze",
    "OrderResult": "jobs.analyze",
    "Planning": "jobs.plan",
    "analyze": "jobs.analyze",
    "count_only": "jobs.analyze",
    "measure": "jobs.analyze",
    "plan_orders": "jobs.plan",
    "Explanation": "jobs.explain",
    "explain": "jobs.explain",
    "CheckResult": "jobs.regress",
    "check": "jobs.regress",
    "Sweep": "jobs.sweep",
    "run_sweep": "jobs.sweep",
    "load_network": "model.config",
    "parse_config": "model.config",
    "MLP": "model.network",
    "network_at_point": "model.network",
    "NetworkSpec": "model.spec",
    "make_spec": "model.spec",
    "parse_sizes": "model.spec",
    "optimal_plan": "planners.dp",
    "ORDERS": "planners.orders",
    "Order": "planners.orders",
    "report": "render",
    "calibration_for": "run.calibrate",
    "compile_plan": "run.execute",
    "run_counted": "run.execute",
    "build_factors": "run.jacobians",
    "Dataset": "training.data",
    "load_dataset": "training.data",
    "TrainResult": "training.loop",
    "train": "training.loop",
    "TrainSettings": "training.settings",
    "Structure": "types",
}
__all__ = sorted(_EXPORTS)


_RENAMED = {"report": "render"}  # the package jacchain.render would shadow a function of that name


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'jacchain' has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), _RENAMED.get(name, name))
