"""jacchain's training step in this working tree against the same step at another git
revision, each side in a process of its own kept for the run, the two taking turns burst by
burst (bench_train.py's `take_turns`: a pause before each burst for the other's idle BLAS
threads to stop spinning, the order swapped every round); prints min / median / max per side,
the ratio of medians, and the ratio round by round. Guards "the training step must not get
slower" across refactorings.

    python scripts/bench_step_revisions.py --against HEAD~3 [--sizes 784,512,256,10] [--batch 128]
    python scripts/bench_step_revisions.py --blas mkl     # the step on MKL (revisions that have it)
    python scripts/bench_step_revisions.py --momentum 0   # plain SGD (momentum 0.9 by default)
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_train import DEFAULT_MOMENTUM, momentum_option, paired_ratios, take_turns, workers

# Runs inside each side's process: imports whichever layout that revision has, and the burst
# and the worker's loop from this tree's bench_train (which imports no jacchain).
WORKER = r"""
import sys
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
sys.path.insert(0, sys.argv[8])
from bench_train import median_step, serve
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
import jacchain
with limited:
    serve(lambda: {"seconds": median_step(lambda: trainer.step(X, y), steps)}, {"imported": jacchain.__file__})
"""


def command(args: argparse.Namespace) -> list[str]:
    """The worker's command line: it imports jacchain from the folder it runs in."""
    settings = [args.sizes, str(args.batch), args.dtype, str(args.threads), str(args.steps), args.blas]
    return [sys.executable, "-c", WORKER, *settings, str(args.momentum), str(Path(__file__).resolve().parent)]


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
    # The same tree against itself, 20 rounds: 1.006, 1.003, 1.068, 1.004, 0.934 and 0.986x by
    # the ratio of medians; 60 rounds (under a minute at 784): 1.003, 0.979 and 1.011x, and
    # 1.001, 0.993 and 1.001x by the median of the rounds' ratios.
    parser.add_argument("--rounds", type=int, default=60, help="bursts per side, taking turns")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per burst (their median is the burst's)")
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
            trees = {"this tree": here, args.against: other}
            made = [
                (name, command(args), {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, root)
                for name, root in trees.items()
            ]
            with workers(made) as kept:
                for worker, root in zip(kept, trees.values()):
                    imported = Path(worker.ready_answer["imported"]).resolve()
                    if not imported.is_relative_to(root.resolve()):
                        raise SystemExit(f"the worker for {root} imported jacchain from {imported}")
                results = take_turns(kept, args.rounds)
        finally:
            subprocess.run(["git", "-C", str(here), "worktree", "remove", "--force", str(other)], check=True)
    print(
        f"{args.sizes}, batch {args.batch}, {args.dtype}, {args.threads} BLAS thread(s) on {args.blas}'s BLAS, "
        f"momentum {args.momentum:g}; "
        f"{args.rounds} round(s) of one burst a side, each the median of {args.steps} steps, each side in a process "
        "of its own"
    )
    times = {name: [burst["seconds"] for burst in bursts] for name, bursts in results.items()}
    for name, samples in times.items():
        print(
            f"  {name:<12} median {statistics.median(samples) * 1e3:.3f} ms "
            f"(min {min(samples) * 1e3:.3f}, max {max(samples) * 1e3:.3f})"
        )
    ratio, spread = paired_ratios(times["this tree"], times[args.against], 3)
    print(f"  this tree / {args.against}: {ratio:.3f}x  (round by round: {spread})")


if __name__ == "__main__":
    main()
