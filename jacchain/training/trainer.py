"""One training step on the shared layer functions: the network's forward pass into reused
buffers, one VJP per activation, dl/dz_i cached and reused for dl/dW_i and dl/dz_{i-1}, and
an SGD update in place. Counts what it performs from its own arrays."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..chain.factors import Chain, build_chain
from ..chain.plan import Plan
from ..model.network import MLP, ForwardBuffers, ForwardCache
from ..planners.params import loss_first_params
from ..run.blas import Blas, backend
from ..run.execute import compile_plan, run_counted
from ..run.jacobians import build_factors
from ..types import Array
from .buffers import BackwardBuffers
from .program import StepProgram, matmul_flops
from .settings import TrainSettings
from .step_cost import StepFlops


@dataclass
class FlopCounter(StepFlops):
    """Adds up what one step performs, read off the operands as each operation is done."""

    phase: str = "forward"

    def matmul(self, left: Array, right: Array) -> None:
        self._add(matmul_flops(left, right))

    def entries(self, array: Array, times: int = 1) -> None:
        """One FLOP per entry (an elementwise operation), `times` over."""
        self._add(int(array.size) * times)

    def _add(self, flops: int) -> None:
        setattr(self, self.phase, getattr(self, self.phase) + flops)


def flat_views(arrays: list[Array], flat: Array, copy: bool = True, transposed: int = 0) -> list[Array]:
    """Views of consecutive slices of `flat`, shaped like `arrays` (which are copied in unless
    `copy` is False); the first `transposed` of them stored transposed."""
    views, start = [], 0
    for index, array in enumerate(arrays):
        piece = flat[start : start + array.size]
        view = piece.reshape(array.shape[::-1]).T if index < transposed else piece.reshape(array.shape)
        if copy:
            view[...] = array
        views.append(view)
        start += array.size
    return views


@dataclass
class Trainer:
    """Holds the network, its gradient and momentum buffers, and the per-batch-size scratch.

    Parameters, gradients and velocities each live in one flat buffer (the network's W_i and
    b_i become views into it), so the SGD update is a handful of whole-buffer operations. Each
    W_i is stored as its transpose, row-major (W_i a Fortran-ordered view): the forward product
    z W_i^T then reads both operands as stored, as does dl/dW_i^T = z^T dl/da_i, and only
    dl/da_i W_i reads one transposed (float32 steps 2-4.5% faster than W_i row-major here, from
    64,128,64,10 b32 to 2048,2048,10 b256, timed against it in alternation; float64 the same). With
    momentum, the weights of layers with at least the BLAS's `fold_min_weights` get their
    velocity updated inside their gradient's product (a gemm with beta) and lead the buffers;
    the other weights and the biases follow, and their velocity is one sweep. Without
    momentum, every parameter takes its whole SGD update inside its gradient's product."""

    network: MLP
    settings: TrainSettings
    grads_w: list[Array] = field(init=False)
    grads_b: list[Array] = field(init=False)

    def __post_init__(self) -> None:
        network = self.network
        self.blas: Blas = backend(self.settings.blas)
        layers = len(network.weights)
        folding = bool(self.settings.momentum) and self.settings.mode == "vjp"
        self._folded = [folding and w.size >= self.blas.fold_min_weights for w in network.weights]
        # the folded weights first, then the rest of the weights, then the biases
        order = sorted(range(layers), key=lambda i: not self._folded[i])
        parameters = [network.weights[i] for i in order] + network.biases
        size, dtype = sum(p.size for p in parameters), network.weights[0].dtype

        place = {layer: index for index, layer in enumerate(order)}

        def views_of(flat: Array, copy: bool = True) -> tuple[list[Array], list[Array]]:
            """The weights' views (stored transposed) in layer order, and the biases'."""
            views = flat_views(parameters, flat, copy, transposed=layers)
            return [views[place[layer]] for layer in range(layers)], views[layers:]

        self._params = np.empty(size, dtype=dtype)
        network.weights[:], network.biases[:] = views_of(self._params)
        self._grads = np.zeros(size, dtype=dtype)
        self.grads_w, self.grads_b = views_of(self._grads)
        self._velocity = np.zeros(size, dtype=dtype)
        self._velocity_w = views_of(self._velocity, copy=False)[0]
        self._n_folded = sum(w.size for w, folded in zip(network.weights, self._folded) if folded)
        self._forward: dict[int, ForwardBuffers] = {}
        self._backward: dict[int, BackwardBuffers] = {}
        self._programs: dict[tuple[int, float | None, bool], StepProgram] = {}
        self._explicit: tuple[Chain, Plan] | None = None
        self._sweeps: dict[bool, list[Callable[[], None]]] = {}

    def forward(self, X: Array, counter: FlopCounter | None = None) -> ForwardCache:
        """The network's own forward pass, into buffers kept per batch size (the explicit mode's,
        always on numpy's BLAS: the batched step's products are its program's)."""
        cache = self.network.forward(X, self._forward_buffers(X.shape[0]))
        if counter is not None:
            for z, weight, a in zip(cache.post, self.network.weights, cache.pre):
                counter.matmul(z, weight.T)
                counter.entries(a)  # the bias add
        return cache

    def _forward_buffers(self, batch: int) -> ForwardBuffers:
        if batch not in self._forward:
            self._forward[batch] = ForwardBuffers.allocate(self.network.spec, batch)
        return self._forward[batch]

    def _backward_buffers(self, batch: int) -> BackwardBuffers:
        if batch not in self._backward:
            self._backward[batch] = BackwardBuffers.allocate(self.network.spec, batch)
        return self._backward[batch]

    def program(self, X: Array, fold: float | None = None, fuse: bool = False) -> StepProgram:
        """The calls of a loss-first step of batches of X's size (training/program.py), made
        at the first such batch: its forward pass into the buffers kept per batch size, its
        loss, and its VJPs. dl/dz_i is computed once per layer and reused for both dl/dW_i
        and dl/dz_{i-1}: the article's caching argument, for a whole batch at a time. With
        `fold` (the momentum), dl/dW_i of a folded layer goes straight into its weights'
        velocity instead, v = dl/dW_i + fold v, in the same product (a gemm with beta). With
        `fuse` (plain SGD), every gradient goes straight into its parameters, p = (1 - lr
        decay) p - lr dl/dp, in its product: the whole update, with no sweep left to make."""
        key = (X.shape[0], fold, fuse)
        if key not in self._programs:
            if fuse:
                lr, decay = self.settings.lr, self.settings.weight_decay
                weights = [(w, -lr, 1 - lr * decay) for w in self.network.weights]
                biases = [(b, -lr, 1 - lr * decay) for b in self.network.biases]
            else:
                weights = [
                    (velocity, 1.0, fold) if fold is not None and folded else (gradient, 1.0, 0.0)
                    for velocity, gradient, folded in zip(self._velocity_w, self.grads_w, self._folded)
                ]
                biases = [(b, 1.0, 0.0) for b in self.grads_b]
            forward, backward = self._forward_buffers(X.shape[0]), self._backward_buffers(X.shape[0])
            self._programs[key] = StepProgram(self.network, self.blas, forward, backward, weights, biases, X)
        return self._programs[key]

    def vjp_gradients(
        self, X: Array, y: Array, counter: FlopCounter | None = None, fold: float | None = None, fuse: bool = False
    ) -> float:
        """Loss of the batch; fills grads_w/grads_b by batched loss-first VJPs (`program`).
        With `fold`, a folded layer's grads_w are left as they were: its velocity has them;
        with `fuse`, all of them are: the parameters have taken their SGD update instead."""
        program = self.program(X, fold, fuse)
        value = program.gradients(X, y)
        if counter is not None:
            counter.forward += program.flops("forward")
            counter.backward += program.flops("backward")
        return value

    def _explicit_plan(self) -> tuple[Chain, Plan]:
        """The per-sample chain and its loss-first plan depend on the spec alone: build once."""
        if self._explicit is None:
            chain = build_chain(self.network.spec, "loss", "op", "params")
            self._explicit = (chain, loss_first_params(chain))
        return self._explicit

    def explicit_gradients(self, X: Array, y: Array, counter: FlopCounter | None = None) -> float:
        """The same gradients from each sample's explicit Jacobians, multiplied loss-first by
        the analysis executor (which counts its products when a counter is given)."""
        spec = self.network.spec
        chain, plan = self._explicit_plan()
        cache = self.forward(X, counter)
        if counter is not None:
            counter.phase = "backward"
        self._grads[...] = 0
        batch = X.shape[0]
        for sample in range(batch):
            point = ForwardCache(tuple(a[sample] for a in cache.pre), tuple(z[sample] for z in cache.post))
            arrays = build_factors(chain, self.network, point, y[sample])
            if counter is not None:
                rows, products = run_counted(plan, arrays)
                counter.backward += sum(product.flops for product in products)
            else:
                rows = compile_plan(plan, arrays)()
            for row, layer in zip(rows, range(spec.n_layers, 0, -1)):
                weight = self.grads_w[layer - 1]
                flat = np.asarray(row)[0]
                weight += flat[: weight.size].reshape(weight.shape) / batch
                self.grads_b[layer - 1] += flat[weight.size :] / batch
                if counter is not None:
                    counter.entries(flat, times=2)  # divide by the batch, add in
            del arrays, rows  # not held while the next sample's are made (train_memory holds room for one)
        return self.network.loss.value(cache.output, y)

    def update(self, counter: FlopCounter | None = None, folded: bool = False) -> None:
        """SGD with optional weight decay and momentum over the flat buffers, in place, each
        operation one sweep of level-1 BLAS on the step's BLAS's own threads (run/blas.py):
        g += decay p; v = g + momentum v; p -= lr v. `folded`: the step's program has done its
        part: with momentum, the folded weights' velocity already holds dl/dW + momentum v
        (vjp_gradients with fold), so only their decay is added; without, the parameters have
        taken the whole update (vjp_gradients with fuse), and nothing is left but to count it."""
        if counter is not None:
            counter.phase = "update"
        if folded not in self._sweeps:
            self._sweeps[folded] = self._update_sweeps(folded)
        for sweep in self._sweeps[folded]:
            sweep()
        if counter is not None:
            decay, momentum = self.settings.weight_decay, self.settings.momentum
            counter.entries(self._params, times=2 + (2 if decay else 0) + (2 if momentum else 0))

    def _update_sweeps(self, folded: bool) -> list[Callable[[], None]]:
        """The update's level-1 sweeps over the flat buffers, bound once (run/blas.py)."""
        lr, momentum, decay = self.settings.lr, self.settings.momentum, self.settings.weight_decay
        params, grads, velocity, blas = self._params, self._grads, self._velocity, self.blas
        sweeps = []
        if momentum:
            done = self._n_folded if folded else 0  # the folded weights lead the buffers
            rest = slice(done, None)  # what still needs v = g + m v
            if decay and done:
                sweeps.append(blas.bind_axpy(decay, params[:done], velocity[:done]))
            if decay:
                sweeps.append(blas.bind_axpy(decay, params[rest], grads[rest]))
            sweeps.append(blas.bind_axpby(1.0, grads[rest], momentum, velocity[rest]))
            sweeps.append(blas.bind_axpy(-lr, velocity, params))
        elif not folded:
            if decay:
                sweeps.append(blas.bind_axpy(decay, params, grads))
            sweeps.append(blas.bind_axpy(-lr, grads, params))
        return sweeps

    def step(self, X: Array, y: Array, counter: FlopCounter | None = None) -> float:
        if self.settings.mode == "explicit":
            value = self.explicit_gradients(X, y, counter)
            self.update(counter)
        else:
            value = self.vjp_gradients(X, y, counter, fold=self._fold, fuse=self._fuse)
            self.update(counter, folded=True)
        return value

    @property
    def _fold(self) -> float | None:
        """The momentum a vjp step folds into its weight gradients' products, if any."""
        return self.settings.momentum or None

    @property
    def _fuse(self) -> bool:
        """Whether a vjp step makes its whole update in its gradients' products: plain SGD."""
        return not self.settings.momentum

    def step_program(self, X: Array) -> StepProgram:
        """The program a vjp step of batches of X's size runs (`program`)."""
        return self.program(X, self._fold, self._fuse)
