"""One training step of the same MLP in jacchain, PyTorch eager and JAX `jit`, beside the step's
GEMM floor, each side measured in a process of its own.

Same widths, batch, dtype, loss (cross-entropy), optimiser (SGD, momentum 0.9 unless
`--momentum` says otherwise; 0 is plain SGD, jacchain's and PyTorch's default) and thread
count, set through each library's own control. Each side runs in a process of its own, kept for
the size: it builds its step and warms it up, then waits, and the sides take turns, round by
round, each making one burst in its turn (a few untimed steps, then `--steps` timed ones; the
figure of a burst is its median step), with a pause before each burst long enough for the other
processes' idle BLAS and OpenMP threads to stop spinning. A round takes a few seconds where a
fresh process per side and round (this script until the twelfth day) took fifteen, so
three times the rounds fit in the same time: on this shared host, whose speed moves by up to 2x
from one second to the next (the floor's bursts at 784,512,256,10 b128 took 1.8-3.3 ms within
20 s), only the medians of many rounds settle. Per side: min / median / max over rounds, and
the ratio of medians to jacchain. Under each size, the ratios the issue sets targets on and
those that show where the step's time goes: the ratio of medians, and beside it the same two
sides compared within each round (median and range of the per-round ratios). Last, jacchain
against the GEMM floor alternated within one process (both on numpy's one BLAS, so no thread
pools fight), one pair a round.

The GEMM floor is the summed median time of the step's own dense products (forward, weight
gradient, input gradient), each run alone with `np.matmul(..., out=...)` on numpy's BLAS; the
MKL floor the same products on MKL, each bound once (`Blas.bind_gemm`) as the step binds its
own. `jacchain mkl` is jacchain's step with `--blas mkl`. `step's products` is jacchain's step
with everything but its products taken out: the product calls of the program the step runs
(its own operands, layouts and momentum fold), in order.
No step with those products runs faster, so it bounds what removing the rest can gain.
With momentum, `floor + sweep` is the floor plus the one pass over the parameters that momentum
cannot fold into a product (p -= lr v), timed alone in the floor's process: no goal reads it.

PyTorch, JAX and MKL are optional: a side that is not installed is reported as such.

    python scripts/bench_train.py [--sizes 784,512,256,10:128 ...] [--rounds 15] [--threads 2] [--momentum 0.9]
    python scripts/bench_train.py --quick      # seconds: one small size, one round
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:  # only for the checker: a peer's worker never imports jacchain (nor numpy's BLAS)
    from jacchain.types import Dtype

DEFAULT_SIZES = ("64,128,64,10:32", "784,512,256,10:128", "2048,2048,10:256")
DEFAULT_MOMENTUM = 0.9  # the harder case for the step: a velocity to read and write besides the weights
# In turn order: the sides a target compares next to each other, so that they meet the host
# within a second of each other.
SIDES = ("jacchain", "gemm floor", "pytorch eager", "step's products", "jax jit", "jacchain mkl", "mkl floor")
HERE = Path(__file__).resolve()
WARM_UP = 5  # untimed steps before a burst's timed ones (and before the worker says it is ready)
# Before each burst: longer than any other side's idle threads keep a core. After a burst at
# 784,512,256,10 b128 the worker took 0.12 s of CPU time in the next 0.25 s on numpy's
# OpenBLAS, 0.20 s on MKL, 0.01 s on PyTorch, none on JAX; none in the second after.
SETTLE = 0.3
# How long a worker may take to answer (to be ready, or to finish a burst) before it is
# stopped and reported: a worker that hangs (a peer's compiler, a lost line) must not hold the
# run, or CI's quick run, forever. A full-size burst takes seconds, JAX's first compile tens.
PATIENCE = 300.0
Burst = Callable[[], dict]
HELD = contextlib.ExitStack()  # a worker's thread limits, held for the life of its process


def data(sizes: list[int], batch: int, dtype: Dtype):
    import numpy as np

    rng = np.random.default_rng(0)
    return rng.standard_normal((batch, sizes[0])).astype(dtype), rng.integers(0, sizes[-1], batch)


def median_step(step, steps: int) -> float:
    for _ in range(WARM_UP):
        step()
    samples = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def jacchain_trainer(
    sizes: list[int], batch: int, dtype: Dtype, momentum: float = DEFAULT_MOMENTUM, blas: str = "numpy"
):
    """jacchain's trainer for the benchmark's network (SGD with `momentum`) and its data."""
    from jacchain.model.network import MLP
    from jacchain.model.spec import make_spec
    from jacchain.training.settings import TrainSettings
    from jacchain.training.trainer import Trainer

    spec = make_spec(sizes, loss="cross_entropy", dtype=dtype)
    settings = TrainSettings(lr=0.01, momentum=momentum, blas=blas)
    return Trainer(MLP.initialise(spec), settings), *data(sizes, batch, dtype)


def jacchain_side(
    sizes: list[int], batch: int, dtype: Dtype, threads: int, steps: int, momentum: float, blas: str = "numpy"
) -> Burst:
    from jacchain.run.timing import blas_threads
    from jacchain.training.step_cost import step_flops

    trainer, X, y = jacchain_trainer(sizes, batch, dtype, momentum, blas)
    HELD.enter_context(blas_threads(threads, trainer.blas.library()))  # the other BLAS held to one thread
    flops = step_flops(trainer.network.spec, batch, "vjp", momentum, 0.0).total
    return lambda: {"seconds": median_step(lambda: trainer.step(X, y), steps), "flops": flops}


def step_products(trainer, X, y) -> tuple:
    """The BLAS products one real step of `trainer` makes, in order: the product calls of
    the program its step runs (training/program.py), with their own operands (buffers kept
    per batch size), layouts and momentum fold; and a function that runs them on the batch."""
    trainer.step(X, y)  # the program is made at the first step of a batch size
    program = trainer.step_program(X)
    calls = [call for call in program.calls if call.kind == "product"]
    return calls, lambda: program.run(calls, X, y)


def products_side(sizes: list[int], batch: int, dtype: Dtype, threads: int, steps: int, momentum: float) -> Burst:
    from jacchain.run.timing import blas_threads

    calls, replay = step_products(*jacchain_trainer(sizes, batch, dtype, momentum))
    HELD.enter_context(blas_threads(threads))
    return lambda: {"seconds": median_step(replay, steps), "products": len(calls)}


def torch_side(sizes: list[int], batch: int, dtype: Dtype, threads: int, steps: int, momentum: float) -> Burst:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    torch_dtype = getattr(torch, dtype)
    layers: list[torch.nn.Module] = []
    for n_in, n_out in itertools.pairwise(sizes):
        layers += [torch.nn.Linear(n_in, n_out, dtype=torch_dtype), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    optimiser = torch.optim.SGD(model.parameters(), lr=0.01, momentum=momentum)
    X, y = data(sizes, batch, dtype)
    inputs, targets = torch.from_numpy(X), torch.from_numpy(y)

    def step() -> None:
        optimiser.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(inputs), targets).backward()
        optimiser.step()

    return lambda: {"seconds": median_step(step, steps)}


def jax_side(sizes: list[int], batch: int, dtype: Dtype, threads: int, steps: int, momentum: float) -> Burst:
    import jax
    import jax.numpy as jnp

    key = jax.random.PRNGKey(0)
    params = []
    for n_in, n_out in itertools.pairwise(sizes):
        key, sub = jax.random.split(key)
        params.append((jax.random.normal(sub, (n_out, n_in), dtype) * (2.0 / n_in) ** 0.5, jnp.zeros(n_out, dtype)))
    # plain SGD keeps no velocity (an empty tree), as torch.optim.SGD and jacchain do
    velocity = jax.tree_util.tree_map(jnp.zeros_like, params) if momentum else ()
    X, y = data(sizes, batch, dtype)
    inputs, targets = jnp.asarray(X), jnp.asarray(y)

    def loss(params, inputs, targets):
        z = inputs
        for index, (weight, bias) in enumerate(params):
            z = z @ weight.T + bias
            if index < len(params) - 1:
                z = jax.nn.relu(z)
        logp = jax.nn.log_softmax(z)
        return -jnp.take_along_axis(logp, targets[:, None], axis=1).mean()

    @jax.jit
    def update(params, velocity, inputs, targets):
        grads = jax.grad(loss)(params, inputs, targets)
        if momentum:
            velocity = jax.tree_util.tree_map(lambda v, g: momentum * v + g, velocity, grads)
        params = jax.tree_util.tree_map(lambda p, d: p - 0.01 * d, params, velocity if momentum else grads)
        return params, velocity

    state = [params, velocity]

    def step() -> None:
        state[0], state[1] = update(state[0], state[1], inputs, targets)
        jax.block_until_ready(state[0])

    return lambda: {"seconds": median_step(step, steps)}


def floor_products(sizes: list[int], batch: int, dtype: Dtype, blas: str = "numpy") -> list:
    """Every dense product of one step, (m, k) x (k, n), as a call on fresh operands."""
    import numpy as np

    from jacchain.run.blas import backend

    library = backend(blas)  # loaded before any thread limit, so that the limit reaches it
    shapes = []
    for layer, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        shapes.append((batch, n_in, n_out))  # forward: z W^T
        shapes.append((n_out, batch, n_in))  # weight gradient: delta^T z
        if layer > 0:
            shapes.append((batch, n_out, n_in))  # input gradient: delta W
    calls = []
    for m, k, n in shapes:
        left, right = np.full((m, k), 0.5, dtype=dtype), np.full((k, n), 0.5, dtype=dtype)
        out = np.empty((m, n), dtype=dtype)
        # numpy's matmul, as the issue defines the floor; on MKL each product bound once, as
        # the step binds its own (a ctypes call checked and converted each time costs 10-20 us)
        calls.append(
            functools.partial(np.matmul, left, right, out=out)
            if blas == "numpy"
            else library.bind_gemm(left, right, out)
        )
    return calls


def floor_seconds(products: list, steps: int) -> float:
    """The GEMM floor: the summed median time of the step's products, each repeated alone."""
    return sum(median_step(product, steps) for product in products)


