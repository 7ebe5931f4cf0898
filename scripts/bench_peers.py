"""dl/dx for the same network and point by jacchain's orders, torch.func and JAX, each library
measured in a process of its own.

jacchain is timed two ways: the chain product alone (what `analyze` reports) and building the
explicit Jacobians plus the product (what `jacrev` / `jacfwd` do from scratch, forward pass
included). PyTorch (`torch.func.jacrev` / `jacfwd`) and JAX (`jax.jacrev` / `jacfwd` under
`jit`) are optional. Same network, point, dtype and thread count (each set through the
library's own control); each library's process is kept for the run and the libraries take
turns, one burst each a round (bench_train.py's `take_turns`: a pause before each burst for
the others' idle threads to stop spinning, each round starting one library further along);
every result is checked against jacchain's loss-first value. Prints min / median / max over
rounds and the ratio of medians to jacchain's loss-first from scratch.

    python scripts/bench_peers.py [SPEC] [--threads 2] [--repeats 50] [--rounds 10]
    python scripts/bench_peers.py --quick      # seconds: a small network, one round
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

from bench_train import HELD, Burst, serve, take_turns, workers
from bench_train import available as train_available
from bench_train import environment as train_environment

HERE = Path(__file__).resolve()
SIDES = ("jacchain", "torch.func", "jax")


def point(spec_text: str):  # the network's weights, the point x and the target y, as numpy arrays
    from jacchain.model.config import load_network
    from jacchain.model.network import network_at_point

    spec = load_network(spec_text)
    network, x, y = network_at_point(spec)
    return spec, network, x, y


def jacchain_side(spec_text: str, threads: int, repeats: int) -> Burst:
    import numpy as np

    from jacchain.chain.factors import build_chain
    from jacchain.planners.orders import ORDERS
    from jacchain.run.execute import compile_plan
    from jacchain.run.jacobians import build_factors
    from jacchain.run.timing import blas_threads, time_call

    spec, network, x, y = point(spec_text)
    chain = build_chain(spec)
    HELD.enter_context(blas_threads(threads))

    def build() -> list:
        return build_factors(chain, network, network.forward(x), y)

    def from_scratch(plan):  # the forward pass and the Jacobians built, then the chain
        return compile_plan(plan, build())()

    arrays, orders = build(), {}
    for name in ORDERS:
        plan = ORDERS.get(name).build(chain, None)
        run = compile_plan(plan, arrays)
        result = run()[0]
        assert isinstance(result, np.ndarray)  # dl/dx: a dense row, never a Kronecker factor
        orders[f"jacchain {name}"] = (plan, run, result.ravel().tolist())

    def burst() -> dict:
        return {
            name: {
                "chain_only": time_call(run, repeats=repeats).median,
                "seconds": time_call(functools.partial(from_scratch, plan), repeats=repeats).median,
                "value": value,
            }
            for name, (plan, run, value) in orders.items()
        }

    return burst


def torch_side(spec_text: str, threads: int, repeats: int) -> Burst:
    import torch
    from torch.func import jacfwd, jacrev

    from jacchain.run.timing import time_call

    torch.set_num_threads(threads)
    spec, network, x, y = point(spec_text)
    activations = {
        "identity": lambda a: a,
        "relu": torch.relu,
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "gelu": lambda a: torch.nn.functional.gelu(a, approximate="tanh"),
        "softmax": lambda a: torch.softmax(a, -1),
    }
    weights = [torch.from_numpy(w) for w in network.weights]
    biases = [torch.from_numpy(b) for b in network.biases]
    target = torch.from_numpy(y)

    def loss(z):
        for weight, bias, name in zip(weights, biases, spec.activations):
            z = activations[name](weight @ z + bias)
        if spec.loss == "cross_entropy":
            return -torch.log_softmax(z, -1)[target]
        return torch.mean((z - target) ** 2)

    inputs = torch.from_numpy(x)
    methods = {}
    for name, transform in (("torch.func.jacrev", jacrev), ("torch.func.jacfwd", jacfwd)):
        jacobian = functools.partial(transform(loss), inputs)
        methods[name] = (jacobian, jacobian().numpy().ravel().tolist())

    def burst() -> dict:
        return {
            name: {"chain_only": None, "seconds": time_call(jacobian, repeats=repeats).median, "value": value}
            for name, (jacobian, value) in methods.items()
        }

    return burst


def jax_side(spec_text: str, threads: int, repeats: int) -> Burst:
    import jax
    import jax.numpy as jnp

    from jacchain.run.timing import time_call

    jax.config.update("jax_enable_x64", True)
    spec, network, x, y = point(spec_text)
    activations = {
        "identity": lambda a: a,
        "relu": jax.nn.relu,
        "tanh": jnp.tanh,
        "sigmoid": jax.nn.sigmoid,
        "gelu": lambda a: jax.nn.gelu(a, approximate=True),
        "softmax": lambda a: jax.nn.softmax(a, -1),
    }
    weights = [jnp.asarray(w) for w in network.weights]
    biases = [jnp.asarray(b) for b in network.biases]
    target = jnp.asarray(y)

    def loss(z):
        for weight, bias, name in zip(weights, biases, spec.activations):
            z = activations[name](weight @ z + bias)
        if spec.loss == "cross_entropy":
            return -jax.nn.log_softmax(z, -1)[target]
        return jnp.mean((z - target) ** 2)

    def blocked(jacobian):  # JAX dispatches asynchronously: time until the result is there
        return jax.block_until_ready(jacobian(inputs))

    inputs = jnp.asarray(x)
    methods = {}
    for name, transform in (("jax.jacrev (jit)", jax.jacrev), ("jax.jacfwd (jit)", jax.jacfwd)):
        jacobian = functools.partial(blocked, jax.jit(transform(loss)))
        methods[name] = (jacobian, [float(v) for v in jacobian().ravel()])

    def burst() -> dict:
        return {
            name: {"chain_only": None, "seconds": time_call(jacobian, repeats=repeats).median, "value": value}
            for name, (jacobian, value) in methods.items()
        }

    return burst


WORKERS: dict[str, Callable[[str, int, int], Burst]] = {
    "jacchain": jacchain_side,
    "torch.func": torch_side,
    "jax": jax_side,
}


# Each library's side as bench_train.py names it, so that one rule sets every side's threads
# and tells whether its library is installed.
TRAIN_SIDES = {"jacchain": "jacchain", "torch.func": "pytorch eager", "jax": "jax jit"}


def environment(side: str, threads: int) -> dict[str, str]:
    """Each side's thread count through its own control, as bench_train.py sets it; numpy's
    pool held to one thread in the peers' processes, where it only builds the network."""
    return train_environment(TRAIN_SIDES[side], threads)


