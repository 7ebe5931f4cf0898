"""Run generalised-chain plans on real arrays. `ElementalModel` is what a plan runs on; a
chain config runs on surrogate elementals (run/surrogate.py), a network on its own layers
here: each layer (and the loss) is an elemental with a tangent model (its JVP on a block of
columns: W_i, then D_i) and an adjoint model (its VJP on a block of rows: D_i, then W_i), at
the spec's point. An accumulation is one blocked JVP of the identity (n columns) or VJP (m
rows), never a loop per column. Every operation counts its multiply-adds from its operands,
the model's independent twin."""

from __future__ import annotations

import functools
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ..chain.elementals import ElementalChain, network_chain
from ..cost.elimination import OpKind
from ..cost.product import ProductCount, product_count
from ..model.network import network_at_point
from ..model.spec import NetworkSpec
from ..planners.jcdp import ElementalPlan, pure_tangent
from ..planners.schedule import Task, list_schedule
from ..types import Array, Of, Structure
from .calibrate import Probe
from .jacobians import layer_jacobian

DENSE, DIAGONAL = Structure.DENSE, Structure.DIAGONAL
PROBE_LENGTHS = (2, 10)  # elementals in the twins whose input-first runs give a model's fixed costs
PROBE_WIDTH = 8  # the twins' widths: too small for the products' arithmetic to count


@dataclass
class Counter:
    """Multiply-adds performed, from the operands' shapes (thread-safe)."""

    macs: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, macs: int) -> None:
        with self.lock:
            self.macs += macs


class ElementalModel(ABC):
    """What a plan runs on: a chain's elementals as tangent models (a block of columns in) and
    adjoint models (a block of rows in), with the products each performs (for the time model)
    and the full Jacobian formed independently (the reference). Subclasses give the models."""

    chain: ElementalChain
    dtype: str
    itemsize: int

    @abstractmethod
    def tangent(self, index: int, block: Array, counter: Counter) -> Array:
        """F_index's tangent model on a block of columns (inputs x c)."""

    @abstractmethod
    def adjoint(self, index: int, block: Array, counter: Counter) -> Array:
        """F_index's adjoint model on a block of rows (r x outputs)."""

    @abstractmethod
    def tangent_products(self, index: int, columns: int) -> list[ProductCount]:
        """The products a tangent evaluation on `columns` columns performs."""

    @abstractmethod
    def adjoint_products(self, index: int, rows: int) -> list[ProductCount]:
        """The products an adjoint evaluation on `rows` rows performs."""

    @abstractmethod
    def reference(self) -> Array:
        """The full Jacobian, formed without the models."""

    @abstractmethod
    def twin(self, length: int) -> ElementalModel:
        """A model of the same kind, `length` elementals of PROBE_WIDTH inputs and outputs: what
        its fixed costs are measured on (`model_probe`)."""

    def task_products(self, task: Task) -> list[ProductCount]:
        """The products of one scheduled task."""
        e = self.chain.elementals
        if task.kind == OpKind.ACC_TAN:
            return self.tangent_products(task.first, e[task.first].inputs)
        if task.kind == OpKind.ACC_ADJ:
            return self.adjoint_products(task.first, e[task.first].outputs)
        if task.kind == OpKind.MULTIPLY:
            assert task.split is not None
            rows, inner, cols = e[task.last].outputs, e[task.split].outputs, e[task.first].inputs
            return [product_count((rows, inner, DENSE), (inner, cols, DENSE))]
        if task.kind == OpKind.TAN_ELIM:
            return self.tangent_products(task.last, e[task.first].inputs)
        return self.adjoint_products(task.first, e[task.last].outputs)

    def accumulate(self, index: int, mode: OpKind, counter: Counter) -> Array:
        """F_index's Jacobian by tangents (n columns at once) or adjoints (m rows at once)."""
        elemental = self.chain.elementals[index]
        if mode == OpKind.ACC_TAN:
            return self.tangent(index, np.eye(elemental.inputs, dtype=self.dtype), counter)
        return self.adjoint(index, np.eye(elemental.outputs, dtype=self.dtype), counter)

    def multiply(self, upper: Array, lower: Array, counter: Counter) -> Array:
        counter.add(upper.shape[0] * upper.shape[1] * lower.shape[1])
        return upper @ lower


