"""How much does jacchain's executor add over a bare numpy loop on the same arrays?

Times each order's chain product as `jacchain analyze` times it (the compiled plan) and as a
hand-written numpy loop over the very same arrays, alternating the two in one process, and
prints the ratio jacchain / bare. Goal: within 1.10x.

    python scripts/bench_overhead.py [SPEC] [--rounds 7] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics

from jacchain.chain.factors import build_chain
from jacchain.model.config import load_network
from jacchain.model.network import network_at_point
from jacchain.planners.orders import ORDERS
from jacchain.run.execute import compile_plan
from jacchain.run.jacobians import build_factors
from jacchain.run.timing import blas_info, blas_threads, time_call


def bare_loss_first(arrays):
    def run():
        value = arrays[0]
        for factor in arrays[1:]:
            value = value @ factor
        return value

    return run


def bare_input_first(arrays):
    def run():
        value = arrays[-1]
        for factor in reversed(arrays[:-1]):
            value = factor @ value
        return value

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", default="784,512,256,10")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="a small network, one round (seconds; for CI)")
    args = parser.parse_args()
    if args.quick:
        args.spec, args.rounds = "64,32,8", 1
    spec = load_network(args.spec)
    chain = build_chain(spec)
    network, x, y = network_at_point(spec)
    arrays = build_factors(chain, network, network.forward(x), y)
    bare = {"loss-first": bare_loss_first(arrays), "input-first": bare_input_first(arrays)}
    with blas_threads(args.threads):
        blas = blas_info()
        print(
            f"{spec.label}, {spec.dtype}, BLAS {blas.library}, {blas.threads} thread(s), "
            f"{args.rounds} alternating rounds"
        )
        print(f"{'order':<12} {'jacchain':>12} {'bare numpy':>12} {'ratio':>7}  (spread of per-round ratios)")
        for name, reference in bare.items():
            ours = compile_plan(ORDERS.get(name).build(chain, None), arrays)
            ours_medians, bare_medians, ratios = [], [], []
            for _ in range(args.rounds):
                mine = time_call(ours).median
                theirs = time_call(reference).median
                ours_medians.append(mine)
                bare_medians.append(theirs)
                ratios.append(mine / theirs)
            ratio = statistics.median(ratios)
            print(
                f"{name:<12} {statistics.median(ours_medians) * 1e6:>10.1f}us "
                f"{statistics.median(bare_medians) * 1e6:>10.1f}us "
                f"{ratio:>6.3f}x  ({min(ratios):.3f}-{max(ratios):.3f})"
            )


if __name__ == "__main__":
    main()
