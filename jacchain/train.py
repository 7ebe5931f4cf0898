"""Training with the efficient order: batched loss-first VJPs (or explicit per-sample Jacobians),
mini-batch SGD with momentum and weight decay, FLOPs counted as performed."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from .chain import build_chain
from .cost import plan_cost
from .data import Dataset
from .errors import JacchainError
from .execute import compile_plan
from .jacobians import build_factors
from .network import MLP, ForwardCache
from .params import input_first_params, loss_first_params
from .spec import NetworkSpec
from .timing import Timing

Array = np.ndarray
Progress = Callable[[str, int, int], None]
MODES = ("vjp", "explicit")


class Diverged(Exception):
    """The loss became NaN or infinite; the message names the step."""


@dataclass(frozen=True)
class TrainSettings:
    dataset: str = "synthetic"
    steps: int | None = None
    epochs: int | None = None
    batch: int = 32
    lr: float = 0.05
    momentum: float = 0.0
    weight_decay: float = 0.0
    test_fraction: float = 0.2
    mode: str = "vjp"
    grad_check: bool = False

    def validated(self) -> "TrainSettings":
        checks = [
            (self.steps is None or self.steps > 0, f"--steps must be a positive integer, got {self.steps}"),
            (self.epochs is None or self.epochs > 0, f"--epochs must be a positive integer, got {self.epochs}"),
            (self.steps is None or self.epochs is None, "give --steps or --epochs, not both"),
            (self.batch > 0, f"--batch must be a positive integer, got {self.batch}"),
            (self.lr > 0, f"--lr must be positive, got {self.lr}"),
            (0 <= self.momentum < 1, f"--momentum must be in [0, 1), got {self.momentum}"),
            (self.weight_decay >= 0, f"--weight-decay must be non-negative, got {self.weight_decay}"),
            (self.mode in MODES, f"unknown mode {self.mode!r}; valid options are: {', '.join(MODES)}"),
        ]
        for ok, message in checks:
            if not ok:
                raise JacchainError(message)
        if self.steps is None and self.epochs is None:
            return replace(self, epochs=10)
        return self


@dataclass
class FlopCounter:
    """Adds up what one step performs, as each operation is done (DESIGN.md convention)."""

    forward: int = 0
    backward: int = 0
    update: int = 0
    phase: str = "forward"

    def matmul(self, m: int, n: int, k: int) -> None:
        self._add(2 * m * n * k)

    def elementwise(self, n: int) -> None:
        self._add(n)

    def _add(self, flops: int) -> None:
        setattr(self, self.phase, getattr(self, self.phase) + flops)

    @property
    def total(self) -> int:
        return self.forward + self.backward + self.update


@dataclass(frozen=True)
class GradCheck:
    max_rel_error: float
    coordinates: int
    skipped_at_kinks: int = 0


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
    flops: FlopCounter
    input_first_flops: int
    grad_check: GradCheck | None = None
    blas: object = None

    @property
    def samples_per_s(self) -> float:
        return self.settings.batch / self.step_time.median if self.step_time.median > 0 else float("inf")


@dataclass
class _Buffers:
    a: list[Array]
    z: list[Array]
    dz: list[Array]
    delta: list[Array]


@dataclass
class Trainer:
    """Holds the network, its gradient and momentum buffers, and the per-batch-size scratch."""

    network: MLP
    settings: TrainSettings
    grads_w: list[Array] = field(init=False)
    grads_b: list[Array] = field(init=False)
    velocity_w: list[Array] = field(init=False)
    velocity_b: list[Array] = field(init=False)

    def __post_init__(self) -> None:
        self.grads_w = [np.empty_like(w) for w in self.network.weights]
        self.grads_b = [np.empty_like(b) for b in self.network.biases]
        self.velocity_w = [np.zeros_like(w) for w in self.network.weights]
        self.velocity_b = [np.zeros_like(b) for b in self.network.biases]
        self._scratch = [np.empty_like(w) for w in self.network.weights]
        self._buffers: dict[int, _Buffers] = {}
        self._activations = self.network.activations
        self._explicit = None

    def buffers(self, batch: int) -> _Buffers:
        if batch not in self._buffers:
            dtype, sizes = self.network.spec.dtype, self.network.spec.sizes
            make = lambda: [np.empty((batch, n), dtype=dtype) for n in sizes[1:]]  # noqa: E731
            self._buffers[batch] = _Buffers(make(), make(), make(), make())
        return self._buffers[batch]

    def forward(self, X: Array, counter: FlopCounter | None = None) -> ForwardCache:
        buffers = self.buffers(X.shape[0])
        z, pre, post = X, [], [X]
        for i, (weight, bias, activation) in enumerate(zip(self.network.weights, self.network.biases, self._activations)):
            a = np.matmul(z, weight.T, out=buffers.a[i])
            a += bias
            z = activation.value_into(a, buffers.z[i])
            if counter:
                counter.matmul(X.shape[0], weight.shape[1], weight.shape[0])
                counter.elementwise(a.size)
            pre.append(a)
            post.append(z)
        return ForwardCache(tuple(pre), tuple(post))

    def vjp_gradients(self, X: Array, y: Array, counter: FlopCounter | None = None) -> float:
        """Loss of the batch; fills grads_w/grads_b by batched loss-first VJPs.

        dl/dz_i is computed once per layer and reused for both dl/dW_i and dl/dz_{i-1}: the
        article's caching argument, for a whole batch at a time.
        """
        cache = self.forward(X, counter)
        loss = self.network.loss
        value = loss.value(cache.output, y)
        dz = loss.gradient(cache.output, y)
        if counter:
            counter.phase = "backward"
        buffers = self.buffers(X.shape[0])
        for i in range(len(self.network.weights) - 1, -1, -1):
            activation = self._activations[i]
            delta = activation.vjp_into(cache.pre[i], cache.post[i + 1], dz, buffers.delta[i])
            np.matmul(delta.T, cache.post[i], out=self.grads_w[i])
            np.sum(delta, axis=0, out=self.grads_b[i])
            if counter:
                if activation.name != "identity":
                    counter.elementwise(delta.size)
                counter.matmul(delta.shape[1], delta.shape[0], cache.post[i].shape[1])
                counter.elementwise(delta.size)
            if i > 0:
                dz = np.matmul(delta, self.network.weights[i], out=buffers.dz[i - 1])
                if counter:
                    counter.matmul(delta.shape[0], delta.shape[1], dz.shape[1])
        return value

    def _explicit_plan(self):
        """The per-sample chain and its loss-first plan depend on the spec alone: build once."""
        if self._explicit is None:
            chain = build_chain(self.network.spec, "loss", "op", "params")
            self._explicit = (chain, loss_first_params(chain))
        return self._explicit

    def explicit_gradients(self, X: Array, y: Array) -> float:
        """The same gradients from each sample's explicit Jacobians, multiplied loss-first."""
        spec = self.network.spec
        chain, plan = self._explicit_plan()
        cache = self.network.forward(X)
        for grad in self.grads_w + self.grads_b:
            grad[...] = 0
        batch = X.shape[0]
        for sample in range(batch):
            point = ForwardCache(tuple(a[sample] for a in cache.pre), tuple(z[sample] for z in cache.post))
            arrays = build_factors(chain, self.network, point, y[sample])
            rows = compile_plan(plan, arrays)()
            for row, layer in zip(rows, range(spec.n_layers, 0, -1)):
                weight = self.grads_w[layer - 1]
                weight += row[0, : weight.size].reshape(weight.shape) / batch
                self.grads_b[layer - 1] += row[0, weight.size:] / batch
        return self.network.loss.value(cache.output, y)

    def update(self, counter: FlopCounter | None = None) -> None:
        """SGD with optional weight decay and momentum, in place, without temporaries."""
        lr, momentum, decay = self.settings.lr, self.settings.momentum, self.settings.weight_decay
        if counter:
            counter.phase = "update"
        groups = zip(self.network.weights + self.network.biases, self.grads_w + self.grads_b,
                     self.velocity_w + self.velocity_b, self._scratch + [None] * len(self.grads_b))
        for param, grad, velocity, scratch in groups:
            if decay:
                grad += decay * param
            step = grad
            if momentum:
                velocity *= momentum
                velocity += grad
                step = velocity
            scaled = np.multiply(step, lr, out=scratch) if scratch is not None else step * lr
            param -= scaled
            if counter:
                counter.elementwise(param.size * (2 + (2 if decay else 0) + (2 if momentum else 0)))

    def step(self, X: Array, y: Array, counter: FlopCounter | None = None) -> float:
        if self.settings.mode == "explicit":
            value = self.explicit_gradients(X, y)
        else:
            value = self.vjp_gradients(X, y, counter)
        self.update(counter)
        return value


