"""A training step's forward pass, loss and loss-first VJPs as one list of calls, made once per
batch size and run step after step.

Each product, bias add and bias sum is bound to the trainer's buffers on the step's BLAS
(run/blas.py): its operands checked, its arguments converted and the arrays addressed once,
so that a step makes each call with nothing left to check. Only the batch itself is new at
every step, and the two products that read it are given it (`BoundGemm.given`). The bias add
is a rank-1 update on the BLAS's threads (exactly numpy's broadcast add), a bias gradient a
product of dl/da_i with a column of ones. The activations and the loss stay numpy's. Where a
gradient goes is the trainer's choice (a `Sink`): its buffer, a velocity (the momentum fold),
or for plain SGD the parameters themselves, the whole update made in the product.

Against the same step made call by call (numpy's matmul, the fold's gemm checked at each
call, numpy's bias add), in alternating processes: 0.957x and 0.974x the step time at
784,512,256,10 b128, 0.966x and 0.967x at 64,128,64,10 b32, 0.945x at 2048,2048,10 b256;
on MKL, 0.60x at 64 b32 (docs/performance.md).

Each call carries the FLOPs it performs, read off its operands when it is made, by the same
rule as the trainer's FlopCounter; the activations' forward passes and the loss are not
counted (the step-cost model's convention, training/step_cost.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..model.network import MLP, ForwardBuffers
from ..run.blas import Blas
from ..types import Array
from .buffers import BackwardBuffers

NO_BATCH = np.empty(0)
Shape = tuple[int, ...]
Sink = tuple[Array, float, float]  # where a gradient goes: (array, alpha, beta), array = alpha g + beta array


def matmul_flops(left: Array, right: Array) -> int:
    """A dense (m x n)(n x k) product: m*n*k multiply-adds, two FLOPs each (DESIGN.md), read
    off the operands. Written out here, not taken from cost/product.py: the counted step is
    the step-cost model's independent twin, which the training loop holds the model to."""
    (m, n), (_, k) = left.shape, right.shape
    macs = m * n * k
    return macs + macs


def describe(array: Array) -> str:
    """An operand's shape, `^T` where it is read transposed (stored Fortran-ordered)."""
    stored = "" if array.flags.c_contiguous else "^T"
    return f"{array.shape[0]}x{array.shape[1]}{stored}"


@dataclass(frozen=True)
class Call:
    """One call of the step: its kind, a label for what it does (the scripts that time the
    step call by call print it), the FLOPs it performs, in which phase they count, and the
    call itself, which reads the step's batch from the program (`StepProgram.batch`). A
    product's `shape` is its (m, k, n), for the scripts that time its floor form."""

    kind: str  # product, bias add, activation, loss, bias sum
    label: str
    phase: str  # forward or backward
    flops: int
    run: Callable[[], object]
    shape: Shape = ()


