"""The figures issue 12 asks of a closing note: for the seed network and the shipped chain
configs, each plan's modelled and measured time, and for P = 1, 2, 4 machines the modelled and
measured makespans of the exact schedules (with the same tasks on one thread beside them).

Uses the cached calibrations (`jacchain calibrate` and `jacchain calibrate --threads 1`; run
them first on a quiet machine). A chain config runs on surrogate elementals (README).

    python scripts/chain_figures.py [--machines 1 2 4] [SPEC ...]
"""

from __future__ import annotations

import argparse
import functools

from jacchain.chain.config import is_chain_config, load_chain
from jacchain.chain.elementals import network_chain
from jacchain.jobs.chain import analyze_chain, run_plans
from jacchain.model.config import load_network
from jacchain.run.calibrate import calibration_for

DEFAULT_SPECS = ("configs/seed.yaml", "configs/jcdp-chain7.yaml", "configs/jcdp-chain11.yaml")
ORDERS = ("input-first", "loss-first", "accumulate", "matrix-free")


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.2f}"


def figures(spec: str, machines: tuple[int, ...]) -> None:
    network = None if is_chain_config(spec) else load_network(spec)
    chain = load_chain(spec) if network is None else network_chain(network, "loss")
    calibrate = functools.partial(calibration_for, measure_if_missing=False)
    print(f"\n### {spec}\n")
    print("| order | MACs | measured (median, min-max) | model |")
    print("|---|---:|---:|---:|")
    first = run_plans(analyze_chain(chain, ORDERS), network, calibrate=calibrate)
    for result in first.orders:
        m = result.measured
        if m is None:
            print(f"| {result.order.name} | not allowed | - | - |")
            continue
        spread = f"{ms(m.time.median)} ({ms(m.time.min)}-{ms(m.time.max)}) ms"
        print(f"| {result.order.name} | {result.macs:,} | {spread} | {ms(m.predicted_time)} ms |")
    print("\n| P | order | makespan (MACs) | exact | measured on P threads | model | same tasks on one thread |")
    print("|---:|---|---:|---|---:|---:|---:|")
    for p in machines:
        analysis = run_plans(
            analyze_chain(chain, ("accumulate", "matrix-free"), machines=p), network, calibrate=calibrate
        )
        for result in analysis.orders:
            s, m = result.schedule, result.measured
            assert s is not None and m is not None and m.makespan is not None and m.one_thread is not None
            print(
                f"| {p} | {result.order.name} | {s.makespan:,} | {'yes' if s.exact else 'no'} | "
                f"{ms(m.makespan.median)} ms | {ms(m.predicted_makespan)} ms | "
                f"{ms(m.one_thread.median)} ms ({m.speedup:.2f}x) |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", default=DEFAULT_SPECS)
    parser.add_argument("--machines", type=int, nargs="+", default=(1, 2, 4))
    args = parser.parse_args()
    for spec in args.specs:
        figures(spec, tuple(args.machines))


if __name__ == "__main__":
    main()
