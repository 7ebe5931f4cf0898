"""The FLOPs of one training step from shapes alone, priced by the product rule. The trainer
counts what it performs from its arrays; a test holds the two equal.

Convention: a dense product is 2 FLOPs per multiply-add (ProductKind.DENSE); scaling by an
activation's diagonal is one FLOP per entry (ProductKind.SCALE); a bias add, a column sum
and each elementwise operation of the update are one FLOP per entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..chain.factors import build_chain
from ..cost.plan_cost import plan_cost
from ..cost.product import ProductKind
from ..model.network import ForwardBuffers
from ..model.spec import NetworkSpec
from ..planners.params import input_first_params, loss_first_params
from ..types import TrainMode
from .buffers import BackwardBuffers


@dataclass
class StepFlops:
    """FLOPs of one step by phase."""

    forward: int = 0
    backward: int = 0
    update: int = 0

    @property
    def total(self) -> int:
        return self.forward + self.backward + self.update


def forward_flops(spec: NetworkSpec, batch: int) -> int:
    """Each layer: (B x n_in)(n_in x n_out), then the bias added to every entry."""
    return sum(
        ProductKind.DENSE.flops(batch, n_in, n_out) + batch * n_out for n_in, n_out in zip(spec.sizes, spec.sizes[1:])
    )


def vjp_backward_flops(spec: NetworkSpec, batch: int) -> int:
    """Each layer, loss end first: the row block scaled by D_i (none for identity), dl/dW_i
    as (n_out x B)(B x n_in), dl/db_i as a column sum, and dl/dz_{i-1} except at the input."""
    total = 0
    for layer, (n_in, n_out) in enumerate(zip(spec.sizes, spec.sizes[1:]), start=1):
        if spec.activations[layer - 1] != "identity":
            total += ProductKind.SCALE.flops(batch, n_out, n_out)
        total += ProductKind.DENSE.flops(n_out, batch, n_in) + batch * n_out
        if layer > 1:
            total += ProductKind.DENSE.flops(batch, n_out, n_in)
    return total


def explicit_backward_flops(spec: NetworkSpec, batch: int) -> int:
    """Per sample: the loss-first plan over explicit Jacobians (op granularity), then each
    parameter's gradient divided by the batch and added in (two FLOPs per parameter)."""
    chain = build_chain(spec, "loss", "op", "params")
    return batch * (plan_cost(loss_first_params(chain), chain).flops + 2 * spec.n_params)


def update_flops(spec: NetworkSpec, momentum: float, weight_decay: float) -> int:
    """SGD per parameter: scale and subtract; decay adds a scale and an add, momentum too."""
    return spec.n_params * (2 + (2 if weight_decay else 0) + (2 if momentum else 0))


def step_flops(spec: NetworkSpec, batch: int, mode: TrainMode, momentum: float, weight_decay: float) -> StepFlops:
    """The modelled FLOPs of one step of `batch` samples in the given mode."""
    backward = vjp_backward_flops(spec, batch) if mode == "vjp" else explicit_backward_flops(spec, batch)
    return StepFlops(forward_flops(spec, batch), backward, update_flops(spec, momentum, weight_decay))


def input_first_step_flops(spec: NetworkSpec, batch: int, momentum: float, weight_decay: float) -> int:
    """The same step with forward-mode gradients: the forward pass, then per sample every
    parameter's tangent pushed through the later layers (op granularity, structure used)."""
    chain = build_chain(spec, "loss", "op", "params")
    return (
        forward_flops(spec, batch)
        + batch * plan_cost(input_first_params(chain), chain).flops
        + update_flops(spec, momentum, weight_decay)
    )


EVAL_CHUNK = 4096  # samples per forward pass when the loss and accuracy are evaluated


def batch_entries(spec: NetworkSpec, batch: int) -> int:
    """The numbers a trainer holds per batch size: the forward buffers (a_i and z_i, one buffer
    where z_i is written over a_i), dl/dz_i and dl/da_i per layer, and a row of ones."""
    return ForwardBuffers.entries(spec, batch) + BackwardBuffers.entries(spec, batch)


def train_memory(spec: NetworkSpec, batch: int, mode: TrainMode, samples: int = 0) -> int:
    """Modelled peak bytes of a training run, before anything is allocated: the parameters as
    initialised plus the flat parameter, gradient and velocity buffers; the trainer's buffers
    for one batch and the forward pass of one evaluation chunk; `samples` rows of data (input
    and target); in explicit mode each sample's factors and a gradient row."""
    widths = sum(spec.sizes)
    entries = 4 * spec.n_params + batch_entries(spec, batch) + 2 * EVAL_CHUNK * widths
    entries += samples * (spec.sizes[0] + spec.sizes[-1])
    total = entries * spec.itemsize
    if mode == "explicit":
        total += build_chain(spec, "loss", "op", "params").factor_bytes + 2 * spec.n_params * spec.itemsize
    return total
