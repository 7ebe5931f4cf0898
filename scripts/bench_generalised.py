"""Time the generalised-chain solvers against the issue's goals, side by side in one run.

* The sequential DP (matrix-free, memory-limited) on long random chains, against a plain
  Python triple-loop version of the same recurrence (section 3.6 of the model); both must
  find the same optimum. Goal: 300 elementals in under 2 s.
* The exact schedule (branch and bound), matrix-free and accumulate, on random JCDP-like
  chains of 8 elementals (widths 5..500, DAG sizes 1,000..100,000) on 2 and 4 machines,
  beside JCDP's DP heuristic value and the least critical path. Goal: under 10 s each.
* The hardest shipped case, configs/jcdp-chain11.yaml accumulated on 2 machines, as
  `analyze --machines 2` schedules it, without a time limit (not with --quick). Goal: proved
  within the default --time-limit of 10 s.

    python scripts/bench_generalised.py [--elementals 300] [--chains 10] [--seed 0] [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import statistics
import time
from pathlib import Path

from jacchain.chain.config import load_chain
from jacchain.chain.elementals import Elemental, ElementalChain
from jacchain.jobs.chain import analyze_chain
from jacchain.planners.jcdp import solve
from jacchain.planners.schedule import critical_path, dp_heuristic, exact_schedule


def random_chain(length: int, rng: random.Random, widest: int = 64) -> ElementalChain:
    widths = [rng.randint(1, widest) for _ in range(length + 1)]
    return ElementalChain(
        tuple(
            Elemental(widths[i], widths[i + 1], rng.randint(1, 200), rng.randint(1, 200), rng.randint(1, 200))
            for i in range(length)
        )
    )


def jcdp_like_chain(length: int, rng: random.Random) -> ElementalChain:
    """Like JCDP's generator's defaults: widths 5..500, DAG sizes 1,000..100,000 as the tangent
    cost, the adjoint cost and the tape."""
    widths = [rng.randint(5, 500) for _ in range(length + 1)]
    costs = [rng.randint(1000, 100_000) for _ in range(length)]
    return ElementalChain(tuple(Elemental(widths[i], widths[i + 1], c, c, c) for i, c in enumerate(costs)))


def triple_loop(chain: ElementalChain, memory: int | None) -> int:
    """The recurrence of section 3.6 in plain Python loops."""
    e, q = chain.elementals, len(chain)
    t, a, tape = chain.prefix("tangent_cost"), chain.prefix("adjoint_cost"), chain.prefix("tape")
    best = {}
    for i, x in enumerate(e):
        adjoint_ok = not memory or x.tape <= memory
        best[i, i] = min(
            x.inputs * x.tangent_cost, x.outputs * x.adjoint_cost if adjoint_ok else x.inputs * x.tangent_cost
        )
    for length in range(2, q + 1):
        for i in range(q - length + 1):
            j = i + length - 1
            options = []
            for k in range(i, j):
                options.append(best[i, k] + best[k + 1, j] + e[j].outputs * e[k].outputs * e[i].inputs)
                options.append(best[i, k] + e[i].inputs * (t[j + 1] - t[k + 1]))
                if not memory or tape[k + 1] - tape[i] <= memory:
                    options.append(best[k + 1, j] + e[j].outputs * (a[k + 1] - a[i]))
            best[i, j] = min(options)
    return best[0, q - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--elementals", type=int, default=300)
    parser.add_argument("--chains", type=int, default=10, help="random 8-elemental chains to schedule")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a few seconds: 60 elementals, 2 chains")
    args = parser.parse_args()
    length, count = (60, 2) if args.quick else (args.elementals, args.chains)
    rng = random.Random(args.seed)

    chain = random_chain(length, rng)
    memory = 150
    begin = time.perf_counter()
    plan = solve(chain, True, memory)
    ours = time.perf_counter() - begin
    begin = time.perf_counter()
    reference = triple_loop(chain, memory)
    loops = time.perf_counter() - begin
    assert plan.cost == reference, (plan.cost, reference)
    print(f"sequential DP, {length} elementals, matrix-free, memory limit {memory}: optimum {plan.cost:,} MACs")
    print(f"  jacchain (vectorised) {ours:.3f} s   plain Python loops {loops:.3f} s   ratio {loops / ours:.1f}x")
    print(f"  goal: 300 elementals in under 2 s: {'met' if length < 300 or ours < 2 else 'NOT met'} ({ours:.3f} s)")

    chains = [jcdp_like_chain(8, rng) for _ in range(count)]
    for matrix_free, machines in itertools.product((True, False), (2, 4)):
        label = "matrix-free" if matrix_free else "accumulate"
        times, exact, beaten = [], 0, 0
        print(
            f"\nexact {label} schedules, {count} random JCDP-like chains of 8 elementals on {machines} machines "
            "(time limit 10 s each)"
        )
        headings = ("makespan", 11), ("DP heuristic", 12), ("critical path", 13), ("sequential", 11), ("time", 8)
        print("  " + "  ".join(f"{name:>{width}}" for name, width in headings) + "  exact")
        for chain in chains:
            begin = time.perf_counter()
            schedule = exact_schedule(chain, machines, matrix_free, time_limit=10.0)
            times.append(time.perf_counter() - begin)
            exact += schedule.exact
            heuristic = dp_heuristic(chain, machines, matrix_free)
            beaten += schedule.makespan < heuristic
            print(
                f"  {schedule.makespan:11,}  {heuristic:12,}  {critical_path(chain, matrix_free):13,}  "
                f"{solve(chain, matrix_free).cost:11,}  {times[-1]:6.2f} s  {schedule.exact}"
            )
        print(
            f"  median {statistics.median(times):.2f} s, max {max(times):.2f} s; {exact}/{count} proven optimal, "
            f"{beaten} below JCDP's DP heuristic; goal under 10 s: {'met' if max(times) < 10 else 'NOT met'}"
        )

    if args.quick:
        return
    chain11 = load_chain(str(Path(__file__).resolve().parent.parent / "configs" / "jcdp-chain11.yaml"))
    begin = time.perf_counter()
    result = analyze_chain(chain11, ["accumulate"], machines=2, time_limit=math.inf).orders[0]
    took = time.perf_counter() - begin
    assert result.schedule is not None and result.schedule.exact
    print(
        f"\njcdp-chain11, accumulate on 2 machines, no time limit: makespan {result.schedule.makespan:,} proved "
        f"optimal in {took:.1f} s; goal within the default 10 s: {'met' if took < 10 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
