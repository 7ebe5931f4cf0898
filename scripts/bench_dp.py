"""Time jacchain's optimal-bracketing DP against peers on the same chains, in one run.

Peers: a plain Python triple-loop matrix-chain DP, numpy.linalg.multi_dot's order finder
(its private `_multi_dot_matrix_chain_order`, which multi_dot itself calls), and opt_einsum's
`dp` optimiser when installed. Every peer must find the same optimal cost (checked), and the
script prints each one's time and its ratio to jacchain's.

    python scripts/bench_dp.py [--factors 256 1000] [--seed 0]
"""

from __future__ import annotations

import argparse
import itertools
import time
from types import SimpleNamespace

import numpy as np

from jacchain.chain.factors import Chain, chain_of_dims
from jacchain.cost.plan_cost import plan_cost
from jacchain.planners.dp import optimal_plan


def random_chain(n_factors: int, seed: int) -> Chain:
    return chain_of_dims(np.random.default_rng(seed).integers(1, 1024, n_factors + 1).tolist())


def triple_loop(dims: list[int]) -> int:
    """The textbook O(n^3) dynamic program, in plain Python (MACs)."""
    n = len(dims) - 1
    cost = [[0] * n for _ in range(n)]
    for length in range(2, n + 1):
        for i in range(n - length + 1):
            j = i + length - 1
            cost[i][j] = min(cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1] for k in range(i, j))
    return cost[0][n - 1]


def multi_dot_order(dims: list[int]) -> int:
    shapes = [SimpleNamespace(shape=(a, b)) for a, b in itertools.pairwise(dims)]
    # numpy's own order finder, private, and the peer this benchmark measures
    linalg = getattr(np.linalg, "_linalg", None) or np.linalg.linalg  # type: ignore[attr-defined]  # numpy 2 made it private
    _, costs = linalg._multi_dot_matrix_chain_order(shapes, return_costs=True)
    return int(costs[0, len(shapes) - 1])


def opt_einsum_dp(dims: list[int]):
    try:
        import opt_einsum
    except ImportError:
        return None
    symbol = opt_einsum.get_symbol
    terms = [symbol(i) + symbol(i + 1) for i in range(len(dims) - 1)]
    expression = ",".join(terms) + "->" + symbol(0) + symbol(len(dims) - 1)
    shapes = list(itertools.pairwise(dims))
    _, info = opt_einsum.contract_path(expression, *shapes, shapes=True, optimize="dp")
    return int(info.opt_cost) // 2  # FLOPs -> MACs


def timed(function, *args):
    start = time.perf_counter()
    value = function(*args)
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factors", type=int, nargs="+", default=[256, 1000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--peer-limit", type=int, default=300, help="skip the slow peers above this many factors")
    parser.add_argument("--quick", action="store_true", help="one 32-factor chain (seconds; for CI)")
    args = parser.parse_args()
    if args.quick:
        args.factors = [32]
    print(
        f"{'factors':>7}  {'method':<28} {'time':>10}  {'/ jacchain':>10}  "
        "optimal MACs (time: jacchain median of 3, peers once)"
    )
    for n_factors in args.factors:
        chain = random_chain(n_factors, args.seed)
        optimal_plan(random_chain(8, args.seed))  # import and thread-pool warm-up
        runs = [timed(lambda chain=chain: plan_cost(optimal_plan(chain), chain).macs) for _ in range(3)]
        ours = runs[0][0]
        reference_time = sorted(seconds for _, seconds in runs)[1]  # median of three
        print(f"{n_factors:>7}  {'jacchain (vectorised DP)':<28} {reference_time * 1e3:>8.1f}ms  {1:>9.2f}x  {ours:,}")
        if n_factors > args.peer_limit:
            print(f"{'':>7}  (peers skipped above {args.peer_limit} factors; the triple loop grows as n^3)")
            continue
        peers = [
            ("python triple-loop DP", triple_loop),
            ("numpy multi_dot order", multi_dot_order),
            ("opt_einsum dp", opt_einsum_dp),
        ]
        for name, function in peers:
            value, seconds = timed(function, chain.dims)
            if value is None:
                print(f"{'':>7}  {name:<28} {'not installed':>10}")
                continue
            mark = "" if value == ours else f"  (differs: {value:,})"
            print(f"{'':>7}  {name:<28} {seconds * 1e3:>8.1f}ms  {seconds / reference_time:>9.1f}x  {value:,}{mark}")


if __name__ == "__main__":
    main()
