"""A user's script, as a type checker sees it: `.ci/run` checks it with mypy, where
disallow_any_expr is on for this module, so a public name that types as Any fails CI."""

import jacchain
from jacchain import Analysis, NetworkSpec, Planning, load_network, plan_orders

spec: NetworkSpec = load_network("784,512,256,10")
planning: Planning = plan_orders(spec, of="loss", wrt="input", granularity="layer")
result: Analysis = jacchain.analyze(spec, analytic=True)
flops: int = result.order("loss-first").flops
bracketing: str = planning.orders[0].bracketing
text = jacchain.report(result, "markdown")
print(flops, bracketing, len(text))
