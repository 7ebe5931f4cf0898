"""Where the training step's products lose against the GEMM floor: each BLAS call one real
step makes (scripts/bench_train.py's `step's products`), timed three ways in one process.

- warm: the call repeated on its own operands, as the floor repeats its products;
- floor form: the same (m, k) x (k, n) product on fresh C-contiguous operands with
  `np.matmul(..., out=...)`, as bench_train's floor times it;
- in the step: the call right after the one before it in the step, the whole step's
  products replayed in order (so its operands may have been evicted by the others);
- after eviction: the call run on its own operands, then both cores sweeping `--evict` MiB
  of other memory (a two-thread axpy on the step's BLAS), then the call timed: what it costs
  once its operands have been pushed out of the caches that far. Near `in
  the step`, it says the products lose to the floor by where their operands are, not by
  anything the step does between them.

Then the sums, and the step's products replayed as a whole. Every figure is a median over
`--repetitions`, each repetition measuring every column once, so that a host drifting within
the run moves them alike; a single process and one BLAS, so no thread pools fight.

    python scripts/bench_step_products.py [--sizes 784,512,256,10:128] [--dtype float32] [--threads 2]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import numpy as np
from bench_train import jacchain_trainer, parse_size, step_products

from jacchain.run.blas import backend
from jacchain.run.timing import blas_threads

WARM_UP = 5  # repetitions run before the timed ones
COLUMNS = ("in the step", "warm", "floor form", "evicted")  # in the order each repetition times them


def one_step_options(description: str, evict: bool = False) -> tuple[argparse.Namespace, str, list[int], int]:
    """The options of a script that takes one training step apart (this one, with `evict`,
    and bench_step_calls.py), parsed: (options, the widths as given, the widths, the batch)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sizes", default="784,512,256,10:128", help="WIDTHS:BATCH")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repetitions", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="a small network, few repetitions (seconds)")
    if evict:
        parser.add_argument("--evict", type=float, default=8.0, help="MiB swept before each evicted call")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.repetitions = "64,128,64,10:32", 10
    return args, *parse_size(args.sizes)


def timed(call, after=None) -> float:
    """The call's time, right after `after()` (not timed) where given."""
    if after is not None:
        after()
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def run_then(call, then) -> None:
    """The call, then `then()`: what an evicted sample runs before it is timed."""
    call()
    then()


def main() -> None:
    args, widths, sizes, batch = one_step_options(__doc__.splitlines()[0], evict=True)
    trainer, X, y = jacchain_trainer(sizes, batch, args.dtype)
    products, _ = step_products(trainer, X, y)
    program = trainer.step_program(X)
    program.batch[:] = X, y  # where the products that read the batch find it, for the whole run
    calls = [product.run for product in products]
    floor_forms = []
    for product in products:
        m, k, n = product.shape
        left, right = np.full((m, k), 0.5, dtype=args.dtype), np.full((k, n), 0.5, dtype=args.dtype)
        floor_forms.append(functools.partial(np.matmul, left, right, out=np.empty((m, n), dtype=args.dtype)))
    other = np.ones(int(args.evict * 2**20) // 4, dtype=np.float32)  # x and y of the sweep: evict MiB
    evict = backend("numpy").bind_axpy(1e-30, other[: other.size // 2], other[other.size // 2 :])

    def in_order() -> None:
        for call in calls:
            call()

    # Every column is measured in every repetition, one after the other, so that a host whose
    # speed drifts within the run moves them all alike; the first repetitions warm up.
    samples: dict[str, list[list[float]]] = {column: [[] for _ in calls] for column in COLUMNS}
    wholes = []
    with blas_threads(args.threads):
        for repetition in range(WARM_UP + args.repetitions):
            in_order()
            whole = timed(in_order)
            times = {
                "in the step": [timed(call) for call in calls],
                "warm": [timed(call, after=call) for call in calls],
                "floor form": [timed(product, after=product) for product in floor_forms],
                "evicted": [timed(call, after=functools.partial(run_then, call, evict)) for call in calls],
            }
            if repetition >= WARM_UP:
                wholes.append(whole)
                for column, per_call in times.items():
                    for kept, sample in zip(samples[column], per_call):
                        kept.append(sample)
    medians = {column: [statistics.median(kept) for kept in per_call] for column, per_call in samples.items()}
    warm, floor, step, evicted = (medians[column] for column in ("warm", "floor form", "in the step", "evicted"))
    whole = statistics.median(wholes)
    print(
        f"{widths}, batch {batch}, {args.dtype}, {args.threads} BLAS thread(s); medians of {args.repetitions};"
        f" eviction sweeps {args.evict:g} MiB"
    )
    header = f"{'product (^T: read transposed)':<34} {'warm':>9} {'floor form':>11} {'in the step':>12} {'evicted':>9}"
    print(f"  {header}  warm/floor  step/warm  evicted/warm")
    for product, w, f, t, e in zip(products, warm, floor, step, evicted):
        name = product.label.removeprefix("product ")
        print(
            f"  {name:<34} {w * 1e6:7.1f}us {f * 1e6:9.1f}us {t * 1e6:10.1f}us {e * 1e6:7.1f}us"
            f"  {w / f:9.2f}x {t / w:9.2f}x {e / w:12.2f}x"
        )
    total_warm, total_floor, total_step, total_evicted = sum(warm), sum(floor), sum(step), sum(evicted)
    print(
        f"  {'sum':<34} {total_warm * 1e6:7.0f}us {total_floor * 1e6:9.0f}us {total_step * 1e6:10.0f}us"
        f" {total_evicted * 1e6:7.0f}us  {total_warm / total_floor:9.2f}x {total_step / total_warm:9.2f}x"
        f" {total_evicted / total_warm:12.2f}x"
    )
    print(f"  the step's products replayed whole: {whole * 1e6:.0f}us, {whole / total_floor:.2f}x the floor")


if __name__ == "__main__":
    main()