def momentum_sweep(sizes: list[int], dtype: Dtype) -> Callable[[], None]:
    """The one pass over every parameter that SGD with momentum cannot fold into a product,
    p -= lr v (the velocity's own update can ride in the weight gradient's gemm, beta the
    momentum), bound on numpy's BLAS as the trainer binds its update."""
    import numpy as np

    from jacchain.model.spec import make_spec
    from jacchain.run.blas import backend

    count = make_spec(sizes).n_params
    params, velocity = np.full(count, 0.5, dtype=dtype), np.full(count, 1e-3, dtype=dtype)
    return backend("numpy").bind_axpy(-0.01, velocity, params)


def floor_side(
    sizes: list[int], batch: int, dtype: Dtype, threads: int, steps: int, momentum: float, blas: str = "numpy"
) -> Burst:
    """The floor's burst; on numpy's BLAS with momentum, beside it the sweep's median alone
    (`momentum_sweep`), which the floor itself leaves out, as the issue defines it."""
    from jacchain.run.blas import backend
    from jacchain.run.timing import blas_threads

    products = floor_products(sizes, batch, dtype, blas)
    sweep = momentum_sweep(sizes, dtype) if momentum and blas == "numpy" else None
    HELD.enter_context(blas_threads(threads, backend(blas).library()))  # the other BLAS held to one thread

    def burst() -> dict:
        seconds = floor_seconds(products, steps)
        return {"seconds": seconds, "sweep": median_step(sweep, steps) if sweep else 0.0}

    return burst


