"""The MLP itself (model/network.py): its seeded initialisation and its forward pass, the one
the analysis, the trainer's explicit mode and the synthetic teacher all run."""

import numpy as np
import pytest

from jacchain.model.activations import ACTIVATIONS
from jacchain.model.network import MLP, ForwardBuffers
from jacchain.model.spec import make_spec


def _with_random_biases(network, seed=5):
    # initialise leaves every bias zero, where adding and subtracting it are the same
    rng = np.random.default_rng(seed)
    for bias in network.biases:
        bias[...] = rng.standard_normal(bias.shape)
    return network


def _by_hand(network, x):
    """Each layer written out: a_i = z_{i-1} W_i^T + b_i, z_i = f_i(a_i)."""
    z = x
    for weight, bias, activation in zip(network.weights, network.biases, network.activations):
        z = activation.value(z @ weight.T + bias)
    return z


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "gelu", "softmax"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_forward_pass_into_buffers_is_the_allocating_one_written_there(activation, dtype):
    spec = make_spec((7, 6, 5, 4), activation=activation, dtype=dtype, seed=3)
    network = _with_random_biases(MLP.initialise(spec))
    X = np.random.default_rng(1).standard_normal((9, 7)).astype(dtype)
    buffers = ForwardBuffers.allocate(spec, 9)
    for buffer in (*buffers.pre, *buffers.post):
        buffer.fill(np.nan)
    into, fresh = network.forward(X, buffers), network.forward(X)
    tolerance = 1e-6 if dtype == "float32" else 1e-13
    np.testing.assert_allclose(fresh.output, _by_hand(network, X), rtol=tolerance, atol=tolerance)
    for i, layer in enumerate(network.activations):
        np.testing.assert_allclose(into.post[i + 1], fresh.post[i + 1], rtol=tolerance, atol=tolerance)
        if layer.reads_input:
            np.testing.assert_allclose(into.pre[i], fresh.pre[i], rtol=tolerance, atol=tolerance)
        else:  # z_i written over a_i (ForwardCache)
            assert into.pre[i] is into.post[i + 1]
        # written where the trainer keeps them, not into arrays of their own
        assert into.post[i + 1] is buffers.post[i] and into.post[i + 1].dtype == spec.dtype
        assert np.shares_memory(into.pre[i], buffers.pre[i])
    assert into.post[0] is X


def test_a_layer_whose_activation_reads_no_input_writes_z_over_a():
    spec = make_spec((6, 5, 5, 3), activations=["tanh", "gelu", "identity"])
    buffers = ForwardBuffers.allocate(spec, 4)
    shared = [pre is post for pre, post in zip(buffers.pre, buffers.post)]
    assert shared == [not ACTIVATIONS.get(name).reads_input for name in spec.activations] == [True, False, True]
    distinct = {id(buffer): buffer for buffer in (*buffers.pre, *buffers.post)}.values()
    assert ForwardBuffers.entries(spec, 4) == sum(buffer.size for buffer in distinct)


@pytest.mark.parametrize("activation, gain", [("relu", 2.0), ("tanh", 1.0), ("sigmoid", 1.0)])
def test_initial_weights_have_the_variance_of_he_before_relu_and_glorot_otherwise(activation, gain):
    # Var W_ij = gain / n_in: 2 / n_in before relu (He et al. 2015), 1 / n_in otherwise; the
    # last layer's identity has gain 1. 120,000 draws put the sample's standard deviation
    # within 0.3% of the true one at one standard error, so 3% tolerates ten.
    spec = make_spec((400, 300, 200), activation=activation, dtype="float32", seed=11)
    network = MLP.initialise(spec)
    gains = [gain, 1.0]
    for weight, bias, n_in, n_out, expected in zip(network.weights, network.biases, spec.sizes, spec.sizes[1:], gains):
        assert weight.shape == (n_out, n_in) and weight.dtype == np.float32
        assert float(weight.std()) == pytest.approx(np.sqrt(expected / n_in), rel=0.03)
        assert abs(float(weight.mean())) < 0.1 * np.sqrt(expected / n_in)
        assert bias.dtype == np.float32 and not bias.any()


def test_initialise_draws_from_the_generator_given_or_else_from_the_spec_seed():
    spec = make_spec((5, 4, 3), seed=21)

    def same(a, b):
        return all(np.array_equal(u, v) for u, v in zip(a.weights, b.weights))

    assert same(MLP.initialise(spec), MLP.initialise(spec, np.random.default_rng(21)))
    assert same(MLP.initialise(spec, np.random.default_rng(99)), MLP.initialise(spec, np.random.default_rng(99)))
    assert not same(MLP.initialise(spec), MLP.initialise(spec, np.random.default_rng(99)))
    assert not same(MLP.initialise(spec), MLP.initialise(make_spec((5, 4, 3), seed=22)))