class ElementalNetwork(ElementalModel):
    """A network's elementals at its point (x, y from the spec's seed), as tangent and adjoint
    models; `chain` is the same network read as a chain (chain/elementals.py)."""

    def __init__(self, spec: NetworkSpec, of: Of = "loss") -> None:
        self.spec, self.of = spec, of
        self.dtype, self.itemsize = spec.dtype, spec.itemsize
        self.chain = network_chain(spec, of)
        network, x, y = network_at_point(spec)
        self.network = network
        cache = network.forward(x)
        self.cache = cache
        self.weights = network.weights
        # D_i at the point: a diagonal (None for identity) or a dense matrix (softmax).
        self.diagonal: list[Array | None] = []
        self.dense: list[Array | None] = []
        for activation, a, z in zip(network.activations, cache.pre, cache.post[1:]):
            jacobian = activation.jacobian(a, z)
            identity = activation.name == "identity"
            self.diagonal.append(None if identity or not activation.elementwise else jacobian)
            self.dense.append(None if activation.elementwise else jacobian)
        self.gradient = network.loss.gradient(cache.output, y).reshape(1, -1) if of == "loss" else None

    def is_loss(self, index: int) -> bool:
        return self.of == "loss" and index == self.spec.n_layers

    def tangent(self, index: int, block: Array, counter: Counter) -> Array:
        columns = block.shape[1]
        if self.is_loss(index):
            assert self.gradient is not None
            counter.add(self.gradient.shape[1] * columns)
            return self.gradient @ block
        weight = self.weights[index]
        result = weight @ block
        counter.add(weight.shape[0] * weight.shape[1] * columns)
        if self.diagonal[index] is not None:
            result *= self.diagonal[index][:, None]  # type: ignore[index]  # checked just above
            counter.add(result.size)
        elif self.dense[index] is not None:
            dense = self.dense[index]
            assert dense is not None
            result = dense @ result
            counter.add(dense.shape[0] * dense.shape[1] * columns)
        return result

    def adjoint(self, index: int, block: Array, counter: Counter) -> Array:
        rows = block.shape[0]
        if self.is_loss(index):
            assert self.gradient is not None
            counter.add(rows * self.gradient.shape[1])
            return block @ self.gradient
        if self.diagonal[index] is not None:
            block = block * self.diagonal[index][None, :]  # type: ignore[index]  # checked just above
            counter.add(block.size)
        elif self.dense[index] is not None:
            dense = self.dense[index]
            assert dense is not None
            block = block @ dense
            counter.add(rows * dense.shape[0] * dense.shape[1])
        weight = self.weights[index]
        counter.add(rows * weight.shape[0] * weight.shape[1])
        return block @ weight

    def tangent_products(self, index: int, columns: int) -> list[ProductCount]:
        """The products a tangent evaluation on `columns` columns performs (for the time model)."""
        if self.is_loss(index):
            width = self.spec.sizes[-1]
            return [product_count((1, width, DENSE), (width, columns, DENSE))]
        n_out, n_in = self.weights[index].shape
        products = [product_count((n_out, n_in, DENSE), (n_in, columns, DENSE))]
        if self.diagonal[index] is not None:
            products.append(product_count((n_out, n_out, DIAGONAL), (n_out, columns, DENSE)))
        elif self.dense[index] is not None:
            products.append(product_count((n_out, n_out, DENSE), (n_out, columns, DENSE)))
        return products

    def adjoint_products(self, index: int, rows: int) -> list[ProductCount]:
        """The products an adjoint evaluation on `rows` rows performs (for the time model)."""
        if self.is_loss(index):
            return [product_count((rows, 1, DENSE), (1, self.spec.sizes[-1], DENSE))]
        n_out, n_in = self.weights[index].shape
        products = []
        if self.diagonal[index] is not None:
            products.append(product_count((rows, n_out, DENSE), (n_out, n_out, DIAGONAL)))
        elif self.dense[index] is not None:
            products.append(product_count((rows, n_out, DENSE), (n_out, n_out, DENSE)))
        return [*products, product_count((rows, n_out, DENSE), (n_out, n_in, DENSE))]

    def reference(self) -> Array:
        """The full Jacobian from the explicit layer Jacobians (run/jacobians.py): the loss's
        gradient times them, a row at every step; dz_L/dx from J_1 on. One layer Jacobian is
        held at a time, and never an identity of the input's width (n_0^2 entries)."""

        def jacobian(layer: int) -> Array:
            return layer_jacobian(self.network, self.cache, layer)

        if self.gradient is not None:
            result = self.gradient
            for layer in range(self.spec.n_layers, 0, -1):
                result = result @ jacobian(layer)
            return result
        result = jacobian(1)
        for layer in range(2, self.spec.n_layers + 1):
            result = jacobian(layer) @ result
        return result

    def twin(self, length: int) -> ElementalNetwork:
        """The same kind of network (its activations in turn, its loss, dtype and seed), `length`
        layers of PROBE_WIDTH units."""
        activations = tuple(self.spec.activations[i % self.spec.n_layers] for i in range(length))
        return ElementalNetwork(
            replace(self.spec, sizes=(PROBE_WIDTH,) * (length + 1), activations=activations, name=None), self.of
        )


def run_plan(model: ElementalModel, plan: ElementalPlan, counter: Counter) -> Array:
    """Execute a plan's operations in order; the last result is the full Jacobian."""
    results: list[Array] = []
    for op in plan.operations:
        if op.kind in (OpKind.ACC_TAN, OpKind.ACC_ADJ):
            results.append(model.accumulate(op.first, op.kind, counter))
        elif op.kind == OpKind.MULTIPLY:
            lower, upper = (results[index] for index in op.operands)
            results.append(model.multiply(upper, lower, counter))
        else:
            assert op.through is not None
            value = results[op.operands[0]]
            low, high = op.through
            if op.kind == OpKind.TAN_ELIM:
                for index in range(low, high + 1):
                    value = model.tangent(index, value, counter)
            else:
                for index in range(high, low - 1, -1):
                    value = model.adjoint(index, value, counter)
            results.append(value)
    return results[-1]


