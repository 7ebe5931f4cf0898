"""The training loop: seeded mini-batches, SGD steps, divergence, held-out evaluation, and
the step's FLOPs counted once and held equal to the step-cost model."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from ..cost.memory import check_fits, default_limit
from ..errors import DivergedError
from ..model.network import MLP
from ..model.spec import NetworkSpec
from ..run.blas import backend
from ..run.timing import BlasInfo, Timing, blas_info, blas_threads
from ..types import Array, Progress
from .data import Dataset
from .gradcheck import GradCheck, grad_check
from .settings import TrainSettings
from .step_cost import EVAL_CHUNK, StepFlops, input_first_step_flops, step_flops, train_memory
from .trainer import FlopCounter, Trainer


@dataclass(frozen=True)
class TrainResult:
    spec: NetworkSpec
    settings: TrainSettings
    dataset: str
    n_train: int
    n_test: int
    steps: int
    epochs: float
    loss_history: tuple[float, ...]
    step_time: Timing
    train_loss: float
    train_accuracy: float | None
    test_loss: float
    test_accuracy: float | None
    flops: StepFlops
    input_first_flops: int
    grad_check: GradCheck | None = None
    blas: BlasInfo | None = None
    samples: int = 0  # samples seen over all steps (the last batch of an epoch may be smaller)
    train_seconds: float = 0.0  # the steps' summed time
    notes: tuple[str, ...] = ()

    @property
    def samples_per_s(self) -> float | None:
        """Samples seen over the steps' summed time (None when too quick to time)."""
        return self.samples / self.train_seconds if self.train_seconds > 0 else None


def evaluate(network: MLP, X: Array, y: Array, chunk: int = EVAL_CHUNK) -> tuple[float, float | None]:
    """Mean loss and (for classification) accuracy over a data set."""
    total, correct = 0.0, 0
    for start in range(0, X.shape[0], chunk):
        out = network.forward(X[start : start + chunk]).output
        target = y[start : start + chunk]
        total += network.loss.value(out, target) * out.shape[0]
        if network.spec.loss == "cross_entropy":
            correct += int((out.argmax(axis=1) == target).sum())
    accuracy = correct / X.shape[0] if network.spec.loss == "cross_entropy" else None
    return total / X.shape[0], accuracy


def check_train_memory(spec: NetworkSpec, settings: TrainSettings, max_memory: int | None, samples: int = 0) -> None:
    """Refuse, before allocating, a run whose modelled memory is over the limit (default: half
    the available memory)."""
    needed = train_memory(spec, settings.batch, settings.mode, samples)
    limit = default_limit() if max_memory is None else max_memory
    check_fits(needed, limit, f"training {spec.label}", "lower the widths or --batch, or raise --max-memory")


def train(
    spec: NetworkSpec,
    data: Dataset,
    settings: TrainSettings,
    seed: int = 0,
    threads: int | None = None,
    progress: Progress | None = None,
    max_memory: int | None = None,
) -> TrainResult:
    """Train with `settings`; the result carries the loss history, held-out figures, step
    times and the step's FLOPs (counted on the first step, equal to the model). A run whose
    modelled memory is over `max_memory` is refused before anything is allocated."""
    settings = settings.validated()
    check_train_memory(spec, settings, max_memory)
    library = backend(settings.blas).library()  # loaded before the thread limit, so that it applies
    with blas_threads(threads, library):
        result = _train(spec, data, settings, seed, progress or (lambda description, done, total: None))
        return replace(result, blas=blas_info(library))


def batches(data: Dataset, batch: int, total_steps: int, rng: np.random.Generator) -> Iterator[tuple[Array, Array]]:
    """`total_steps` mini-batches: each epoch a fresh seeded permutation, the last batch of an
    epoch possibly smaller."""
    step = 0
    while True:
        order = rng.permutation(data.n_train)
        for start in range(0, data.n_train, batch):
            if step == total_steps:
                return
            rows = order[start : start + batch]
            yield data.X_train[rows], data.y_train[rows]
            step += 1


def _train(spec: NetworkSpec, data: Dataset, settings: TrainSettings, seed: int, notify: Progress) -> TrainResult:
    notes = []
    if settings.batch > data.n_train:
        notes.append(
            f"--batch {settings.batch} is more than the {data.n_train} training samples: each step used all of them"
        )
        settings = replace(settings, batch=data.n_train)
    network = MLP.initialise(spec)  # drawn from the spec's seed
    trainer = Trainer(network, settings)
    batches_per_epoch = -(-data.n_train // settings.batch)
    total_steps = settings.steps or (settings.epochs or 1) * batches_per_epoch
    checked = None
    history: list[float] = []
    times: list[float] = []
    counter = FlopCounter()
    samples = 0
    for step, (X, y) in enumerate(batches(data, settings.batch, total_steps, np.random.default_rng([seed, 1])), 1):
        if step == 1 and settings.grad_check:
            checked = grad_check(spec, network, X, y)
        begin = time.perf_counter()
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is caught below
            value = trainer.step(X, y, counter if step == 1 else None)
        times.append(time.perf_counter() - begin)
        samples += X.shape[0]
        if not np.isfinite(value):
            raise DivergedError(
                f"training diverged at step {step}: the loss is {value}; try a lower --lr (now {settings.lr})"
            )
        history.append(float(value))
        if step % 10 == 0 or step == total_steps:
            notify(f"step {step}/{total_steps}  loss {np.mean(history[-10:]):.4f}", step, total_steps)
    counted_batch = settings.batch  # the first step's (at most the training samples, above)
    modelled = step_flops(spec, counted_batch, settings.mode, settings.momentum, settings.weight_decay)
    if StepFlops(counter.forward, counter.backward, counter.update) != modelled:  # pragma: no cover - a counting bug
        raise RuntimeError(f"counted step FLOPs {counter} differ from the step-cost model {modelled}")
    train_loss, train_accuracy = evaluate(network, data.X_train, data.y_train)
    test_loss, test_accuracy = evaluate(network, data.X_test, data.y_test)
    return TrainResult(
        spec,
        settings,
        data.name,
        data.n_train,
        data.X_test.shape[0],
        total_steps,
        total_steps / batches_per_epoch,
        tuple(history),
        Timing(statistics.median(times), min(times), max(times), len(times)),
        train_loss,
        train_accuracy,
        test_loss,
        test_accuracy,
        modelled,
        input_first_step_flops(spec, counted_batch, settings.momentum, settings.weight_decay),
        checked,
        samples=samples,
        train_seconds=math.fsum(times),
        notes=tuple(notes),
    )
