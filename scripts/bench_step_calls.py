"""Where one training step's time goes, call by call: jacchain's own step (`Trainer.step`,
unchanged) with its BLAS, its activations, its loss and its update wrapped in timers.

Each call of the step is timed as it runs in the step (not repeated alone, as
bench_step_products.py's `warm` column is), and so is the time between two timed calls: the
bias adds, which are inline numpy in the layer's forward, and the interpreter's own work.
The step is deterministic, so the k-th call of one step is the k-th of the next: each line is
a median over `--repetitions` steps, with its share of the median step, then the lines summed by
kind. The wrapped and the plain step are both printed, so what the timers add shows (a few
microseconds a call, most of it in the lines between calls).

    python scripts/bench_step_calls.py [--sizes 784,512,256,10:128] [--dtype float32] [--threads 2]
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from bench_step_products import describe, one_step_options
from bench_train import jacchain_trainer, median_step

from jacchain.model.network import MLP
from jacchain.run.timing import blas_threads

Event = tuple[str, str, float, float]  # kind, label, start, end


class Clock:
    """The events of the step being timed, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.labelling = True  # labels are made in the first step only (they cost microseconds)

    def timed(self, kind: str, label: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        result = call(*args, **kwargs)
        self.events.append((kind, label, start, time.perf_counter()))
        return result


class Timed:
    """A stand-in for one of the step's objects: what it does not time, the object does."""

    def __init__(self, inner: Any, clock: Clock) -> None:
        self._inner, self._clock = inner, clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class TimedBlas(Timed):
    """The step's BLAS, each product timed."""

    def matmul(self, a, b, out):
        label = f"product {describe(a)} x {describe(b)}" if self._clock.labelling else ""
        return self._clock.timed("products", label, self._inner.matmul, a, b, out)

    def gemm(self, a, b, c, beta=0.0):
        label = ""
        if self._clock.labelling:
            label = f"product {describe(a)} x {describe(b)}" + (f", beta {beta:g}" if beta else "")
        return self._clock.timed("products", label, self._inner.gemm, a, b, c, beta)


class TimedActivation(Timed):
    """One layer's activation, its forward and its VJP timed."""

    def value_into(self, a, out):
        label = f"{self._inner.name} {a.shape[0]}x{a.shape[1]}" if self._clock.labelling else ""
        return self._clock.timed("activations", label, self._inner.value_into, a, out)

    def vjp_into(self, a, z, v, out):
        label = f"{self._inner.name} VJP {a.shape[0]}x{a.shape[1]}" if self._clock.labelling else ""
        return self._clock.timed("activations", label, self._inner.vjp_into, a, z, v, out)


class TimedLoss(Timed):
    def value_and_gradient(self, z, y):
        label = f"loss {z.shape[0]}x{z.shape[1]}" if self._clock.labelling else ""
        return self._clock.timed("loss", label, self._inner.value_and_gradient, z, y)


def timed_network(network: MLP, clock: Clock) -> MLP:
    """The same network (its weights and biases the trainer's views), its activations and
    loss timed (the wrappers made once, as the network caches its own)."""
    activations = [TimedActivation(activation, clock) for activation in network.activations]
    loss = TimedLoss(network.loss, clock)

    class TimedMLP(MLP):
        @property
        def activations(self):
            return activations

        @property
        def loss(self):
            return loss

    return TimedMLP(network.spec, network.weights, network.biases)


def step_events(step: Callable[[], None], clock: Clock) -> list[tuple[str, str, float]]:
    """One step's calls and the gaps between them, as (kind, label, seconds)."""
    clock.events.clear()
    start = time.perf_counter()
    step()
    end = time.perf_counter()
    lines, previous_end, previous = [], start, "the step's start"
    for kind, label, begin, finish in [*clock.events, ("", "the step's end", end, end)]:
        between = f"between {previous} and {label}" if clock.labelling else ""
        lines.append(("between", between, begin - previous_end))
        if kind:
            lines.append((kind, label, finish - begin))
        previous_end, previous = finish, label
    return lines


def main() -> None:
    args, widths, sizes, batch = one_step_options(__doc__.splitlines()[0])
    trainer, X, y = jacchain_trainer(sizes, batch, args.dtype)
    plain_network, plain_blas, clock = trainer.network, trainer.blas, Clock()
    with blas_threads(args.threads):
        plain = median_step(lambda: trainer.step(X, y), args.repetitions)
        trainer.network, trainer.blas = timed_network(plain_network, clock), TimedBlas(plain_blas, clock)
        original_update = trainer.update
        trainer.update = lambda *a, **k: clock.timed("update", "update", original_update, *a, **k)  # type: ignore[method-assign]
        labelled = step_events(lambda: trainer.step(X, y), clock)
        clock.labelling = False
        for _ in range(5):
            step_events(lambda: trainer.step(X, y), clock)
        steps = [step_events(lambda: trainer.step(X, y), clock) for _ in range(args.repetitions)]
    totals = [sum(seconds for _, _, seconds in lines) for lines in steps]
    step = statistics.median(totals)
    print(f"{widths}, batch {batch}, {args.dtype}, {args.threads} BLAS thread(s); medians of {args.repetitions} steps")
    print(f"  the step: {plain * 1e6:.0f} us plain, {step * 1e6:.0f} us with the timers")
    kinds: dict[str, float] = {}
    for index, (kind, label, _) in enumerate(labelled):
        seconds = statistics.median(lines[index][2] for lines in steps)
        kinds[kind] = kinds.get(kind, 0.0) + seconds
        if kind != "between" or seconds > 0.01 * step:  # the interpreter's few microseconds left out
            print(f"  {label[:72]:<72} {seconds * 1e6:9.1f} us {seconds / step:6.1%}")
    print("  by kind (the medians summed; 'between' is the bias adds and the interpreter):")
    for kind, seconds in sorted(kinds.items(), key=lambda item: -item[1]):
        print(f"    {kind:<12} {seconds * 1e6:9.1f} us {seconds / step:6.1%}")


if __name__ == "__main__":
    main()
