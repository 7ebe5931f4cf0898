"""What a small numpy call costs right after a large product, against the same call repeated:
where the training step's time above its GEMM floor goes (README, Benchmarks; docs/performance.md).

The probe is a column sum of a 128 x 10 float32 batch (the size of the seed network's
logits), called four times in a row after each of: nothing (back to back), the seed
network's first forward product (128 x 784)(784 x 512) on the BLAS's threads, and a sweep
over 16 MiB. Prints the median of each of the four calls over many repetitions.

    python scripts/cold_calls.py [--threads 2] [--repetitions 300]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from jacchain.run.timing import blas_threads

CALLS = 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repetitions", type=int, default=300)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    batch, out = rng.standard_normal((128, 10)).astype(np.float32), np.empty(10, np.float32)
    left = rng.standard_normal((128, 784)).astype(np.float32)
    weight = rng.standard_normal((512, 784)).astype(np.float32)
    product, sweep = np.empty((128, 512), np.float32), np.ones(2**22, np.float32)
    before: dict[str, Callable[[], object]] = {
        "back to back": lambda: None,
        "after a (128x784)(784x512) product": lambda: np.matmul(left, weight.T, out=product),
        "after a sweep over 16 MiB": lambda: np.multiply(sweep, 1.0, out=sweep),
    }
    clock = time.perf_counter_ns
    print(f"float32 column sum of 128 x 10, {args.threads} BLAS thread(s); median of {args.repetitions}, in us")
    print(f"{'':36}" + "".join(f"{f'call {k + 1}':>9}" for k in range(CALLS)))
    with blas_threads(args.threads):
        for name, work in before.items():
            samples: list[list[int]] = [[] for _ in range(CALLS)]
            for _ in range(args.repetitions):
                work()
                for times in samples:
                    start = clock()
                    np.sum(batch, axis=0, out=out)
                    times.append(clock() - start)
            print(f"{name:36}" + "".join(f"{statistics.median(times) / 1e3:9.1f}" for times in samples))


if __name__ == "__main__":
    main()
