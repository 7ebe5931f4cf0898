"""jacchain's training step in this working tree against the same step at another git
revision, each side in its own process, alternating rounds; prints min / median / max per
side and the ratio of medians. Guards "the training step must not get slower" across
refactorings.

    python scripts/bench_step_revisions.py --against HEAD~3 [--sizes 784,512,256,10] [--batch 128]
    python scripts/bench_step_revisions.py --blas mkl     # the step on MKL (revisions that have it)
    python scripts/bench_step_revisions.py --momentum 0   # plain SGD (momentum 0.9 by default)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_train import DEFAULT_MOMENTUM, momentum_option

# Runs inside each side's process: imports whichever layout that revision has.
WORKER = r"""
import json, sys, time
import numpy as np
from threadpoolctl import threadpool_limits
try:
    from jacchain.model.network import MLP
    from jacchain.model.spec import make_spec, parse_sizes
    from jacchain.training.settings import TrainSettings
    from jacchain.training.trainer import Trainer
except ImportError:
    from jacchain.network import MLP
    from jacchain.spec import make_spec, parse_sizes
    from jacchain.train import Trainer, TrainSettings
sizes, batch, dtype, threads, steps = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
blas, momentum = sys.argv[6], float(sys.argv[7])
spec = make_spec(parse_sizes(sizes), loss="cross_entropy", dtype=dtype)
rng = np.random.default_rng(0)
X = rng.standard_normal((batch, spec.sizes[0])).astype(dtype)
y = rng.integers(0, spec.sizes[-1], batch)
if blas == "numpy":
    trainer = Trainer(MLP.initialise(spec), TrainSettings(lr=0.01, momentum=momentum))
    limited = threadpool_limits(limits=threads, user_api="blas")
else:  # the step's BLAS gets the threads, numpy's idle one is held to one (run/timing.py)
    from jacchain.run.timing import blas_threads
    trainer = Trainer(MLP.initialise(spec), TrainSettings(lr=0.01, momentum=momentum, blas=blas))
    limited = blas_threads(threads, trainer.blas.library())
with limited:
    for _ in range(5):
        trainer.step(X, y)
    samples = []
    for _ in range(steps):
        start = time.perf_counter()
        trainer.step(X, y)
        samples.append(time.perf_counter() - start)
samples.sort()
import jacchain
print(json.dumps([samples[len(samples) // 2], jacchain.__file__]))
"""


def side(root: Path, args: argparse.Namespace) -> float:
    """The median step of one fresh process that imports jacchain from `root` (checked)."""
    command = [
        sys.executable,
        "-c",
        WORKER,
        args.sizes,
        str(args.batch),
        args.dtype,
        str(args.threads),
        str(args.steps),
        args.blas,
        str(args.momentum),
    ]
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}
    output = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=True).stdout
    seconds, imported = json.loads(output)
    if not Path(imported).resolve().is_relative_to(root.resolve()):
        raise SystemExit(f"the worker for {root} imported jacchain from {imported}")
    return float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default="HEAD", help="git revision to compare with [default: HEAD]")
    parser.add_argument("--sizes", default="784,512,256,10")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--blas", default="numpy", choices=("numpy", "mkl"), help="the step's BLAS")
    parser.add_argument(
        "--momentum", type=momentum_option, default=DEFAULT_MOMENTUM, help="SGD's momentum (0: plain SGD)"
    )
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=100, help="timed steps per round (median taken)")
    parser.add_argument("--quick", action="store_true", help="a small network, one round (seconds; for CI)")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.batch, args.rounds, args.steps = "64,32,8", 16, 1, 10
    here = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as folder:
        other = Path(folder) / "other"
        subprocess.run(
            ["git", "-C", str(here), "worktree", "add", "--detach", str(other), args.against],
            check=True,
            capture_output=True,
        )
        try:
            times: dict[str, list[float]] = {"this tree": [], args.against: []}
            for _ in range(args.rounds):
                times["this tree"].append(side(here, args))
                times[args.against].append(side(other, args))
        finally:
            subprocess.run(["git", "-C", str(here), "worktree", "remove", "--force", str(other)], check=True)
    print(
        f"{args.sizes}, batch {args.batch}, {args.dtype}, {args.threads} BLAS thread(s) on {args.blas}'s BLAS, "
        f"momentum {args.momentum:g}; "
        f"{args.rounds} alternating rounds, each the median of {args.steps} steps in a fresh process"
    )
    for name, samples in times.items():
        print(
            f"  {name:<12} median {statistics.median(samples) * 1e3:.3f} ms "
            f"(min {min(samples) * 1e3:.3f}, max {max(samples) * 1e3:.3f})"
        )
    ratio = statistics.median(times["this tree"]) / statistics.median(times[args.against])
    print(f"  this tree / {args.against}: {ratio:.3f}x")


if __name__ == "__main__":
    main()