def available(side: str) -> bool:
    """Whether the side's library is installed, as bench_train.py tells for its sides."""
    return train_available(TRAIN_SIDES[side])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", default="784,512,256,10")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=50, help="timed calls per round (their median is the round's)")
    parser.add_argument("--rounds", type=int, default=10, help="bursts per library, taking turns")
    parser.add_argument("--quick", action="store_true", help="a small network, one round, few repeats (for CI)")
    parser.add_argument("--worker", choices=SIDES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        serve(WORKERS[args.worker](args.spec, args.threads, args.repeats))
        return
    if args.quick:
        args.spec, args.repeats, args.rounds = "32,16,4", 3, 1
    sides = [side for side in SIDES if available(side)]
    seconds: dict[str, list[float]] = {}
    chain_only: dict[str, list[float]] = {}
    values: dict[str, list[float]] = {}
    settings = ["--threads", str(args.threads), "--repeats", str(args.repeats)]
    command = [sys.executable, str(HERE), args.spec, *settings, "--worker"]
    made = [(side, [*command, side], environment(side, args.threads), None) for side in sides]
    with workers(made) as kept:
        bursts = take_turns(kept, args.rounds)
    for rounds in bursts.values():
        for rows in rounds:
            for name, row in rows.items():
                seconds.setdefault(name, []).append(row["seconds"])
                if row["chain_only"] is not None:
                    chain_only.setdefault(name, []).append(row["chain_only"])
                values[name] = row["value"]
    reference = values["jacchain loss-first"]
    base = statistics.median(seconds["jacchain loss-first"])
    print(
        f"{args.spec}, dl/dx, {args.threads} thread(s) per side, each library in a process of its own; "
        f"{args.rounds} round(s) of one burst a library, each call's time the median of {args.repeats}"
    )
    print(
        f"  {'method':<24} {'chain only':>11} {'from scratch (min-max)':>30} {'/ loss-first':>12} {'max abs diff':>13}"
    )
    for name, samples in seconds.items():
        chain_text = f"{statistics.median(chain_only[name]) * 1e3:9.3f}ms" if name in chain_only else f"{'-':>11}"
        spread = f"{statistics.median(samples) * 1e3:.3f}ms ({min(samples) * 1e3:.3f}-{max(samples) * 1e3:.3f})"
        diff = max(abs(a - b) for a, b in zip(values[name], reference))
        print(f"  {name:<24} {chain_text} {spread:>30} {statistics.median(samples) / base:11.2f}x {diff:13.2e}")
    for side in SIDES:
        if side not in sides:
            hint = "pip install torch==2.13.0" if side == "torch.func" else "pip install jax"
            print(f"  {side}: not installed ({hint})")


if __name__ == "__main__":
    main()