def paired_side(sizes: list[int], batch: int, dtype: Dtype, threads: int, steps: int, momentum: float) -> Burst:
    """jacchain's step against the GEMM floor in one process, one after the other in each
    burst: both on numpy's one BLAS (no second thread pool), the pair measured within a
    fraction of a second."""
    from jacchain.run.timing import blas_threads

    trainer, X, y = jacchain_trainer(sizes, batch, dtype, momentum)
    products = floor_products(sizes, batch, dtype)
    HELD.enter_context(blas_threads(threads))

    def burst() -> dict:
        step = median_step(lambda: trainer.step(X, y), steps)
        return {"ratio": step / floor_seconds(products, steps)}

    return burst


WORKERS: dict[str, Callable[..., Burst]] = {
    "jacchain": jacchain_side,
    "jacchain mkl": functools.partial(jacchain_side, blas="mkl"),
    "pytorch eager": torch_side,
    "jax jit": jax_side,
    "step's products": products_side,
    "gemm floor": floor_side,
    "mkl floor": functools.partial(floor_side, blas="mkl"),
    "paired": paired_side,
}
# With momentum, the GEMM floor's bursts plus the median of the one sweep over the parameters
# that momentum adds (p -= lr v), each burst's sum: the least a step with momentum can take on
# these products. Printed beside the floor, but no goal reads it (the issue set the floor).
SWEPT = "floor + sweep"
# The ratios printed under each size, (side, against): those the issue sets targets on, and
# where the step's time goes (the step against its products alone, those against the floor).
TARGETS = (
    ("jacchain", "gemm floor"),
    ("jacchain", SWEPT),
    ("jacchain", "step's products"),
    ("step's products", "gemm floor"),
    ("jacchain", "pytorch eager"),
    ("jacchain mkl", "gemm floor"),
    ("jacchain mkl", "mkl floor"),
    ("jacchain mkl", "pytorch eager"),
)

