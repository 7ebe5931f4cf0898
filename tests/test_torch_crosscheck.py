"""jacchain against PyTorch, an independent implementation of the same mathematics: dl/dx by every
order, the full Jacobian dz_L/dx against torch.func's jacrev and jacfwd, every parameter's
gradient at both granularities, and whole training runs (SGD with momentum and weight decay, on
each BLAS, in both modes, the momentum fold included) against torch.optim.SGD. Optional: skipped
where torch is not installed (`pip install torch==2.13.0`). PyTorch runs once for the module, in
a process of its own (tests/torch_side.py), never beside numpy's BLAS in this one."""

import importlib.util
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jacchain.jobs.plan import plan_orders
from jacchain.model.network import MLP, network_at_point
from jacchain.model.spec import make_spec
from jacchain.run import blas
from jacchain.run.arrays import densify
from jacchain.run.execute import run_counted
from jacchain.run.jacobians import build_factors
from jacchain.training.settings import TrainSettings
from jacchain.training.trainer import Trainer

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="an optional cross-check: pip install torch==2.13.0"
)

# Every activation, hidden and at the output, and both losses.
NETWORKS = {
    "relu-mse": {"sizes": (7, 5, 4, 3), "activation": "relu", "loss": "mse", "seed": 1},
    "tanh-ce": {"sizes": (6, 8, 5, 4), "activation": "tanh", "loss": "cross_entropy", "seed": 2},
    "sigmoid-sigmoid-mse": {"sizes": (5, 6, 3), "activation": "sigmoid", "output_activation": "sigmoid", "seed": 3},
    "gelu-ce": {"sizes": (4, 7, 6, 5), "activation": "gelu", "loss": "cross_entropy", "seed": 4},
    "softmax-mse": {"sizes": (6, 5, 4), "activation": "softmax", "seed": 5},
    "relu-softmax-ce": {"sizes": (5, 4, 6), "output_activation": "softmax", "loss": "cross_entropy", "seed": 6},
}
# A first layer of 60,000 weights: on numpy's BLAS the momentum is folded into its gradient's
# product only from 50,000 weights (Blas.fold_min_weights); on MKL into every layer's.
WIDE = {"sizes": (300, 200, 10), "loss": "cross_entropy", "seed": 7}
BLASES = ["numpy"] + (["mkl"] if blas.mkl_path() is not None else [])


def spec_of(network: dict, dtype: str = "float64"):
    return make_spec(**network, dtype=dtype)


def network_case(kind: str, spec) -> dict:
    network, x, y = network_at_point(spec)
    return {
        "kind": kind,
        "activations": list(spec.activations),
        "loss": spec.loss,
        "weights": network.weights,
        "biases": network.biases,
        "x": x,
        "y": y,
    }


def batches(spec, steps: int, batch: int) -> list:
    rng = np.random.default_rng(spec.seed + 100)
    out = []
    for _ in range(steps):
        X = rng.standard_normal((batch, spec.sizes[0])).astype(spec.dtype)
        if spec.loss == "cross_entropy":
            y = rng.integers(0, spec.sizes[-1], batch)
        else:
            y = rng.standard_normal((batch, spec.sizes[-1])).astype(spec.dtype)
        out.append((X, y))
    return out


TRAINING = [
    {"network": name, "dtype": "float64", "momentum": momentum, "weight_decay": decay, "mode": mode, "blas": library}
    for name in NETWORKS
    for momentum in (0.0, 0.9)
    for decay in (0.0, 0.01)
    for mode in ("vjp", "explicit")
    for library in BLASES
    if mode == "vjp" or library == "numpy"  # --blas mkl runs the batched step only
] + [
    {"network": "wide", "dtype": dtype, "momentum": 0.9, "weight_decay": 0.01, "mode": "vjp", "blas": library}
    for dtype in ("float64", "float32")
    for library in BLASES
]


def training_spec(setting: dict):
    network = WIDE if setting["network"] == "wide" else NETWORKS[setting["network"]]
    return spec_of(network, setting["dtype"])


def training_case(setting: dict) -> dict:
    spec = training_spec(setting)
    network = MLP.initialise(spec)
    return {
        "kind": "train",
        "activations": list(spec.activations),
        "loss": spec.loss,
        "weights": network.weights,
        "biases": network.biases,
        "batches": batches(spec, steps=4, batch=8),
        "lr": 0.05,
        "momentum": setting["momentum"],
        "weight_decay": setting["weight_decay"],
    }


