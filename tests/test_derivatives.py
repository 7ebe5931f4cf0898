"""Every activation's and loss's Jacobian, VJP and JVP against central finite differences."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jacchain.chain.factors import build_chain
from jacchain.cost.memory import stored_bytes
from jacchain.jobs.analyze import measure_peak
from jacchain.model.activations import ACTIVATIONS
from jacchain.model.losses import LOSSES
from jacchain.model.network import network_at_point
from jacchain.model.spec import make_spec
from jacchain.run.arrays import densify
from jacchain.run.jacobians import build_factors, layer_jacobian

RNG = np.random.default_rng(1234)
# Keep relu's kink away from the points where the finite difference is taken.
POINT = np.array([-1.3, -0.4, 0.25, 0.9, 1.7, -2.1])


@pytest.mark.parametrize("name", ACTIVATIONS.names())
def test_activation_jacobian_matches_finite_differences(name, central_jacobian):
    activation = ACTIVATIONS.get(name)
    z = activation.value(POINT)
    numeric = central_jacobian(activation.value, POINT)
    np.testing.assert_allclose(activation.dense_jacobian(POINT, z), numeric, atol=1e-8)


@pytest.mark.parametrize("name", ACTIVATIONS.names())
def test_activation_vjp_and_jvp_are_products_with_the_jacobian(name):
    activation = ACTIVATIONS.get(name)
    z = activation.value(POINT)
    jac = activation.dense_jacobian(POINT, z)
    v, t = RNG.standard_normal(POINT.size), RNG.standard_normal(POINT.size)
    np.testing.assert_allclose(activation.vjp(POINT, z, v), v @ jac, atol=1e-12)
    np.testing.assert_allclose(activation.jvp(POINT, z, t), jac @ t, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ACTIVATIONS.names())
def test_activation_jacobian_times_a_matrix_is_the_product_with_the_jacobian(name, dtype):
    # D m without forming D where it is dense (softmax): the product with the dense Jacobian,
    # new or written over m itself, in m's dtype
    activation = ACTIVATIONS.get(name)
    a = POINT.astype(dtype)
    z = activation.value(a)
    m = RNG.standard_normal((POINT.size, 4)).astype(dtype)
    got = activation.jacobian_times(a, z, m)
    assert got.dtype == dtype
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(got, activation.dense_jacobian(a, z) @ m, rtol=tolerance, atol=tolerance)
    over = m.copy()
    assert activation.jacobian_times(a, z, over, out=over) is over
    np.testing.assert_array_equal(over, got)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_softmax_jacobian_is_diag_z_minus_z_z_transposed_to_the_bit(dtype):
    # built in one n x n array, it holds exactly the numbers of the formula's two arrays
    softmax = ACTIVATIONS.get("softmax")
    z = softmax.value(RNG.standard_normal(9).astype(dtype))
    np.testing.assert_array_equal(softmax.jacobian(z, z), np.diag(z) - np.outer(z, z))
    assert softmax.jacobian(z, z).dtype == dtype


@pytest.mark.parametrize("name", ACTIVATIONS.names())
def test_activation_vjp_and_jvp_work_on_a_batch_of_rows(name):
    activation = ACTIVATIONS.get(name)
    batch = RNG.standard_normal((4, 5))
    z = activation.value(batch)
    v, t = RNG.standard_normal((4, 5)), RNG.standard_normal((4, 5))
    jacobians = [activation.dense_jacobian(batch[i], z[i]) for i in range(4)]
    np.testing.assert_allclose(z, np.stack([activation.value(row) for row in batch]), atol=1e-15)
    np.testing.assert_allclose(
        activation.vjp(batch, z, v), np.stack([v[i] @ jac for i, jac in enumerate(jacobians)]), atol=1e-12
    )
    np.testing.assert_allclose(
        activation.jvp(batch, z, t), np.stack([jac @ t[i] for i, jac in enumerate(jacobians)]), atol=1e-12
    )


def _gelu_by_erf(a):
    return 0.5 * a * (1 + math.erf(a / math.sqrt(2)))


# Each activation's value from its textbook definition, one number at a time in Python floats.
# The finite-difference tests cannot tell f from another solution of the same differential
# equation: 1 / (1 + c e^-a) satisfies f' = f (1 - f) for any c, so a sigmoid with the wrong
# constant passes them all.
DEFINITIONS = {
    "identity": lambda a: a,
    "relu": lambda a: max(a, 0.0),
    "tanh": math.tanh,
    "sigmoid": lambda a: 1 / (1 + math.exp(-a)),
    "gelu": lambda a: 0.5 * a * (1 + math.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a**3))),
}


@pytest.mark.parametrize("name", ACTIVATIONS.names())
def test_an_activation_has_its_textbook_values(name):
    activation = ACTIVATIONS.get(name)
    a = np.concatenate([np.linspace(-6, 6, 49), [0.0, 1e-9, -1e-9]])
    if name == "softmax":
        rows = a.reshape(4, 13)
        expected = np.stack([[math.exp(x) / sum(math.exp(y) for y in row) for x in row] for row in rows])
        np.testing.assert_allclose(activation.value(rows), expected, rtol=1e-13)
        return
    expected = np.array([DEFINITIONS[name](float(x)) for x in a])
    np.testing.assert_allclose(activation.value(a), expected, rtol=1e-13, atol=1e-15)
    if name == "gelu":  # the tanh form is within 5e-4 of x Phi(x) (Hendrycks and Gimpel)
        np.testing.assert_allclose(activation.value(a), [_gelu_by_erf(float(x)) for x in a], atol=5e-4)


def test_sigmoid_and_softmax_stay_finite_where_exp_would_overflow():
    sigmoid, softmax, tanh = (ACTIVATIONS.get(name) for name in ("sigmoid", "softmax", "tanh"))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        np.testing.assert_array_equal(sigmoid.value(np.array([-1000.0, 0.0, 1000.0])), [0.0, 0.5, 1.0])
        np.testing.assert_array_equal(tanh.value(np.array([-1000.0, 1000.0])), [-1.0, 1.0])
        # each row shifted by its own largest entry: a row of small logits keeps its own
        # proportions beside a row of huge ones
        rows = np.array([[1000.0, 1000.0, 0.0], [0.0, 0.0, -1000.0], [-1000.0, -1000.0, -2000.0]])
        np.testing.assert_array_equal(softmax.value(rows), [[0.5, 0.5, 0.0]] * 3)
        for dtype in (np.float32, np.float64):
            assert softmax.value(np.array([[89.0, 0.0]], dtype=dtype)).dtype == dtype


@pytest.mark.parametrize("name", ACTIVATIONS.names())
def test_an_activation_that_does_not_read_its_input_gives_the_same_handed_its_output(name):
    # The trainer writes z over a where `reads_input` is False (model/network.py); every
    # derivative must then come out the same from (z, z) as from (a, z), value_into must be
    # able to write over its own input, and where the flag is True a must really be read.
    activation = ACTIVATIONS.get(name)
    a = np.concatenate([RNG.standard_normal((4, 6)), np.zeros((1, 6)), np.full((1, 6), -2.0)])
    v, t = RNG.standard_normal(a.shape), RNG.standard_normal(a.shape)
    m = RNG.standard_normal((a.shape[1], 3))
    z = activation.value(a)
    from_output = [
        activation.vjp(z, z, v),
        activation.jvp(z, z, t),
        activation.vjp_into(z, z, v, np.empty_like(a)),
        *[activation.jacobian(z[i], z[i]) for i in range(len(a))],
        *[activation.jacobian_times(z[i], z[i], m) for i in range(len(a))],
    ]
    from_input = [
        activation.vjp(a, z, v),
        activation.jvp(a, z, t),
        activation.vjp_into(a, z, v, np.empty_like(a)),
        *[activation.jacobian(a[i], z[i]) for i in range(len(a))],
        *[activation.jacobian_times(a[i], z[i], m) for i in range(len(a))],
    ]
    same = all(np.array_equal(got, want) for got, want in zip(from_output, from_input))
    assert same is not activation.reads_input
    overwritten = a.copy()
    np.testing.assert_array_equal(activation.value_into(overwritten, overwritten), z)


def _target(name, width):
    return np.asarray(3) if name == "cross_entropy" else RNG.standard_normal(width)


@pytest.mark.parametrize("name", ACTIVATIONS.names())
def test_an_activation_keeps_float32_float32(name):
    # a float64 constant (a numpy scalar) would turn a float32 network's activations float64
    activation = ACTIVATIONS.get(name)
    a, v = RNG.standard_normal((5, 6)).astype(np.float32), RNG.standard_normal((5, 6)).astype(np.float32)
    z = activation.value(a)
    assert z.dtype == np.float32
    assert activation.vjp(a, z, v).dtype == np.float32 and activation.jvp(a, z, v).dtype == np.float32


@pytest.mark.parametrize("name", ACTIVATIONS.names())
def test_in_place_value_and_vjp_match_the_allocating_ones(name):
    # The trainer's value_into / vjp_into write into reused buffers (or hand back their input
    # for identity); they must give exactly what value / vjp give.
    activation = ACTIVATIONS.get(name)
    a = RNG.standard_normal((5, 6))
    v = RNG.standard_normal((5, 6))
    z = activation.value(a)
    np.testing.assert_array_equal(activation.value_into(a, np.full_like(a, np.nan)), z)
    np.testing.assert_array_equal(activation.vjp_into(a, z, v, np.full_like(a, np.nan)), activation.vjp(a, z, v))
    # and on one vector, like every activation function (the module's first rule)
    np.testing.assert_array_equal(activation.value_into(a[1], np.full(6, np.nan)), z[1])
    np.testing.assert_array_equal(
        activation.vjp_into(a[1], z[1], v[1], np.full(6, np.nan)), activation.vjp(a[1], z[1], v[1])
    )
    # passes_through says which hand back their input (the step's program reads it there)
    assert (activation.value_into(a, np.empty_like(a)) is a) == activation.passes_through
    assert (activation.vjp_into(a, z, v, np.empty_like(a)) is v) == activation.passes_through


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", LOSSES.names())
def test_a_loss_writes_its_gradient_into_the_buffer_it_is_given(name, dtype):
    loss = LOSSES.get(name)
    z = RNG.standard_normal((6, 4)).astype(dtype)
    y = np.arange(6) % 4 if name == "cross_entropy" else RNG.standard_normal((6, 4)).astype(dtype)
    value, gradient = loss.value_and_gradient(z, y)
    out = loss.gradient_buffer(6, 4, z.dtype)
    assert out.shape == (6, 4) and out.dtype == dtype
    into_value, into = loss.value_and_gradient(z, y, out=out)
    assert into is out and into_value == value
    np.testing.assert_array_equal(into, gradient)


@pytest.mark.parametrize("name", LOSSES.names())
def test_a_loss_takes_one_vector_as_well_as_a_batch(name):
    loss = LOSSES.get(name)
    z = RNG.standard_normal(5)
    y = np.asarray(2) if name == "cross_entropy" else RNG.standard_normal(5)
    value, gradient = loss.value_and_gradient(z, y)
    one_row = np.atleast_1d(y) if name == "cross_entropy" else y[None, :]
    assert value == loss.value(z, y) == pytest.approx(loss.value(z[None, :], one_row))
    assert gradient.shape == (5,)
    np.testing.assert_array_equal(gradient, loss.gradient(z, y))
    out = np.full(5, np.nan)
    into_value, into = loss.value_and_gradient(z, y, out=out)
    assert into is out and into_value == value
    np.testing.assert_array_equal(into, gradient)
    # the chain's first factor, and the products with it, one vector at a time
    np.testing.assert_array_equal(loss.vjp(z, y), gradient)
    np.testing.assert_array_equal(loss.jacobian(z, y), gradient.reshape(1, 5))


def test_the_steps_cross_entropy_makes_its_softmax_in_the_buffer_it_is_given():
    # With `out` from gradient_buffer, the classes x batch copy the loss works on is made in
    # out's memory: the step allocates nothing the size of the batch's logits.
    import tracemalloc

    loss = LOSSES.get("cross_entropy")
    z = RNG.standard_normal((4000, 40))
    y = np.arange(4000) % 40
    out = loss.gradient_buffer(4000, 40, z.dtype)

    def peak(**kwargs):
        tracemalloc.start()
        try:
            loss.value_and_gradient(z, y, **kwargs)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    assert peak() >= z.nbytes  # the control: without a buffer, the copy is new
    assert peak(out=out) < z.nbytes / 4


@pytest.mark.parametrize("name", LOSSES.names())
def test_loss_gradient_matches_finite_differences(name, central_jacobian):
    loss = LOSSES.get(name)
    y = _target(name, POINT.size)
    numeric = central_jacobian(lambda z: loss.value(z, y), POINT)
    np.testing.assert_allclose(loss.jacobian(POINT, y), numeric.reshape(1, -1), atol=1e-8)
    t = RNG.standard_normal(POINT.size)
    np.testing.assert_allclose(loss.jvp(POINT, y, t), loss.jacobian(POINT, y) @ t, atol=1e-12)
    np.testing.assert_allclose(loss.vjp(POINT, y, 2.0), 2.0 * loss.gradient(POINT, y), atol=1e-12)


@pytest.mark.parametrize("name", LOSSES.names())
def test_batched_loss_gradient_is_the_gradient_of_the_batch_mean(name, central_jacobian):
    loss = LOSSES.get(name)
    z = RNG.standard_normal((3, 4))
    y = np.array([0, 3, 1]) if name == "cross_entropy" else RNG.standard_normal((3, 4))
    numeric = central_jacobian(lambda flat: loss.value(flat.reshape(3, 4), y), z.ravel())
    np.testing.assert_allclose(loss.gradient(z, y).ravel(), numeric.ravel(), atol=1e-8)


@settings(max_examples=60, deadline=None)
@given(
    batch=st.integers(1, 40),
    classes=st.integers(1, 12),
    scale=st.sampled_from([1e-3, 1.0, 30.0, 1e4]),
    dtype=st.sampled_from(["float32", "float64"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_the_training_steps_cross_entropy_is_its_value_and_its_gradient(batch, classes, scale, dtype, seed):
    """value_and_gradient (the step's, on a classes x batch copy) against value and gradient
    (log_softmax along each row), from tiny logits to ones that overflow exp unshifted."""
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal((batch, classes)) * scale).astype(dtype)
    y = rng.integers(0, classes, batch)
    loss = LOSSES.get("cross_entropy")
    logits = z.copy()
    value, gradient = loss.value_and_gradient(z, y)
    np.testing.assert_array_equal(z, logits)  # worked on a copy, even where z.T is contiguous
    tolerance = 1e-5 if dtype == "float32" else 1e-12
    assert gradient.shape == z.shape and gradient.dtype == z.dtype
    assert np.isfinite(value) and value == pytest.approx(loss.value(z, y), rel=tolerance, abs=tolerance)
    np.testing.assert_allclose(gradient, loss.gradient(z, y), rtol=0, atol=tolerance / 10)
    # into the step's buffer (the classes x batch copy made in its memory), or into a
    # B x classes array in the other layout: the same numbers to the bit, in `out` itself
    for out in (loss.gradient_buffer(batch, classes, z.dtype), np.empty_like(z)):
        into_value, into = loss.value_and_gradient(z, y, out=out)
        assert into is out and into_value == value
        np.testing.assert_array_equal(into, gradient)
    np.testing.assert_array_equal(z, logits)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "softmax", "relu"])
@pytest.mark.parametrize("granularity", ["layer", "op"])
@pytest.mark.parametrize("of", ["loss", "output"])
def test_chain_product_equals_finite_difference_of_the_whole_network(activation, granularity, of, central_jacobian):
    spec = make_spec((5, 4, 3, 2), activation=activation, output_activation="tanh", loss="mse", seed=3)
    network, x, y = network_at_point(spec)
    chain = build_chain(spec, of, granularity)
    arrays = build_factors(chain, network, network.forward(x), y)
    product = densify(arrays[0])
    for array in arrays[1:]:
        product = product @ densify(array)

    def function(point):
        out = network.forward(point).output
        return network.loss.value(out, y) if of == "loss" else out

    np.testing.assert_allclose(product, central_jacobian(function, x).reshape(product.shape), atol=1e-7)


@pytest.mark.parametrize("activation", ["softmax", "tanh"])
@pytest.mark.parametrize("granularity", ["layer", "op"])
@pytest.mark.parametrize("wrt", ["input", "params"])
def test_building_the_factors_takes_no_more_memory_than_the_model_allows(activation, granularity, wrt):
    # base_memory (cost/memory.py) holds the factors and the largest once more while it is
    # built: a softmax layer's n x n Jacobian, formed on the way to its layer Jacobian D W or to
    # a dense P_i (three of them, 3 x 300^2 x 8 bytes here), or a dense P_i made by a Kronecker
    # product and a concatenation, would go past it
    spec = make_spec((20, 300, 40, 5), activation=activation, loss="mse", seed=1)
    chain = build_chain(spec, "loss", granularity, wrt)
    network, x, y = network_at_point(spec)
    cache = network.forward(x)
    build_factors(chain, network, cache, y)  # what a first build sets up once, outside the count
    peak = measure_peak(lambda: build_factors(chain, network, cache, y))
    largest = max(stored_bytes(factor.rows, factor.cols, factor.structure, spec.itemsize) for factor in chain.factors)
    assert peak <= chain.factor_bytes + largest


def test_layer_jacobian_matches_finite_differences_of_one_layer(central_jacobian):
    spec = make_spec((6, 5, 4), activation="softmax", seed=7)
    network, x, _ = network_at_point(spec)
    cache = network.forward(x)
    softmax = ACTIVATIONS.get("softmax")

    def layer_one(z0):
        return softmax.value(network.weights[0] @ z0 + network.biases[0])

    np.testing.assert_allclose(layer_jacobian(network, cache, 1), central_jacobian(layer_one, x), atol=1e-8)