# The targets, per size: (side, against, at most), each as a ratio of medians of
# sides measured in processes of their own.
GOALS = {
    "64,128,64,10:32": (("jacchain", "pytorch eager", 0.6),),
    "784,512,256,10:128": (("jacchain", "gemm floor", 1.25), ("jacchain", "pytorch eager", 1.0)),
    "2048,2048,10:256": (("jacchain", "gemm floor", 1.15),),
}


def goal_lines(size: str, medians: dict[str, float]) -> list[str]:
    """One line per target this size has: met or missed, with the ratio; or why not judged.

    >>> goal_lines("2048,2048,10:256", {"jacchain": 1.2, "gemm floor": 1.0})
    ['  goal: jacchain / gemm floor at most 1.15x: missed (1.20x)']
    >>> goal_lines("64,128,64,10:32", {"jacchain": 1.0})
    ['  goal: jacchain / pytorch eager at most 0.60x: not judged (pytorch eager not measured)']
    """
    lines = []
    for side, against, limit in GOALS.get(size, ()):
        label = f"  goal: {side} / {against} at most {limit:.2f}x"
        if side not in medians or against not in medians:
            absent = side if side not in medians else against
            lines.append(f"{label}: not judged ({absent} not measured)")
            continue
        ratio = medians[side] / medians[against]
        lines.append(f"{label}: {'met' if ratio <= limit else 'missed'} ({shown(ratio, limit)}x)")
    return lines


def shown(ratio: float, limit: float) -> str:
    """The ratio to two decimals, or to as many more as it takes to tell it from the limit.

    >>> shown(1.1512, 1.15), shown(1.1498, 1.15), shown(1.2, 1.15), shown(1.15, 1.15)
    ('1.151', '1.1498', '1.20', '1.15')
    """
    digits = 2
    while ratio != limit and f"{ratio:.{digits}f}" == f"{limit:.{digits}f}" and digits < 6:
        digits += 1
    return f"{ratio:.{digits}f}"


def environment(side: str, threads: int) -> dict[str, str]:
    """Each side's thread count through its own control; the other pools held to one thread."""
    env = {key: value for key, value in os.environ.items() if not key.endswith("_NUM_THREADS")}
    if side in ("jacchain mkl", "mkl floor"):
        env.update(OPENBLAS_NUM_THREADS="1")  # numpy's pool stays idle beside MKL's
    elif side == "pytorch eager":
        env.update(OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS="1")
    elif side == "jax jit":
        eigen = "true" if threads > 1 else "false"
        flags = f"--xla_cpu_multi_thread_eigen={eigen} intra_op_parallelism_threads={threads}"
        env.update(XLA_FLAGS=flags, OPENBLAS_NUM_THREADS="1", JAX_PLATFORMS="cpu")
    return env


def available(side: str) -> bool:
    if side in ("jacchain mkl", "mkl floor"):
        from jacchain.run.blas import mkl_path

        return mkl_path() is not None
    module = {"pytorch eager": "torch", "jax jit": "jax"}.get(side)
    if module is None:
        return True
    from importlib.util import find_spec

    return find_spec(module) is not None


