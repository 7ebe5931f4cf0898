"""The training step's counted FLOPs equal its model from shapes alone, in every mode."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jacchain.chain.factors import build_chain
from jacchain.cost.plan_cost import plan_cost
from jacchain.model.network import MLP
from jacchain.model.spec import make_spec
from jacchain.planners.params import loss_first_params
from jacchain.training.settings import TrainSettings
from jacchain.training.step_cost import StepFlops, step_flops
from jacchain.training.trainer import FlopCounter, Trainer


def counted_step(spec, batch, mode, momentum, weight_decay):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, spec.sizes[0])).astype(spec.dtype)
    y = rng.integers(0, spec.sizes[-1], batch)
    trainer = Trainer(MLP.initialise(spec), TrainSettings(mode=mode, momentum=momentum, weight_decay=weight_decay))
    counter = FlopCounter()
    trainer.step(X, y, counter)
    return StepFlops(counter.forward, counter.backward, counter.update)


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 24), min_size=2, max_size=5),
    batch=st.integers(1, 40),
    activation=st.sampled_from(["relu", "tanh", "sigmoid", "gelu", "softmax", "identity"]),
    output_activation=st.sampled_from(["identity", "sigmoid"]),
    momentum=st.sampled_from([0.0, 0.9]),
    weight_decay=st.sampled_from([0.0, 1e-4]),
)
def test_counted_vjp_step_equals_the_model(sizes, batch, activation, output_activation, momentum, weight_decay):
    spec = make_spec(sizes, activation=activation, output_activation=output_activation, loss="cross_entropy")
    counted = counted_step(spec, batch, "vjp", momentum, weight_decay)
    assert counted == step_flops(spec, batch, "vjp", momentum, weight_decay)


@pytest.mark.parametrize("sizes, batch", [((6, 5, 3), 4), ((8, 6, 6, 2), 3)])
def test_counted_explicit_step_equals_the_model(sizes, batch):
    spec = make_spec(sizes, activation="tanh", loss="cross_entropy")
    counted = counted_step(spec, batch, "explicit", 0.9, 0.0)
    chain = build_chain(spec, "loss", "op", "params")
    per_sample = plan_cost(loss_first_params(chain), chain).flops + 2 * spec.n_params
    assert counted.backward == batch * per_sample
    assert counted == step_flops(spec, batch, "explicit", 0.9, 0.0)


def test_the_model_by_hand_for_one_hidden_layer():
    n0, n1, n2, batch = 5, 4, 3, 2
    spec = make_spec((n0, n1, n2), activation="relu")
    model = step_flops(spec, batch, "vjp", 0.0, 0.0)
    assert model.forward == (2 * batch * n0 * n1 + batch * n1) + (2 * batch * n1 * n2 + batch * n2)
    # Output layer (identity): dW2, db2, dz1; hidden layer: relu mask, dW1, db1.
    assert model.backward == (2 * n2 * batch * n1 + batch * n2 + 2 * batch * n2 * n1) + (
        batch * n1 + 2 * n1 * batch * n0 + batch * n1
    )
    assert model.update == 2 * (n1 * n0 + n1 + n2 * n1 + n2)