@pytest.fixture(scope="module")
def cases() -> dict:
    """Every case PyTorch answers, by key (built here, not at import, where torch is missing)."""
    return (
        {("input", name, g): network_case("input", spec_of(n)) for name, n in NETWORKS.items() for g in ("layer", "op")}
        | {("output", name): network_case("output", spec_of(n)) for name, n in NETWORKS.items()}
        | {
            ("params", name, g): network_case("params", spec_of(n))
            for name, n in NETWORKS.items()
            for g in ("layer", "op")
        }
        | {("train", i): training_case(setting) for i, setting in enumerate(TRAINING)}
    )


@pytest.fixture(scope="module")
def torch_answers(tmp_path_factory, cases) -> dict:
    folder = tmp_path_factory.mktemp("torch")
    keys = list(cases)
    with open(folder / "cases.pickle", "wb") as file:
        pickle.dump([cases[key] for key in keys], file)
    side = Path(__file__).with_name("torch_side.py")
    subprocess.run(
        [sys.executable, str(side), str(folder / "cases.pickle"), str(folder / "answers.pickle")],
        check=True,
        timeout=300,
    )
    with open(folder / "answers.pickle", "rb") as file:
        return dict(zip(keys, pickle.load(file)))


def jacchain_results(spec, of: str, wrt: str, granularity: str) -> dict:
    """Every order's results at the spec's point, densified: {order name: [array, ...]}."""
    planning = plan_orders(spec, of=of, wrt=wrt, granularity=granularity)
    network, x, y = network_at_point(spec)
    arrays = build_factors(planning.chain, network, network.forward(x), y)
    results = {}
    for planned in planning.orders:
        values, _ = run_counted(planned.plan, arrays)
        results[planned.order.name] = [densify(value) for value in values]
    return results


@pytest.mark.parametrize("granularity", ["layer", "op"])
@pytest.mark.parametrize("name", list(NETWORKS))
def test_the_input_gradient_is_torchs_by_every_order(torch_answers, name, granularity):
    expected = torch_answers["input", name, granularity]["gradient"]
    results = jacchain_results(spec_of(NETWORKS[name]), "loss", "input", granularity)
    assert set(results) == {"loss-first", "input-first", "optimal"}
    for (gradient,) in results.values():
        np.testing.assert_allclose(gradient.ravel(), expected, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", list(NETWORKS))
def test_the_full_jacobian_is_torchs_jacrev_and_jacfwd(torch_answers, name):
    answer = torch_answers["output", name]
    np.testing.assert_allclose(answer["jacrev"], answer["jacfwd"], rtol=1e-12, atol=1e-15)
    for (jacobian,) in jacchain_results(spec_of(NETWORKS[name]), "output", "input", "layer").values():
        assert jacobian.shape == answer["jacrev"].shape
        np.testing.assert_allclose(jacobian, answer["jacrev"], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("granularity", ["layer", "op"])
@pytest.mark.parametrize("name", list(NETWORKS))
def test_every_parameter_gradient_is_torchs(torch_answers, name, granularity):
    answer = torch_answers["params", name, granularity]
    # theta_i = (W_i row-major, b_i), layer L first
    expected = [np.concatenate([w.ravel(), b]) for w, b in zip(answer["weights"], answer["biases"])][::-1]
    for gradients in jacchain_results(spec_of(NETWORKS[name]), "loss", "params", granularity).values():
        assert len(gradients) == len(expected)
        for gradient, theta in zip(gradients, expected):
            np.testing.assert_allclose(gradient.ravel(), theta, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("index", range(len(TRAINING)), ids=lambda i: "-".join(map(str, TRAINING[i].values())))
def test_training_steps_are_torch_sgds(cases, torch_answers, index):
    setting = TRAINING[index]
    spec, case, answer = training_spec(setting), cases["train", index], torch_answers["train", index]
    settings = TrainSettings(
        lr=case["lr"],
        momentum=setting["momentum"],
        weight_decay=setting["weight_decay"],
        mode=setting["mode"],
        blas=setting["blas"],
    )
    trainer = Trainer(MLP(spec, [w.copy() for w in case["weights"]], [b.copy() for b in case["biases"]]), settings)
    losses = [trainer.step(X, y) for X, y in case["batches"]]
    rtol, atol = (1e-10, 1e-13) if setting["dtype"] == "float64" else (1e-5, 1e-6)
    np.testing.assert_allclose(losses, answer["losses"], rtol=rtol)
    for mine, theirs in zip(trainer.network.weights + trainer.network.biases, answer["weights"] + answer["biases"]):
        assert mine.dtype == theirs.dtype
        np.testing.assert_allclose(mine, theirs, rtol=rtol, atol=atol)
