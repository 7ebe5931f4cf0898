"""jacchain: the cost of backpropagation made visible and measurable.

>>> from jacchain import analyze, load_network
>>> result = analyze(load_network("784,512,256,10"), analytic=True)
>>> result.order("input-first").flops / result.order("loss-first").flops > 195
True
"""

from importlib import import_module
from typing import Any

# Names resolve on first use, so `jacchain --help` does not pay for numpy.
_EXPORTS = {
    "Analysis": "analysis", "OrderResult": "analysis", "analyze": "analysis",
    "Chain": "chain", "Plan": "chain", "bracketing": "chain", "build_chain": "chain",
    "load_network": "config", "parse_config": "config",
    "PlanCost": "cost", "ProductCount": "cost", "optimal_plan": "cost", "plan_cost": "cost",
    "JacchainError": "errors",
    "MLP": "network", "network_at_point": "network",
    "ORDERS": "orders",
    "NetworkSpec": "spec", "make_spec": "spec", "parse_sizes": "spec",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'jacchain' has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
