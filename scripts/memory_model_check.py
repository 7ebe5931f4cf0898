"""How well the memory model of chain runs holds: random chain configs (run on surrogates) and
random networks read as chains, each run with `jacchain analyze`'s plans and schedules, its
peak traced by tracemalloc against `run_memory`, which `--max-memory` admits a run on.

A run keeps to its model when its peak is at most the model plus 256 KiB (Python's own
objects). Prints the range of peak / model and the runs that came closest to (or past) it;
exits 1 if any run went past.

    python scripts/memory_model_check.py [--chains 40] [--networks 30] [--seed 0] [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import dataclass

import numpy as np

from jacchain.chain.elementals import Elemental, ElementalChain, network_chain
from jacchain.jobs.analyze import measure_peak
from jacchain.jobs.chain import (
    ChainAnalysis,
    analyze_chain,
    network_footprint,
    run_memory,
    run_plans,
    surrogate_footprint,
)
from jacchain.model.spec import NetworkSpec, make_spec
from jacchain.types import Dtype, Of

SLACK = 256 * 1024  # bytes of Python objects a run may hold beyond its arrays
COST_SCALES = (0.3, 1, 3, 30, 300)  # an elemental's costs, as multiples of its n m
ACTIVATIONS = ("relu", "tanh", "softmax", "identity", "sigmoid")


@dataclass(frozen=True)
class Run:
    what: str
    machines: int | None
    peak: int
    modelled: int

    @property
    def over(self) -> int:
        return self.peak - self.modelled


def random_chain(rng: np.random.Generator) -> ElementalChain:
    """2 to 6 elementals of widths 5 to 79, each direction's cost 0.3 to 300 times n m."""
    widths = [int(w) for w in rng.integers(5, 80, int(rng.integers(2, 7)) + 1)]
    elementals = []
    for n, m in itertools.pairwise(widths):
        t, a = (max(1, int(n * m * rng.choice(COST_SCALES))) for _ in range(2))
        elementals.append(Elemental(n, m, t, a, int(rng.integers(1, 1000))))
    return ElementalChain(tuple(elementals))


def measure(analysis: ChainAnalysis, spec: NetworkSpec | None, of: Of, modelled: int, what: str) -> Run:
    run_plans(analysis, spec, of, seed=0, repeats=1)  # what a first run sets up once, outside the count
    peak = measure_peak(lambda: run_plans(analysis, spec, of, seed=0, repeats=1))
    return Run(what, analysis.machines, peak, modelled)


def chain_runs(count: int, rng: np.random.Generator) -> list[Run]:
    runs = []
    for index in range(count):
        chain = random_chain(rng)
        machines = (None, 1, 2, 3)[index % 4]
        analysis = analyze_chain(chain, None, None, machines, 0.5)
        modelled = run_memory(analysis, surrogate_footprint(chain), 8)
        runs.append(measure(analysis, None, "loss", modelled, f"chain {','.join(map(str, chain.widths))}"))
    return runs


def network_runs(count: int, rng: np.random.Generator) -> list[Run]:
    runs = []
    for index in range(count):
        depth = int(rng.integers(1, 6))
        sizes = [int(w) for w in rng.integers(2, 300, depth + 1)]
        activations = [str(rng.choice(ACTIVATIONS)) for _ in range(depth)]
        of: Of = "loss" if rng.random() < 0.5 else "output"
        dtype: Dtype = "float32" if rng.random() < 0.5 else "float64"
        spec = make_spec(sizes, dtype=dtype, activations=activations)
        machines = (None, 1, 2, 3)[index % 4]
        analysis = analyze_chain(network_chain(spec, of), None, None, machines, 0.5)
        modelled = run_memory(analysis, network_footprint(spec, of), spec.itemsize)
        what = f"network {','.join(map(str, sizes))} {'/'.join(activations)} of {of} {dtype}"
        runs.append(measure(analysis, spec, of, modelled, what))
    return runs


def report(name: str, runs: list[Run], shown: int = 5) -> bool:
    ratios = [run.peak / run.modelled for run in runs]
    past = [run for run in runs if run.over > SLACK]
    print(f"{name}: {len(runs)} runs, peak / model {min(ratios):.2f}-{max(ratios):.2f}, {len(past)} past it")
    for run in sorted(runs, key=lambda run: -run.over)[:shown]:
        print(f"  {run.over / 1024:+9.1f} KiB  {run.peak / run.modelled:.3f}x  machines {run.machines}  {run.what}")
    return not past


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chains", type=int, default=40)
    parser.add_argument("--networks", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="4 chains and 4 networks (seconds)")
    args = parser.parse_args()
    chains, networks = (4, 4) if args.quick else (args.chains, args.networks)
    rng = np.random.default_rng(args.seed)
    kept = report("chain configs on surrogates", chain_runs(chains, rng))
    kept = report("networks read as chains", network_runs(networks, rng)) and kept
    return 0 if kept else 1


if __name__ == "__main__":
    sys.exit(main())
