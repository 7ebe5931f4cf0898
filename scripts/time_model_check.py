"""Predicted against measured input-first / loss-first time ratios on the shipped configs.

For every config that runs explicitly, runs `analyze` (the time model from `jacchain
calibrate`, cached) and prints both ratios and whether they agree within 30%.

    python scripts/time_model_check.py [--repeats 50] [--of loss output]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from jacchain.chain.config import is_chain_config
from jacchain.jobs.analyze import analyze
from jacchain.model.config import load_network
from jacchain.run.calibrate import load_or_measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--of", nargs="+", default=["loss"])
    args = parser.parse_args()
    configs = sorted((Path(__file__).parent.parent / "configs").glob("*.yaml"))
    print(f"{'config':<18} {'of':<7} {'predicted':>10} {'measured':>10} {'off by':>8}")
    for path in configs:
        if is_chain_config(str(path)):
            continue  # a chain of elementals has no arrays to time
        spec = load_network(str(path))
        if spec.analytic:
            continue
        calibration = load_or_measure(spec.dtype)
        for of in args.of:
            result = analyze(
                spec, orders=["loss-first", "input-first"], of=of, repeats=args.repeats, calibration=calibration
            )
            first, second = result.order("input-first"), result.order("loss-first")
            predicted = first.predicted_time / second.predicted_time
            measured = first.time.median / second.time.median
            off = predicted / measured - 1
            verdict = "ok" if abs(off) <= 0.30 else "outside 30%"
            print(f"{path.stem:<18} {of:<7} {predicted:>9.1f}x {measured:>9.1f}x {off:>+7.0%}  {verdict}")


if __name__ == "__main__":
    main()
