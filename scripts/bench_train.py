"""One training step of the same MLP in jacchain and in PyTorch eager mode, side by side.

Same widths, batch, dtype, optimiser (SGD, momentum 0.9) and BLAS thread count; the two
alternate in rounds within one process. Prints the median step time of each, the ratio
jacchain / PyTorch, and the fraction of this machine's matrix-multiply rate each achieves
(the step's FLOPs as jacchain counts them, over a large square GEMM's rate measured here).

    python scripts/bench_train.py [--sizes 784,512,256,10] [--batch 128] [--dtype float32] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from jacchain.model.network import MLP
from jacchain.model.spec import make_spec, parse_sizes
from jacchain.run.calibrate import gemm_rate
from jacchain.run.timing import blas_info, blas_threads
from jacchain.training.settings import TrainSettings
from jacchain.training.trainer import FlopCounter, Trainer


def time_steps(step, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        step()
    return (time.perf_counter() - start) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="784,512,256,10")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps-per-round", type=int, default=20)
    args = parser.parse_args()

    spec = make_spec(parse_sizes(args.sizes), loss="cross_entropy", dtype=args.dtype)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.batch, spec.sizes[0])).astype(args.dtype)
    y = rng.integers(0, spec.sizes[-1], args.batch)
    settings = TrainSettings(lr=0.01, momentum=0.9)
    trainer = Trainer(MLP.initialise(spec), settings)
    counter = FlopCounter()
    with blas_threads(args.threads):
        trainer.step(X, y, counter)
        ours = lambda: trainer.step(X, y)  # noqa: E731
        theirs = torch_step(spec, X, y, settings, args.threads)
        rate = gemm_rate(args.dtype, 1024)
        blas = blas_info()
        ours_times, theirs_times, ratios = [], [], []
        for _ in range(args.rounds):
            mine = time_steps(ours, args.steps_per_round)
            other = time_steps(theirs, args.steps_per_round) if theirs else float("nan")
            ours_times.append(mine)
            theirs_times.append(other)
            ratios.append(mine / other)
    flops = counter.total
    print(
        f"{args.sizes}, batch {args.batch}, {args.dtype}, BLAS {blas.library}, {blas.threads} thread(s); "
        f"{args.rounds} alternating rounds of {args.steps_per_round} steps"
    )
    print(f"machine GEMM rate ({args.dtype}, 1024^3): {rate:.1f} GFLOP/s; one step = {flops:,} FLOPs (counted)")
    rows = [("jacchain", ours_times)] + ([("pytorch eager", theirs_times)] if theirs else [])
    for name, times in rows:
        median = statistics.median(times)
        achieved = flops / median / 1e9
        print(
            f"  {name:<14} {median * 1e3:8.3f} ms/step  ({min(times) * 1e3:.3f}-{max(times) * 1e3:.3f})  "
            f"{achieved:6.1f} GFLOP/s = {achieved / rate * 100:5.1f}% of GEMM rate"
        )
    if theirs:
        print(
            f"  ratio jacchain / pytorch: {statistics.median(ratios):.3f}x "
            f"(per-round {min(ratios):.3f}-{max(ratios):.3f})"
        )
    else:
        print("  PyTorch is not installed: pip install torch==2.13.0 to compare")


def torch_step(spec, X, y, settings, threads):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    dtype = getattr(torch, spec.dtype)
    layers = []
    for n_in, n_out in zip(spec.sizes, spec.sizes[1:]):
        layers += [torch.nn.Linear(n_in, n_out, dtype=dtype), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    optimiser = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum)
    inputs, targets = torch.from_numpy(X), torch.from_numpy(y)

    def step():
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(inputs), targets)
        loss.backward()
        optimiser.step()

    step()
    return step


if __name__ == "__main__":
    main()