class StepProgram:
    """The calls of one step of a batch of one size, in order (`calls`), and their run.

    `weight_gradients[i]` is where dl/dW_i goes (a `Sink`, W_i-shaped; the product writes its
    transpose): the layer's gradient buffer (1, 0); its weights' velocity with the momentum
    (1, m: the fold, v = dl/dW_i + m v in the product); or, for plain SGD, the weights
    themselves (-lr, 1 - lr decay: the whole update in the product). `bias_gradients[i]` the
    same for dl/db_i. Each layer's input gradient is made before its weight gradient, since
    it reads W_i. `X` is a batch of the size: the products that read the batch are bound for
    its layout (another batch laid out otherwise gets numpy's arithmetic there), and keep
    nothing of it."""

    def __init__(
        self,
        network: MLP,
        blas: Blas,
        forward: ForwardBuffers,
        backward: BackwardBuffers,
        weight_gradients: Sequence[Sink],
        bias_gradients: Sequence[Sink],
        X: Array,
    ) -> None:
        self.batch: list[Array] = [NO_BATCH, NO_BATCH]  # the step's X and y, while it runs
        self.loss: list[float] = [0.0]  # where the loss's call leaves the loss
        self.calls: list[Call] = []
        activations, ones = network.activations, backward.ones
        # z_i: a_i itself where the activation is the identity (its value_into returns a_i)
        outputs = [a if f.passes_through else z for a, z, f in zip(forward.pre, forward.post, activations)]
        inputs = [X, *outputs[:-1]]  # what each layer reads
        for i, (weight, bias, a) in enumerate(zip(network.weights, network.biases, forward.pre)):
            self._product("forward", blas, inputs[i], weight.T, a, batch=_the_batch if i == 0 else None)
            self._add("bias add", f"bias add {describe(a)}", "forward", a.size, blas.bind_add_row(bias, a, ones))
            if not activations[i].passes_through:
                value = functools.partial(activations[i].value_into, a, outputs[i])
                self._add("activation", f"{activations[i].name} {describe(a)}", "forward", 0, value)
        loss = self._loss_call(network, outputs[-1], backward.dz[-1])
        self._add("loss", f"loss {describe(outputs[-1])}", "backward", 0, loss)
        for i in reversed(range(len(network.weights))):
            delta = backward.dz[i]  # dl/da_i: dl/dz_i itself through the identity
            if not activations[i].passes_through:
                delta = backward.delta[i]
                vjp = functools.partial(activations[i].vjp_into, forward.pre[i], outputs[i], backward.dz[i], delta)
                self._add("activation", f"{activations[i].name} VJP {describe(delta)}", "backward", delta.size, vjp)
            if i > 0:
                self._product("backward", blas, delta, network.weights[i], backward.dz[i - 1])
            target, alpha, beta = weight_gradients[i]
            batch = _the_batch_transposed if i == 0 else None
            self._product("backward", blas, inputs[i].T, delta, target.T, beta, batch, alpha)
            target, alpha, beta = bias_gradients[i]
            sums = blas.bind_column_sums(delta, target, ones, alpha, beta)
            self._add("bias sum", f"bias sum {describe(delta)}", "backward", delta.size, sums)

    def gradients(self, X: Array, y: Array) -> float:
        """One step's forward pass, loss and gradients for this batch; returns the loss."""
        return self.run(self.calls, X, y)

    def run(self, calls: Sequence[Call], X: Array, y: Array) -> float:
        """These calls, the step's own or some of them (a script timing them), on this batch;
        returns the loss its call left."""
        self.batch[:] = X, y
        try:
            for call in calls:
                call.run()
        finally:
            self.batch[:] = NO_BATCH, NO_BATCH  # the batch is not kept past its step
        return self.loss[0]

    def flops(self, phase: str) -> int:
        return sum(call.flops for call in self.calls if call.phase == phase)

    def _add(self, kind: str, label: str, phase: str, flops: int, run: Callable[[], object], shape: Shape = ()) -> None:
        self.calls.append(Call(kind, label, phase, flops, run, shape))

    def _product(
        self,
        phase: str,
        blas: Blas,
        a: Array,
        b: Array,
        c: Array,
        beta: float = 0.0,
        batch: Callable[[Array], Array] | None = None,
        alpha: float = 1.0,
    ) -> None:
        """C = alpha A B + beta C, bound; where A is the batch (`batch` makes it from each
        step's X), the bound call is given it at every step."""
        product = blas.bind_gemm(a, b, c, beta, batch is not None, alpha)
        run: Callable[[], object] = product
        if batch is not None:
            given, operand, step = product.given, batch, self.batch

            def run() -> None:
                given(operand(step[0]))

        scaled = (f", alpha {alpha:g}" if alpha != 1 else "") + (f", beta {beta:g}" if beta else "")
        label = f"product {describe(a)} x {describe(b)}{scaled}"
        self._add("product", label, phase, matmul_flops(a, b), run, (*a.shape, b.shape[1]))

    def _loss_call(self, network: MLP, output: Array, gradient: Array) -> Callable[[], None]:
        """The loss of the step's batch into `self.loss`, its gradient into `gradient`."""
        loss, step, value = network.loss, self.batch, self.loss

        def run() -> None:
            value[0] = loss.value_and_gradient(output, step[1], out=gradient)[0]

        return run


def _the_batch(X: Array) -> Array:
    return X


def _the_batch_transposed(X: Array) -> Array:
    return X.T