class Worker:
    """A process kept for a measurement, named `name`: it builds and warms up what it times,
    says it is ready (a JSON line), then makes one burst and answers with a JSON line each
    time it is asked; one that takes more than `patience` seconds to answer is stopped. Its
    stderr goes to `errors`, a file rather than a pipe, which a chatty peer could fill and
    block on."""

    def __init__(
        self,
        name: str,
        command: list[str],
        env: dict[str, str],
        errors: IO[str],
        cwd: Path | None = None,
        patience: float = PATIENCE,
    ) -> None:
        self.name, self._errors, self._patience = name, errors, patience
        self.ready_answer: dict = {}
        self._process = subprocess.Popen(
            command, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True
        )

    def ready(self) -> None:
        self.ready_answer = self._answer()  # what the worker said when ready

    def burst(self) -> dict:
        assert self._process.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # a worker already gone: its answer says why
            self._process.stdin.write("burst\n")
            self._process.stdin.flush()
        return self._answer()

    def close(self) -> None:
        """Its input closed, which ends a worker's loop; one still running after `patience`
        seconds (hung, or not yet ready when another worker failed) is stopped."""
        if self._process.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self._process.stdin.close()
        try:
            self._process.wait(timeout=self._patience)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def _answer(self) -> dict:
        assert self._process.stdout is not None
        stopped = threading.Event()

        def stop() -> None:
            stopped.set()
            self._process.kill()

        watch = threading.Timer(self._patience, stop)
        watch.start()
        try:
            line = self._process.stdout.readline()
        finally:
            watch.cancel()
        if not line:
            self._process.wait()
            self._errors.seek(0)
            why = f" (no answer within {self._patience:g} s: stopped)" if stopped.is_set() else ""
            raise SystemExit(f"{self.name} failed{why}:\n{self._errors.read()}")
        return json.loads(line)


@contextlib.contextmanager
def workers(
    made: Sequence[tuple[str, list[str], dict[str, str], Path | None]], patience: float = PATIENCE
) -> Iterator[list[Worker]]:
    """The processes for (name, command, environment, folder), started at once (their setup is
    not timed), each ready before this yields, and each closed after."""
    with contextlib.ExitStack() as stack:
        started = []
        for name, command, env, cwd in made:
            errors = stack.enter_context(tempfile.TemporaryFile("w+"))
            started.append(Worker(name, command, env, errors, cwd, patience))
            stack.callback(started[-1].close)
        for worker in started:
            worker.ready()
        yield started


def take_turns(kept: list[Worker], rounds: int, settle: float = SETTLE) -> dict[str, list[dict]]:
    """Each worker's bursts, round by round, each after a pause of `settle` seconds; each round
    starts one worker further along the list, so that none always follows another.

    >>> class Told:  # a stand-in for a Worker: answers with the turn it was given
    ...     turns = 0
    ...     def __init__(self, name): self.name = name
    ...     def burst(self):
    ...         Told.turns += 1
    ...         return {"turn": Told.turns}
    >>> kept = [Told("a"), Told("b"), Told("c")]
    >>> {name: [burst["turn"] for burst in bursts] for name, bursts in take_turns(kept, 4, 0).items()}
    {'a': [1, 6, 8, 10], 'b': [2, 4, 9, 11], 'c': [3, 5, 7, 12]}
    """
    results: dict[str, list[dict]] = {worker.name: [] for worker in kept}
    for round_index in range(rounds):
        shift = round_index % len(kept)
        for worker in kept[shift:] + kept[:shift]:
            time.sleep(settle)
            results[worker.name].append(worker.burst())
    return results


def serve(burst: Burst, ready: dict | None = None) -> None:
    """A worker's life: one burst to warm up (compiling, where the side compiles), ready
    (saying `ready`, which the caller reads as the worker's `ready_answer`), then a burst per
    line read until its input closes."""
    burst()
    print(json.dumps(ready or {"ready": True}), flush=True)
    for _ in sys.stdin:
        print(json.dumps(burst()), flush=True)


def measure(sides: list[str], widths: str, batch: int, args: argparse.Namespace) -> dict[str, list[dict]]:
    """Every side's bursts at one size, each side in a process of its own (`take_turns`)."""
    settings = ["--dtype", args.dtype, "--threads", str(args.threads), "--steps", str(args.steps)]
    settings += ["--momentum", str(args.momentum), "--sizes", f"{widths}:{batch}"]
    made = [
        (side, [sys.executable, str(HERE), "--worker", side, *settings], environment(side, args.threads), None)
        for side in sides
    ]
    with workers(made) as kept:
        return take_turns(kept, args.rounds)


def paired_ratios(mine: list[float], theirs: list[float], digits: int) -> tuple[float, str]:
    """Two sides' bursts taken in turn: the ratio of their medians, and the ratio round by
    round as text (its median and range), which a host that drifts between rounds moves less.

    >>> paired_ratios([2.0, 3.0, 4.0], [1.0, 2.0, 2.0], 2)
    (1.5, 'median 2.00x, 1.50-2.00x')
    """
    per_round = [mine_s / theirs_s for mine_s, theirs_s in zip(mine, theirs, strict=True)]
    summary = (min(per_round), statistics.median(per_round), max(per_round))
    low, middle, high = (f"{value:.{digits}f}" for value in summary)
    spread = f"median {middle}x, {low}-{high}x"
    return statistics.median(mine) / statistics.median(theirs), spread


