"""--wrt params: gradients against finite differences, the caching argument counted exactly."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from jacchain.chain.factors import build_chain
from jacchain.cli import cli
from jacchain.jobs.analyze import analyze
from jacchain.model.network import network_at_point
from jacchain.model.spec import make_spec
from jacchain.planners.orders import ORDERS
from jacchain.run.arrays import Kron, densify
from jacchain.run.execute import run_counted
from jacchain.run.jacobians import build_factors


@pytest.mark.parametrize("granularity", ["layer", "op"])
@pytest.mark.parametrize("order", ["loss-first", "input-first"])
@pytest.mark.parametrize("activation", ["tanh", "softmax"])
def test_parameter_gradients_match_finite_differences(granularity, order, activation, central_jacobian):
    spec = make_spec((4, 5, 3, 2), activation=activation, output_activation="sigmoid", loss="mse", seed=2)
    network, x, y = network_at_point(spec)
    chain = build_chain(spec, "loss", granularity, "params")
    arrays = build_factors(chain, network, network.forward(x), y)
    gradients, _ = run_counted(ORDERS.get(order).build(chain), arrays)
    # Outputs come layer L first; theta_i = (W_i row-major, b_i).
    for gradient, layer in zip(gradients, range(spec.n_layers, 0, -1)):
        weight, bias = network.weights[layer - 1], network.biases[layer - 1]

        def loss_at(theta, weight=weight, bias=bias):
            saved = weight.copy(), bias.copy()
            weight[...] = theta[: weight.size].reshape(weight.shape)
            bias[...] = theta[weight.size :]
            value = network.loss.value(network.forward(x).output, y)
            weight[...], bias[...] = saved
            return value

        theta = np.concatenate([weight.ravel(), bias])
        np.testing.assert_allclose(densify(gradient).ravel(), central_jacobian(loss_at, theta).ravel(), atol=1e-8)


def test_kron_factor_expands_to_the_dense_parameter_jacobian():
    d, z = np.array([2.0, -1.0]), np.array([3.0, 5.0, 7.0])
    expected = np.array(
        [
            [2 * 3, 2 * 5, 2 * 7, 0, 0, 0, 2, 0],
            [0, 0, 0, -3, -5, -7, 0, -1],
        ]
    )
    np.testing.assert_array_equal(Kron(d, z).dense(), expected)


def test_caching_argument_counted_exactly_for_the_article_network():
    n0, n1, n2, n3 = 784, 512, 256, 10
    theta = {1: n1 * n0 + n1, 2: n2 * n1 + n2, 3: n3 * n2 + n3}
    result = analyze(make_spec((n0, n1, n2, n3)), wrt="params", analytic=True)
    # Loss-first, dense P_i (layer granularity): rows g, gJ3, gJ3J2 once each, then one
    # row-times-P_i per layer.
    loss_first = (n3 * n2 + n2 * n1) + (n3 * theta[3] + n2 * theta[2] + n1 * theta[1])
    # Input-first: every layer's |theta_i| tangents pushed through every later J, then g.
    input_first = (
        n3 * theta[3] + n3 * n2 * theta[2] + n3 * theta[2] + n2 * n1 * theta[1] + n3 * n2 * theta[1] + n3 * theta[1]
    )
    assert result.order("loss-first").macs == loss_first
    assert result.order("input-first").macs == input_first
    assert result.order("optimal").macs == loss_first


def test_op_granularity_uses_the_outer_product_structure():
    n0, n1, n2 = 6, 4, 3
    result = analyze(make_spec((n0, n1, n2), activation="tanh"), wrt="params", granularity="op", analytic=True)
    # g P2 (outer product with d = 1: n2*|theta_2| multiplies), g W2, then D1, then the row
    # times P1: n1*|theta_1|... as one multiply per entry of each result.
    expected = 1 * (n2 * n1 + n2) + 2 * (1 * n2 * n1) + n1 + 1 * (n1 * n0 + n1)
    assert result.order("loss-first").flops == expected
    # Input-first (the output layer is identity: no D2): g meets P2, one multiply per entry of
    # the 1 x |theta_2| result; D1 rescales P1's row scale (n1); W2 meets D1 P1, one multiply
    # per entry of the n2 x |theta_1| result; then g times that dense block, 2*1*n2*|theta_1|.
    theta1, theta2 = n1 * n0 + n1, n2 * n1 + n2
    input_first = 1 * theta2 + n1 + n2 * theta1 + 2 * 1 * n2 * theta1
    assert result.order("input-first").flops == input_first


def test_article_network_ratio_is_orders_of_magnitude_in_op_granularity():
    result = analyze(make_spec((784, 512, 256, 10)), wrt="params", granularity="op", analytic=True)
    assert result.order("input-first").flops > 1000 * result.order("loss-first").flops


def test_rows_that_do_not_fit_stay_analytic_and_say_so():
    result = CliRunner().invoke(
        cli,
        [
            "analyze",
            "784,512,256,10",
            "--wrt",
            "params",
            "--granularity",
            "op",
            "--max-memory",
            "1GiB",
            "--repeats",
            "1",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["orders"]["loss_first"]["time_s"] is not None
    assert data["orders"]["input_first"]["time_s"] is None
    assert "input-first is analytic" in data["note"]


def test_params_needs_the_loss():
    result = CliRunner().invoke(cli, ["analyze", "8,4,2", "--wrt", "params", "--of", "output"])
    assert result.exit_code == 2
    assert (
        result.output.strip()
        == "Error: --wrt params needs --of loss: jacchain computes the gradient dl/dtheta, not dz_L/dtheta"
    )