def evaluate(network: MLP, X: Array, y: Array, chunk: int = 4096) -> tuple[float, float | None]:
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


def grad_check(spec: NetworkSpec, network: MLP, X: Array, y: Array, per_array: int = 12, seed: int = 0) -> GradCheck:
    """Compare batched VJP gradients with central differences (float64) on sampled coordinates."""
    spec64 = replace(spec, dtype="float64")
    copy = MLP(spec64, [w.astype(np.float64) for w in network.weights], [b.astype(np.float64) for b in network.biases])
    checker = Trainer(copy, TrainSettings())
    X64 = X.astype(np.float64)
    y64 = y if spec.loss == "cross_entropy" else y.astype(np.float64)
    checker.vjp_gradients(X64, y64)
    rng = np.random.default_rng(seed)
    kinked = [i for i, name in enumerate(spec.activations) if name == "relu"]

    def evaluate_at(index, param, offset):
        """The loss with one coordinate moved, and which relus are on there."""
        saved = param[index]
        param[index] = saved + offset
        cache = copy.forward(X64)
        param[index] = saved
        return copy.loss.value(cache.output, y64), [cache.pre[i] > 0 for i in kinked]

    base_pattern = evaluate_at((0,) * copy.weights[0].ndim, copy.weights[0], 0.0)[1]
    worst, count, skipped = 0.0, 0, 0
    for params, grads in ((copy.weights, checker.grads_w), (copy.biases, checker.grads_b)):
        for param, grad in zip(params, grads):
            picks = rng.choice(param.size, size=min(per_array, param.size), replace=False)
            for flat in picks:
                index = np.unravel_index(flat, param.shape)
                found = _stencil(evaluate_at, index, param, base_pattern)
                if found is None:
                    skipped += 1
                    continue
                numeric, noise = found
                count += 1
                if grad[index] == 0 and abs(numeric) <= noise:
                    continue  # a structural zero (dead unit, zero input): relative error is undefined
                worst = max(worst, abs(numeric - grad[index]) / max(abs(numeric), abs(grad[index])))
    return GradCheck(worst, count, skipped)


