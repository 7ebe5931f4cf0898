"""Where one training step's time goes, call by call: jacchain's own step (the program
`Trainer.step` runs, training/program.py, then its update) with each call wrapped in a timer.

Each call of the step is timed as it runs in the step (not repeated alone, as
bench_step_products.py's `warm` column is), and so is the time between two timed calls: the
interpreter's own work and the timers'. The step is deterministic, so the k-th call of one
step is the k-th of the next: each line is a median over `--repetitions` steps, with its
share of the median step, then the lines summed by kind. The wrapped and the plain step are
both printed, so what the timers add shows (a few microseconds a call, most of it in the
lines between calls).

    python scripts/bench_step_calls.py [--sizes 784,512,256,10:128] [--dtype float32] [--threads 2]
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench_step_products import one_step_options
from bench_train import jacchain_trainer, median_step

from jacchain.run.timing import blas_threads

Event = tuple[str, str, float, float]  # kind, label, start, end


class Clock:
    """The events of the step being timed, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def timed(self, kind: str, label: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        result = call(*args, **kwargs)
        self.events.append((kind, label, start, time.perf_counter()))
        return result

    def wrapped(self, kind: str, label: str, call: Callable[[], Any]) -> Callable[[], Any]:
        return lambda: self.timed(kind, label, call)


def step_events(step: Callable[[], None], clock: Clock) -> list[tuple[str, str, float]]:
    """One step's calls and the gaps between them, as (kind, label, seconds)."""
    clock.events.clear()
    start = time.perf_counter()
    step()
    end = time.perf_counter()
    lines, previous_end, previous = [], start, "the step's start"
    for kind, label, begin, finish in [*clock.events, ("", "the step's end", end, end)]:
        between = f"between {previous} and {label}"
        lines.append(("between", between, begin - previous_end))
        if kind:
            lines.append((kind, label, finish - begin))
        previous_end, previous = finish, label
    return lines


def main() -> None:
    args, widths, sizes, batch = one_step_options(__doc__.splitlines()[0])
    trainer, X, y = jacchain_trainer(sizes, batch, args.dtype)
    clock = Clock()
    with blas_threads(args.threads):
        plain = median_step(lambda: trainer.step(X, y), args.repetitions)
        program, folded = trainer.step_program(X), bool(trainer.settings.momentum)
        calls = [dataclasses.replace(c, run=clock.wrapped(c.kind, c.label, c.run)) for c in program.calls]

        def timed_step() -> None:  # Trainer.step's vjp branch, its calls timed
            program.run(calls, X, y)
            clock.timed("update", "update", trainer.update, folded=folded)

        labelled = step_events(timed_step, clock)
        for _ in range(5):
            step_events(timed_step, clock)
        steps = [step_events(timed_step, clock) for _ in range(args.repetitions)]
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
    print("  by kind (the medians summed; 'between' is the interpreter and the timers):")
    for kind, seconds in sorted(kinds.items(), key=lambda item: -item[1]):
        print(f"    {kind:<12} {seconds * 1e6:9.1f} us {seconds / step:6.1%}")


if __name__ == "__main__":
    main()
