"""dl/dx for the same network and point by jacchain's orders and by torch.func, in one run.

jacchain is timed two ways: the chain product alone (what `analyze` reports) and building the
explicit Jacobians plus the product (what torch.func.jacrev / jacfwd do from scratch, forward
pass included). Same dtype, thread count and point; results are checked to agree.

    python scripts/bench_peers.py [SPEC] [--threads 2] [--repeats 20]
"""

from __future__ import annotations

import argparse

import numpy as np

from jacchain.chain.factors import build_chain
from jacchain.model.config import load_network
from jacchain.model.network import network_at_point
from jacchain.planners.orders import ORDERS
from jacchain.run.execute import compile_plan
from jacchain.run.jacobians import build_factors
from jacchain.run.timing import blas_info, blas_threads, time_call


def torch_loss(network, y):
    import torch

    activations = {
        "identity": lambda a: a,
        "relu": torch.relu,
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "gelu": lambda a: torch.nn.functional.gelu(a, approximate="tanh"),
        "softmax": lambda a: torch.softmax(a, -1),
    }
    weights = [torch.from_numpy(w) for w in network.weights]
    biases = [torch.from_numpy(b) for b in network.biases]
    names = network.spec.activations
    target = torch.from_numpy(np.asarray(y))

    def loss(x):
        z = x
        for weight, bias, name in zip(weights, biases, names):
            z = activations[name](weight @ z + bias)
        if network.spec.loss == "cross_entropy":
            return -torch.log_softmax(z, -1)[target]
        return torch.mean((z - target) ** 2)

    return loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", default="784,512,256,10")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="a small network, few repeats (seconds; for CI)")
    args = parser.parse_args()
    if args.quick:
        args.spec, args.repeats = "32,16,4", 3
    spec = load_network(args.spec)
    chain = build_chain(spec)
    network, x, y = network_at_point(spec)
    rows = []
    with blas_threads(args.threads):
        build = lambda: build_factors(chain, network, network.forward(x), y)  # noqa: E731
        arrays = build()
        for name in ORDERS:  # one untimed pass of everything, so that the first order timed
            compile_plan(ORDERS.get(name).build(chain), build())()  # pays no one-off costs
        reference = None
        for name in ("loss-first", "input-first", "optimal"):
            plan = ORDERS.get(name).build(chain)
            run = compile_plan(plan, arrays)
            value = run()[0].ravel()
            reference = value if reference is None else reference
            chain_only = time_call(run, repeats=args.repeats).median
            end_to_end = time_call(lambda plan=plan: compile_plan(plan, build())(), repeats=args.repeats).median
            rows.append((f"jacchain {name}", chain_only, end_to_end, float(np.abs(value - reference).max())))
        try:
            import torch
            from torch.func import jacfwd, jacrev

            torch.set_num_threads(args.threads)
            loss = torch_loss(network, y)
            point = torch.from_numpy(x)
            for name, transform in (("torch.func.jacrev", jacrev), ("torch.func.jacfwd", jacfwd)):
                jacobian = transform(loss)
                value = jacobian(point).numpy().ravel()
                seconds = time_call(lambda jacobian=jacobian: jacobian(point), repeats=args.repeats).median
                rows.append((name, None, seconds, float(np.abs(value - reference).max())))
        except ImportError:
            rows.append(("torch.func (not installed: pip install torch==2.13.0)", None, None, None))
        blas = blas_info()
    print(f"{spec.label}, {spec.dtype}, dl/dx, BLAS {blas.library}, {args.threads} thread(s), median of {args.repeats}")
    base = next(r[2] for r in rows if r[0] == "jacchain loss-first")
    print(f"  {'method':<34} {'chain only':>11} {'from scratch':>13} {'/ loss-first':>12} {'max abs diff':>13}")
    for name, chain_only, total, diff in rows:
        chain_text = f"{chain_only * 1e3:9.3f}ms" if chain_only is not None else f"{'-':>11}"
        total_text = f"{total * 1e3:11.3f}ms" if total is not None else f"{'-':>13}"
        ratio = f"{total / base:11.2f}x" if total is not None else f"{'-':>12}"
        diff_text = f"{diff:13.2e}" if diff is not None else ""
        print(f"  {name:<34} {chain_text} {total_text} {ratio} {diff_text}")


if __name__ == "__main__":
    main()