def momentum_option(text: str) -> float:
    """`--momentum`, held to the rule `jacchain train` holds it to.

    >>> momentum_option("0")
    0.0
    >>> momentum_option("1")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: momentum must be a number in [0, 1), got 1.0
    """
    from jacchain.errors import JacchainError
    from jacchain.model.validate import TRAIN_RULES

    try:
        return float(TRAIN_RULES["momentum"].check(float(text), "momentum"))
    except (ValueError, JacchainError) as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_size(text: str) -> tuple[str, list[int], int]:
    widths, _, batch = text.partition(":")
    return widths, [int(width) for width in widths.split(",")], int(batch or 128)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=list(DEFAULT_SIZES), help="WIDTHS:BATCH, e.g. 784,512,256,10:128")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=15, help="bursts per side, taking turns")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per burst (their median is the burst's)")
    parser.add_argument("--momentum", type=momentum_option, default=DEFAULT_MOMENTUM, help="0 for plain SGD")
    parser.add_argument("--quick", action="store_true", help="one small size, one round, few steps (for CI)")
    parser.add_argument("--worker", choices=list(WORKERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _, layers, batch = parse_size(args.sizes[0])
        serve(WORKERS[args.worker](layers, batch, args.dtype, args.threads, args.steps, args.momentum))
        return
    if args.quick:
        args.sizes, args.rounds, args.steps = [DEFAULT_SIZES[0]], 1, 10
    sides = [side for side in SIDES if available(side)]
    missing = [side for side in SIDES if side not in sides]
    print(
        f"{args.dtype}, {args.threads} thread(s) per side; each side in a process of its own, {args.rounds} "
        f"round(s) of one burst per side, each burst the median of {args.steps} steps; cross-entropy, "
        + (f"SGD with momentum {args.momentum:g}" if args.momentum else "plain SGD")
    )
    for text in args.sizes:
        widths, _, batch = parse_size(text)
        results = measure([*sides, "paired"], widths, batch, args)
        in_one_process = [result["ratio"] for result in results.pop("paired")]
        times = {side: [result["seconds"] for result in bursts] for side, bursts in results.items()}
        if args.momentum:  # the floor with the one sweep momentum adds (not one of the sides)
            times[SWEPT] = [result["seconds"] + result["sweep"] for result in results["gemm floor"]]
        flops = results["jacchain"][0]["flops"]
        reference = statistics.median(times["jacchain"])
        print(f"\n{widths}, batch {batch}: {flops:,} FLOPs per step (jacchain's count)")
        for side in [*sides, SWEPT] if SWEPT in times else sides:
            median = statistics.median(times[side])
            print(
                f"  {side:<16} {median * 1e3:9.3f} ms  (min {min(times[side]) * 1e3:.3f}, "
                f"max {max(times[side]) * 1e3:.3f})  jacchain / this: {reference / median:5.2f}x"
            )
        for side, against in TARGETS:
            if side in times and against in times:
                ratio, spread = paired_ratios(times[side], times[against], 2)
                print(f"  {side + ' / ' + against:<36} {ratio:5.2f}x  (round by round: {spread})")
        print(
            f"  {'jacchain / gemm floor, one process':<36} {statistics.median(in_one_process):5.2f}x  (one pair "
            f"a round: median of the rounds, {min(in_one_process):.2f}-{max(in_one_process):.2f}x)"
        )
        medians = {side: statistics.median(values) for side, values in times.items()}
        for line in goal_lines(f"{widths}:{batch}", medians):
            print(line)
        if args.momentum != DEFAULT_MOMENTUM and f"{widths}:{batch}" in GOALS:
            print(f"  (the issue set these goals on SGD with momentum {DEFAULT_MOMENTUM:g}, the script's default)")
    hints = {"pytorch eager": "pip install torch==2.13.0", "jax jit": "pip install jax"}
    for side in missing:
        print(f"  {side}: not installed ({hints.get(side, 'pip install mkl')})")


if __name__ == "__main__":
    main()