def model_probe(model: ElementalModel) -> Probe:
    """The model's own fixed costs, for the time model of its plans: input-first plans (a
    tangent through every elemental) on twins of PROBE_LENGTHS elementals, with the library
    calls their products make. A tangent or an adjoint of a model makes several calls and spends
    Python time between them (a surrogate's, about 12 us over 7 calls here, against the
    executor's 1.2 us a call), so the network executor's probe would price the model's calls low."""
    runs, calls = [], []
    for length in PROBE_LENGTHS:
        twin = model.twin(length)
        plan = pure_tangent(twin.chain)
        tasks = list_schedule(twin.chain, plan, 1).tasks
        calls.append(sum(product.calls for task in tasks for product in twin.task_products(task)))
        runs.append(functools.partial(run_plan, twin, plan, Counter()))
    return Probe(runs[0], runs[1], (calls[0], calls[1]))


def _run_task(model: ElementalModel, task: Task, explicit: dict[tuple[int, int], Array], counter: Counter) -> Array:
    values = [explicit[segment] for segment in task.operands()]
    if task.kind in (OpKind.ACC_TAN, OpKind.ACC_ADJ):
        return model.accumulate(task.first, task.kind, counter)
    if task.kind == OpKind.MULTIPLY:
        lower, upper = values
        return model.multiply(upper, lower, counter)
    if task.kind == OpKind.TAN_ELIM:
        return model.tangent(task.last, values[0], counter)
    return model.adjoint(task.first, values[0], counter)


class Machines:
    """Worker threads that stay up across runs: the calling thread is machine 0, each other
    machine a thread of its own. A fresh thread per run would pay, every run, what a thread's
    first BLAS call sets up (OpenBLAS allocates its buffers per thread), which at these sizes
    costs more than the tasks themselves. Use as a context manager."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.inboxes: list[queue.SimpleQueue[Callable[[], None] | None]] = [
            queue.SimpleQueue() for _ in range(count - 1)
        ]
        self.threads = [threading.Thread(target=self._serve, args=(inbox,), daemon=True) for inbox in self.inboxes]
        for thread in self.threads:
            thread.start()

    @staticmethod
    def _serve(inbox: queue.SimpleQueue[Callable[[], None] | None]) -> None:
        while (job := inbox.get()) is not None:
            job()
            del job  # else held while the thread waits, and with it the last run's results

    def run(self, jobs: Sequence[Callable[[], None]]) -> None:
        """Job m on machine m, all at once; returns when every one has finished."""
        done = [threading.Event() for _ in jobs[1:]]

        def signalled(job: Callable[[], None], event: threading.Event) -> Callable[[], None]:
            def run() -> None:
                try:
                    job()
                finally:
                    event.set()

            return run

        for inbox, job, event in zip(self.inboxes, jobs[1:], done):
            inbox.put(signalled(job, event))
        jobs[0]()
        for event in done:
            event.wait()

    def __enter__(self) -> Machines:
        return self

    def __exit__(self, *exc: object) -> None:
        for inbox in self.inboxes:
            inbox.put(None)
        for thread in self.threads:
            thread.join()


def run_schedule(
    model: ElementalModel, tasks: Sequence[Task], machines: int, counter: Counter, pool: Machines | None = None
) -> tuple[Array, float]:
    """Run the scheduled tasks on `machines` machines (`pool`'s threads, else threads started
    for this run), each machine's tasks in the order of their start times, each waiting for
    its operands; numpy releases the GIL inside BLAS. Returns the full Jacobian and the
    measured makespan in seconds."""
    explicit: dict[tuple[int, int], Array] = {}
    ready = {(task.first, task.last): threading.Event() for task in tasks}
    failures: list[BaseException] = []

    def work(steps: list[Task]) -> None:
        try:
            for task in steps:
                for operand in task.operands():
                    ready[operand].wait()
                explicit[task.first, task.last] = _run_task(model, task, explicit, counter)
                ready[task.first, task.last].set()
        except BaseException as error:  # surfaced below, once every machine has stopped
            failures.append(error)
            for event in ready.values():
                event.set()

    queues = [sorted((t for t in tasks if t.machine == m), key=lambda t: t.start) for m in range(machines)]
    busy = [functools.partial(work, steps) for steps in queues if steps]
    if pool is None or pool.count < len(busy):
        with Machines(len(busy)) as fresh:
            return run_schedule(model, tasks, machines, counter, fresh)
    begin = time.perf_counter()
    pool.run(busy)
    elapsed = time.perf_counter() - begin
    if failures:
        raise failures[0]
    q = len(model.chain)
    return explicit[0, q - 1], elapsed