def _stencil(evaluate_at, index, param, base_pattern) -> tuple[float, float] | None:
    """Fourth-order central difference (truncation ~h^4, rounding ~1e-16/h) and a bound on
    its rounding noise. A step that flips a relu crosses a kink, where the derivative is not
    what the stencil sees: retry smaller, and give up (None) if every step crosses one."""
    for h in (1e-4, 1e-5, 1e-6):
        values = []
        for k in (-2, -1, 1, 2):
            value, pattern = evaluate_at(index, param, k * h)
            if any((p != q).any() for p, q in zip(pattern, base_pattern)):
                break
            values.append(value)
        else:
            noise = 64 * np.finfo(np.float64).eps * max(abs(v) for v in values) / h
            return (values[0] - 8 * values[1] + 8 * values[2] - values[3]) / (12 * h), noise
    return None


def input_first_step_flops(spec: NetworkSpec, batch: int, forward: int, update: int) -> int:
    """The same step with forward-mode gradients: the forward pass, then per sample every
    parameter's tangent pushed through the later layers (op granularity, structure used)."""
    chain = build_chain(spec, "loss", "op", "params")
    return forward + batch * plan_cost(input_first_params(chain), chain).flops + update


def train(
    spec: NetworkSpec,
    data: Dataset,
    settings: TrainSettings,
    seed: int = 0,
    progress: Progress | None = None,
) -> TrainResult:
    settings = settings.validated()
    network = MLP.initialise(spec, np.random.default_rng(spec.seed))
    trainer = Trainer(network, settings)
    rng = np.random.default_rng([seed, 1])
    batches_per_epoch = -(-data.n_train // settings.batch)
    total_steps = settings.steps or settings.epochs * batches_per_epoch
    checked = None
    history, times = [], []
    counter = FlopCounter()
    notify = progress or (lambda description, done, total: None)
    step = 0
    while step < total_steps:
        order = rng.permutation(data.n_train)
        for start in range(0, data.n_train, settings.batch):
            if step >= total_steps:
                break
            rows = order[start : start + settings.batch]
            X, y = data.X_train[rows], data.y_train[rows]
            if step == 0 and settings.grad_check:
                checked = grad_check(spec, network, X, y)
            begin = time.perf_counter()
            with np.errstate(over="ignore", invalid="ignore"):  # divergence is caught below
                value = trainer.step(X, y, counter if step == 0 and len(rows) == settings.batch else None)
            times.append(time.perf_counter() - begin)
            step += 1
            if not np.isfinite(value):
                raise Diverged(f"training diverged at step {step}: the loss is {value}; try a lower --lr (now {settings.lr})")
            history.append(float(value))
            if step % 10 == 0 or step == total_steps:
                notify(f"step {step}/{total_steps}  loss {np.mean(history[-10:]):.4f}", step, total_steps)
    if counter.total == 0:  # the first batch was partial: count a full-size batch instead
        probe = Trainer(MLP(spec, [w.copy() for w in network.weights], [b.copy() for b in network.biases]), settings)
        take = np.arange(min(settings.batch, data.n_train))
        probe.step(data.X_train[take], data.y_train[take], counter)
    train_loss, train_accuracy = evaluate(network, data.X_train, data.y_train)
    test_loss, test_accuracy = evaluate(network, data.X_test, data.y_test)
    step_time = Timing(statistics.median(times), min(times), max(times), len(times))
    input_first = input_first_step_flops(spec, settings.batch, counter.forward, counter.update)
    return TrainResult(
        spec, settings, data.name, data.n_train, data.X_test.shape[0], step, step / batches_per_epoch,
        tuple(history), step_time, train_loss, train_accuracy, test_loss, test_accuracy, counter,
        input_first, checked,
    )
