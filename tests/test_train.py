"""Training: VJP vs explicit gradients, finite differences, learning, bad data, divergence."""

import gc
import json
import time
import tracemalloc
import warnings
import weakref
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from jacchain.cli import cli
from jacchain.jobs.analyze import analyze, measure_peak
from jacchain.model.config import load_network
from jacchain.model.network import MLP
from jacchain.model.spec import make_spec
from jacchain.run import blas
from jacchain.training.data import SYNTHETIC_SAMPLES, load_dataset
from jacchain.training.gradcheck import grad_check
from jacchain.training.loop import train
from jacchain.training.settings import TrainSettings
from jacchain.training.step_cost import EVAL_CHUNK, batch_entries, train_memory
from jacchain.training.trainer import Trainer

ROOT = Path(__file__).parent.parent


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.mark.parametrize("activation, loss", [("relu", "cross_entropy"), ("tanh", "mse"), ("sigmoid", "cross_entropy")])
def test_batched_vjp_and_explicit_jacobian_gradients_agree(activation, loss):
    spec = make_spec((12, 9, 7, 4), activation=activation, loss=loss, seed=4)
    data = load_dataset("synthetic", spec)
    X, y = data.X_train[:16], data.y_train[:16]
    fast = Trainer(MLP.initialise(spec), TrainSettings())
    slow = Trainer(MLP.initialise(spec), TrainSettings(mode="explicit"))
    assert fast.vjp_gradients(X, y) == pytest.approx(slow.explicit_gradients(X, y))
    for a, b in zip(fast.grads_w + fast.grads_b, slow.grads_w + slow.grads_b):
        np.testing.assert_allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("activation", ["relu", "tanh", "softmax", "gelu"])
def test_gradient_check_below_one_in_a_million(activation):
    spec = make_spec((10, 8, 6, 3), activation=activation, loss="cross_entropy", seed=1)
    data = load_dataset("synthetic", spec)
    check = grad_check(spec, MLP.initialise(spec), data.X_train[:32], data.y_train[:32])
    assert check.coordinates > 20
    assert check.max_rel_error < 1e-6


@pytest.mark.parametrize("array", ["grads_w", "grads_b"])
def test_the_gradient_check_finds_a_gradient_one_percent_off(monkeypatch, array):
    # the check must fail a wrong gradient, not only pass a right one: W2's (or b2's)
    # gradient 1% too large is a relative error of 0.01 / 1.01 at every coordinate of it
    computed = Trainer.vjp_gradients

    def one_percent_off(self, *args, **kwargs):
        loss = computed(self, *args, **kwargs)
        getattr(self, array)[1] *= 1.01
        return loss

    monkeypatch.setattr(Trainer, "vjp_gradients", one_percent_off)
    spec = make_spec((10, 8, 6, 3), activation="tanh", loss="cross_entropy", seed=1)
    data = load_dataset("synthetic", spec)
    check = grad_check(spec, MLP.initialise(spec), data.X_train[:32], data.y_train[:32])
    assert check.max_rel_error == pytest.approx(0.01 / 1.01, rel=1e-4)


@pytest.mark.parametrize("activation, dtype", [("relu", "float64"), ("tanh", "float32")])
def test_the_gradient_check_samples_every_array_and_differentiates_in_float64(activation, dtype):
    # 12 coordinates of each array, or all of a smaller one; those whose steps all cross a relu
    # kink are skipped, the rest compared; a float32 network is checked on a float64 copy
    spec = make_spec((10, 8, 6, 3), activation=activation, loss="mse", dtype=dtype, seed=2)
    data = load_dataset("synthetic", spec)
    network = MLP.initialise(spec)
    check = grad_check(spec, network, data.X_train[:32], data.y_train[:32])
    assert check.coordinates + check.skipped_at_kinks == 12 + 12 + 12 + 8 + 6 + 3
    assert check.coordinates > 20 and check.max_rel_error < 1e-6
    assert all(w.dtype == np.dtype(dtype) for w in network.weights)  # the network itself is left as it was
    assert check == grad_check(spec, network, data.X_train[:32], data.y_train[:32])  # seeded: the same picks


def kinked_network(gap):
    """A relu layer of two units on two samples: unit 0 is `gap` above its kink on the first
    sample and well on (1) on the second; unit 1 is dead on both (its pre-activation -1)."""
    spec = make_spec((3, 2, 1), activation="relu", loss="mse")
    W1, b1 = np.array([[1 - gap, 0.0, 0.0], [0.0, 0.0, 0.0]]), np.array([2 * gap - 1, -1.0])
    network = MLP(spec, [W1, np.array([[0.7, -0.4]])], [b1, np.array([0.1])])
    return spec, network, np.array([[1.0, 1, 1], [2.0, 1, 1]]), np.array([[2.0], [-1.0]])


def test_the_gradient_check_skips_coordinates_whose_every_step_crosses_a_relu_kink():
    # unit 0 at 1e-12 from its kink: every step of W1's first row and of b1[0] turns it off on
    # the first sample, where the stencil would see half a slope: those 4 are skipped and the
    # other 7 compared (W1's second row and b1[1] structural zeros of the dead unit); a stray
    # 0 / 0 there would warn, which is an error here
    spec, network, X, y = kinked_network(1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check = grad_check(spec, network, X, y)
    assert (check.coordinates, check.skipped_at_kinks) == (7, 4) and check.max_rel_error < 1e-8


def test_the_gradient_check_retries_a_step_that_crosses_a_kink_smaller():
    # 5e-5 from the kink: steps of 1e-4 cross it, steps of 1e-5 (at most 2e-5) do not
    spec, network, X, y = kinked_network(5e-5)
    check = grad_check(spec, network, X, y)
    assert (check.coordinates, check.skipped_at_kinks) == (11, 0) and check.max_rel_error < 1e-8


def test_the_gradient_checks_default_seed_is_0():
    spec = make_spec((10, 8, 6, 3), activation="tanh", loss="cross_entropy", seed=1)
    data = load_dataset("synthetic", spec)
    network, X, y = MLP.initialise(spec), data.X_train[:32], data.y_train[:32]
    few = {"per_array": 2}  # two coordinates of each array: the seed's picks decide the worst
    assert grad_check(spec, network, X, y, **few) == grad_check(spec, network, X, y, seed=0, **few)
    assert grad_check(spec, network, X, y, **few) != grad_check(spec, network, X, y, seed=1, **few)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_the_step_program_is_the_one_the_step_runs(momentum):
    # the benchmark scripts time the calls of `step_program`: they must be the step's own
    spec = make_spec((20, 300, 10), activation="tanh", loss="cross_entropy")  # W1 large enough to fold
    data = load_dataset("synthetic", spec)
    X, y = data.X_train[:16], data.y_train[:16]
    trainer = Trainer(MLP.initialise(spec), TrainSettings(lr=0.1, momentum=momentum))
    trainer.step(X, y)
    assert list(trainer._programs.values()) == [trainer.step_program(X)]  # no second program made
    if momentum == 0.0:
        # plain SGD: the program's products make the whole update, as the step's did
        twin = Trainer(MLP.initialise(spec), TrainSettings(lr=0.1, momentum=momentum))
        twin.step_program(X).gradients(X, y)
        for mine, its in zip(trainer.network.weights, twin.network.weights):
            np.testing.assert_array_equal(mine, its)


def test_the_step_program_names_each_call_as_the_step_scripts_print_it():
    # 5 -> 4 (relu) -> 3, cross-entropy, a batch of 2, plain SGD at lr 0.1: each product
    # 2*m*n*k FLOPs, a bias add or sum and the relu's VJP one per entry, the forward
    # activation and the loss not counted; layer 2's input gradient before its weights'
    # update (it reads W2), which the product makes whole (W = -0.1 dl/dW + 1 W); no input
    # gradient for layer 1
    spec = make_spec((5, 4, 3), activation="relu", loss="cross_entropy")
    X = load_dataset("synthetic", spec).X_train[:2]
    program = Trainer(MLP.initialise(spec), TrainSettings(lr=0.1)).step_program(X)
    assert [(c.kind, c.label, c.phase, c.flops, c.shape) for c in program.calls] == [
        ("product", "product 2x5 x 5x4", "forward", 80, (2, 5, 4)),
        ("bias add", "bias add 2x4", "forward", 8, ()),
        ("activation", "relu 2x4", "forward", 0, ()),
        ("product", "product 2x4 x 4x3", "forward", 48, (2, 4, 3)),
        ("bias add", "bias add 2x3", "forward", 6, ()),
        ("loss", "loss 2x3", "backward", 0, ()),
        ("product", "product 2x3^T x 3x4^T", "backward", 48, (2, 3, 4)),
        ("product", "product 4x2^T x 2x3^T, alpha -0.1, beta 1", "backward", 48, (4, 2, 3)),
        ("bias sum", "bias sum 2x3^T", "backward", 6, ()),
        ("activation", "relu VJP 2x4", "backward", 8, ()),
        ("product", "product 5x2^T x 2x4, alpha -0.1, beta 1", "backward", 80, (5, 2, 4)),
        ("bias sum", "bias sum 2x4", "backward", 8, ()),
    ]


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_no_batch_outlives_its_step(momentum):
    # the products that read the batch hold only its layout: a data set's batches are not kept
    # alive by the programs made from them
    spec = make_spec((20, 300, 10), activation="tanh", loss="cross_entropy")
    data = load_dataset("synthetic", spec)
    trainer = Trainer(MLP.initialise(spec), TrainSettings(lr=0.1, momentum=momentum))
    X, y = data.X_train[:16].copy(), data.y_train[:16].copy()
    batch = weakref.ref(X)
    trainer.step(X, y)
    del X
    gc.collect()
    assert batch() is None and len(trainer._programs) == 1


@pytest.mark.parametrize("momentum, decay, per_parameter", [(0.0, 0.0, 2), (0.9, 0.0, 4), (0.9, 1e-4, 6)])
def test_a_runs_update_flops_count_its_momentum_and_weight_decay(momentum, decay, per_parameter):
    # per parameter: scale and subtract (2), plus a scale and an add for the velocity, and
    # for the decay; the run's counted update must equal them (else the run stops), and the
    # input-first step it is compared with pays the same update
    spec = make_spec((10, 8, 3), activation="tanh", loss="cross_entropy")
    data = load_dataset("synthetic", spec)
    settings = TrainSettings(steps=3, batch=16, lr=0.05, momentum=momentum, weight_decay=decay)
    plain = train(spec, data, replace(settings, momentum=0.0, weight_decay=0.0))
    result = train(spec, data, settings)
    assert result.flops.update == per_parameter * spec.n_params == per_parameter * (10 * 8 + 8 + 8 * 3 + 3)
    assert result.flops.forward == plain.flops.forward and result.flops.backward == plain.flops.backward
    assert result.input_first_flops - plain.input_first_flops == (per_parameter - 2) * spec.n_params
    begin = time.perf_counter()
    again = train(spec, data, settings)
    assert again.step_time.repeats == 3 and 0 < again.train_seconds <= time.perf_counter() - begin


def test_loss_decreases_on_digits_and_reaches_95_percent():
    spec = load_network(str(ROOT / "configs" / "digits.yaml"))
    data = load_dataset("digits", spec)
    result = train(spec, data, TrainSettings(dataset="digits", epochs=20, batch=32, lr=0.05, momentum=0.9))
    assert np.mean(result.loss_history[-20:]) < 0.2 * np.mean(result.loss_history[:20])
    assert result.test_accuracy >= 0.95


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_loss_decreases_on_synthetic_data(loss):
    spec = make_spec((20, 32, 5), activation="tanh", loss=loss, seed=3)
    data = load_dataset("synthetic", spec)
    result = train(spec, data, TrainSettings(steps=300, batch=32, lr=0.05, momentum=0.9))
    assert result.test_loss < 0.7 * np.mean(result.loss_history[:5])


def test_training_is_deterministic_for_a_seed():
    spec = make_spec((20, 16, 5), loss="cross_entropy", seed=9)
    data = load_dataset("synthetic", spec, seed=9)
    runs = [train(spec, data, TrainSettings(steps=50), seed=9).loss_history for _ in range(2)]
    assert runs[0] == runs[1]


def test_flops_per_step_counted_from_the_operations_performed():
    n0, n1, n2, batch = 64, 32, 10, 16
    spec = make_spec((n0, n1, n2), loss="cross_entropy")
    data = load_dataset("synthetic", spec)
    result = train(spec, data, TrainSettings(steps=2, batch=batch, momentum=0.9))
    # Forward: two matmuls plus the bias adds (one FLOP per entry of a).
    forward = 2 * batch * n0 * n1 + batch * n1 + 2 * batch * n1 * n2 + batch * n2
    # Backward: output layer: dW, db; then dz1 = delta W2; relu mask; dW1, db1.
    backward = 2 * n2 * batch * n1 + batch * n2 + 2 * batch * n2 * n1 + batch * n1 + 2 * n1 * batch * n0 + batch * n1
    params = n1 * n0 + n1 + n2 * n1 + n2
    assert result.flops.forward == forward
    assert result.flops.backward == backward
    assert result.flops.update == 4 * params  # momentum: v = mu v + g, w -= lr v
    # Input-first: the same forward and update, and per sample every parameter's tangents
    # pushed forward (the structured op-granularity chain that `analyze --wrt params` counts).
    per_sample = analyze(spec, wrt="params", granularity="op", analytic=True).order("input-first").flops
    assert result.input_first_flops == forward + batch * per_sample + 4 * params


def test_train_cli_on_the_digits_config_needs_no_options():
    result = invoke("train", ROOT / "configs" / "digits.yaml", "--format", "json", "--epochs", "3")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    for key in (
        "loss_history",
        "train_loss",
        "test_loss",
        "test_accuracy",
        "step_time_s",
        "flops_per_step",
        "grad_check",
        "dataset",
        "steps",
        "batch",
    ):
        assert key in data
    assert data["dataset"] == "digits" and data["batch"] == 32 and data["grad_check"] is None
    assert len(data["loss_history"]) == data["steps"] == 3 * 45
    assert set(data["flops_per_step"]) >= {"loss_first", "input_first"}


def test_train_markdown_is_a_table_with_a_header_and_the_reports_rows():
    result = invoke("train", "4,3,2", "--steps", "2", "--format", "markdown")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "### jacchain train 4,3,2"
    header, rule, *rows = [line for line in lines if line.startswith("|")]
    # a table without header cells renders as an empty bar above the rows, or not at all
    assert header == "| figure | value |" and rule == "|---|---|"
    assert rows[0].startswith("| dataset | synthetic")
    assert any(row.startswith("| FLOPs per step, loss-first") for row in rows)


def test_npz_and_csv_datasets(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((100, 6)), rng.integers(0, 3, 100)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    np.savetxt(tmp_path / "d.csv", np.column_stack([X, y]), delimiter=",", header="a,b,c,d,e,f,label")
    for name in ("d.npz", "d.csv"):
        result = invoke(
            "train",
            "6,8,3",
            "--loss",
            "cross_entropy",
            "--dataset",
            tmp_path / name,
            "--steps",
            "5",
            "--format",
            "json",
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["n_train"] + json.loads(result.output)["n_test"] == 100


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["65,10", "--loss", "cross_entropy", "--dataset", "digits"],
            "Error: dataset digits has 64 features but the network's input width is 65",
        ),
        (
            ["64,5", "--loss", "cross_entropy", "--dataset", "digits"],
            "Error: dataset digits has 10 classes (y row 9) but the network has 5 outputs",
        ),
        (
            ["64,10", "--dataset", "digits"],  # mse, the default loss, on class labels: the loss that takes them named
            "Error: dataset digits has 1 target column but the network has 10 outputs, and loss mse needs one per "
            "output; its y holds class labels 0..9, which the cross_entropy loss takes",
        ),
        (
            ["64,9", "--dataset", "digits"],  # labels past the outputs: no loss would take them, so no hint
            "Error: dataset digits has 1 target column but the network has 9 outputs, and loss mse needs one per output",
        ),
        (
            ["64,10", "--dataset", "mnist"],
            "Error: unknown dataset 'mnist'; valid options are: digits, synthetic, or a path to a .npz or .csv file",
        ),
        (["64,10", "--lr", "-1"], "Error: --lr must be a positive number, got -1.0"),
        (["64,10", "--steps", "3", "--epochs", "2"], "Error: give --steps or --epochs, not both"),
    ],
)
def test_bad_datasets_and_settings_are_refused(args, message):
    result = invoke("train", *args)
    assert result.exit_code == 2
    assert result.output.strip() == message


def test_divergence_stops_with_exit_1_and_writes_nothing(tmp_path):
    target = tmp_path / "out.json"
    result = invoke(
        "train",
        "20,64,64,5",
        "--activation",
        "identity",
        "--dataset",
        "synthetic",
        "--lr",
        "1e6",
        "--steps",
        "50",
        "--format",
        "json",
        "-o",
        target,
    )
    assert result.exit_code == 1
    assert "diverged at step" in result.output and "lower --lr" in result.output
    assert not target.exists()


def test_train_grad_check_through_the_command_line():
    result = invoke(
        "train",
        "10,8,3",
        "--loss",
        "cross_entropy",
        "--activation",
        "tanh",
        "--steps",
        "3",
        "--grad-check",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    check = json.loads(result.output)["grad_check"]
    assert check["max_rel_error"] < 1e-6
    # 12 coordinates sampled per array, all of an array smaller than that: W1, W2, then b1 (8), b2 (3).
    assert check["coordinates"] == 12 + 12 + 8 + 3
    assert check["skipped_at_kinks"] == 0  # tanh has no kinks


def test_float32_training_keeps_float32_and_learns():
    spec = make_spec((20, 32, 5), activation="tanh", loss="cross_entropy", dtype="float32", seed=3)
    data = load_dataset("synthetic", spec)
    assert data.X_train.dtype == np.float32
    trainer = Trainer(MLP.initialise(spec), TrainSettings())
    trainer.vjp_gradients(data.X_train[:8], data.y_train[:8])
    assert {grad.dtype for grad in trainer.grads_w + trainer.grads_b} == {np.dtype(np.float32)}
    result = train(spec, data, TrainSettings(steps=200, batch=32, lr=0.05, momentum=0.9))
    assert result.test_loss < 0.7 * np.mean(result.loss_history[:5])


@pytest.mark.parametrize("routines", [True, False])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_update_is_sgd_with_decay_and_momentum_as_written(monkeypatch, routines, dtype):
    if not routines:  # numpy's own arithmetic where the BLAS routines cannot be found
        monkeypatch.setattr(blas.Blas, "_routines", lambda self, name, char: None)
    spec = make_spec((30, 20, 10), loss="cross_entropy", seed=2, dtype=dtype)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 30)).astype(dtype), rng.integers(0, 10, 8)
    lr, momentum, decay = 0.1, 0.9, 1e-3
    trainer = Trainer(MLP.initialise(spec), TrainSettings(lr=lr, momentum=momentum, weight_decay=decay))
    params = [p.astype(np.float64) for p in trainer.network.weights + trainer.network.biases]
    velocity = [np.zeros_like(p) for p in params]
    for _ in range(3):
        trainer.vjp_gradients(X, y)
        grads = [g.astype(np.float64) for g in trainer.grads_w + trainer.grads_b]
        trainer.update()
        for p, v, g in zip(params, velocity, grads):
            v *= momentum
            v += g + decay * p
            p -= lr * v
    tolerance = 1e-12 if dtype == "float64" else 1e-5
    for got, want in zip(trainer.network.weights + trainer.network.biases, params):
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("decay", [0.0, 1e-3])
@pytest.mark.parametrize(
    "fold_min, folded_layers", [(0, [True, True, True]), (100, [True, False, True]), (10**9, [False] * 3)]
)
def test_a_step_folding_the_weight_gradient_into_the_velocity_is_the_same_step(
    monkeypatch, decay, fold_min, folded_layers
):
    # step() with momentum writes dl/dW of layers with at least fold_min_weights weights straight
    # into the velocity (a gemm with beta), and those lead the flat buffers; the step as written
    # (gradients, then the update) must land on the same parameters whichever layers fold (to
    # rounding: the gemm adds beta v inside its kernel, the update's sweep after the product)
    monkeypatch.setattr(blas.Blas, "fold_min_weights", fold_min)
    spec = make_spec((30, 20, 3, 40), loss="cross_entropy", seed=4)  # 600, 60 and 120 weights
    rng = np.random.default_rng(1)
    settings = TrainSettings(lr=0.1, momentum=0.9, weight_decay=decay)
    folded, written = Trainer(MLP.initialise(spec), settings), Trainer(MLP.initialise(spec), settings)
    assert folded._folded == folded_layers
    for _ in range(4):
        X, y = rng.standard_normal((8, 30)), rng.integers(0, 40, 8)
        value = folded.step(X, y)
        assert value == pytest.approx(written.vjp_gradients(X, y), rel=1e-13)
        written.update()
    for got, want in zip(
        folded.network.weights + folded.network.biases, written.network.weights + written.network.biases
    ):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


NEEDS_MKL = pytest.mark.skipif(blas.mkl_path() is None, reason="MKL is an optional extra: pip install 'jacchain[mkl]'")


@pytest.mark.parametrize("library", ["numpy", "no routines", pytest.param("mkl", marks=NEEDS_MKL)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("decay", [0.0, 1e-3])
def test_a_plain_sgd_step_makes_its_whole_update_in_its_gradients_products(monkeypatch, library, dtype, decay):
    # without momentum, step() writes p = (1 - lr decay) p - lr dl/dp straight into the
    # parameters (a gemm with alpha and beta for each weight, a gemv for each bias) and makes
    # no sweep; the step as written (gradients, then the update's sweeps) must land on the same
    # parameters, to rounding (alpha scales the product inside the kernel), and leave the
    # gradient buffers untouched
    if library == "no routines":  # numpy's own arithmetic where the BLAS routines cannot be found
        monkeypatch.setattr(blas.Blas, "_routines", lambda self, name, char: None)
    spec = make_spec((30, 20, 3, 40), loss="cross_entropy", seed=4, dtype=dtype)
    rng = np.random.default_rng(1)
    settings = TrainSettings(lr=0.1, weight_decay=decay, blas="numpy" if library == "no routines" else library)
    fused, written = Trainer(MLP.initialise(spec), settings), Trainer(MLP.initialise(spec), settings)
    fused._grads[...] = np.nan
    tolerance = 1e-12 if dtype == "float64" else 2e-6
    for _ in range(4):
        X, y = rng.standard_normal((8, 30)).astype(dtype), rng.integers(0, 40, 8)
        value = fused.step(X, y)
        assert value == pytest.approx(written.vjp_gradients(X, y), rel=tolerance)
        written.update()
    assert np.isnan(fused._grads).all()
    for got, want in zip(
        fused.network.weights + fused.network.biases, written.network.weights + written.network.biases
    ):
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance)


def test_the_trainer_keeps_each_weight_transposed_in_its_flat_buffers():
    # the network's W_i become views into the trainer's parameter buffer, stored as W_i^T
    # row-major (the forward product's operand as stored), with their values kept; the gradient
    # and velocity buffers are laid out the same way, so the update's sweeps pair them up
    spec = make_spec((30, 20, 3, 40), loss="cross_entropy", seed=4)
    initial = MLP.initialise(spec)
    copies = [w.copy() for w in initial.weights + initial.biases]
    trainer = Trainer(initial, TrainSettings(lr=0.1, momentum=0.9))
    for got, want in zip(trainer.network.weights + trainer.network.biases, copies):
        np.testing.assert_array_equal(got, want)
    for weight, grad, velocity in zip(trainer.network.weights, trainer.grads_w, trainer._velocity_w):
        assert weight.T.flags.c_contiguous and grad.T.flags.c_contiguous and velocity.T.flags.c_contiguous
        assert np.shares_memory(weight, trainer._params) and np.shares_memory(grad, trainer._grads)
        offset = weight.__array_interface__["data"][0] - trainer._params.__array_interface__["data"][0]
        assert grad.__array_interface__["data"][0] - trainer._grads.__array_interface__["data"][0] == offset


def test_the_trainer_writes_each_activation_over_its_input_only_where_it_is_not_read_again():
    # relu's z overwrites its a (its VJP reads only z's sign); gelu's derivative needs a, so
    # gelu keeps two buffers; the step's gradients are those of a network with two buffers
    # everywhere, to the bit
    spec = make_spec((12, 9, 8, 7, 4), loss="cross_entropy", seed=4)
    spec = replace(spec, activations=("relu", "gelu", "tanh", "identity"))
    X, y = np.random.default_rng(2).standard_normal((16, 12)), np.arange(16) % 4
    trainer = Trainer(MLP.initialise(spec), TrainSettings())
    trainer.vjp_gradients(X, y)
    buffers = trainer._forward[16]
    assert [a is z for a, z in zip(buffers.pre, buffers.post)] == [True, False, True, True]
    plain = Trainer(MLP.initialise(spec), TrainSettings())
    plain._forward[16] = type(buffers)([np.empty_like(a) for a in buffers.pre], [np.empty_like(a) for a in buffers.pre])
    plain.vjp_gradients(X, y)
    for got, want in zip(trainer.grads_w + trainer.grads_b, plain.grads_w + plain.grads_b):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("through_cblas", [False, True])
def test_a_step_keeps_none_of_its_batch_and_takes_batches_in_any_layout(monkeypatch, through_cblas):
    # the program is bound for the layout of the first batch of its size; a batch laid out
    # otherwise (Fortran-ordered, or every other row of a larger array) gets numpy's
    # arithmetic in the two products that read it, to the same gradients; also with every
    # product a cblas call and every layer's momentum folded into its weight gradient
    if through_cblas:
        monkeypatch.setattr(blas.Blas, "numpy_matmul", False)
        monkeypatch.setattr(blas.Blas, "fold_min_weights", 0)
    spec = make_spec((12, 9, 7, 4), loss="cross_entropy", seed=1)
    rng = np.random.default_rng(11)
    X, y = rng.standard_normal((6, 12)), rng.integers(0, 4, 6)
    layouts = [X, np.asfortranarray(X), np.repeat(X, 2, axis=0)[::2]]
    want = Trainer(MLP.initialise(spec), TrainSettings(momentum=0.9))
    for _ in layouts:
        want.step(X, y)
    for first in range(len(layouts)):
        trainer = Trainer(MLP.initialise(spec), TrainSettings(momentum=0.9))
        for batch in layouts[first:] + layouts[:first]:
            trainer.step(batch, y)
        np.testing.assert_allclose(trainer._params, want._params, rtol=1e-12, atol=1e-15)
    batch = X.copy()
    kept = weakref.ref(batch)
    trainer.step(batch, y)
    del batch
    gc.collect()
    assert kept() is None


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_step_s_forward_pass_is_the_network_s_own_to_the_bit(dtype):
    # the program binds its own calls (a rank-1 update for each bias add), but every a_i and
    # z_i it leaves are those of MLP.forward, which the analysis runs
    spec = make_spec((12, 9, 8, 7, 4), loss="cross_entropy", dtype=dtype, seed=4)
    spec = replace(spec, activations=("relu", "gelu", "tanh", "identity"))
    trainer = Trainer(MLP.initialise(spec), TrainSettings())
    X, y = np.random.default_rng(12).standard_normal((16, 12)).astype(dtype), np.arange(16) % 4
    trainer.vjp_gradients(X, y)
    want = trainer.network.forward(X)  # allocating, numpy's own arithmetic
    buffers = trainer._forward[16]
    for got_a, got_z, want_a, want_z in zip(buffers.pre, buffers.post, want.pre, want.post[1:]):
        if got_a is not got_z:  # a layer whose z_i is written over its a_i keeps z_i only
            np.testing.assert_array_equal(got_a, want_a)
        assert want_z.dtype == dtype
        np.testing.assert_array_equal(got_z, want_z)


def test_the_memory_model_holds_the_trainers_batch_buffers_to_the_byte():
    # train_memory's per-batch part is what a trainer allocates for a batch, each buffer once
    # (a relu layer's a_i and z_i are one), so the model follows the buffers it prices
    spec = make_spec((12, 9, 8, 7, 4), loss="cross_entropy", dtype="float32", seed=4)
    spec = replace(spec, activations=("relu", "gelu", "tanh", "identity"))
    trainer = Trainer(MLP.initialise(spec), TrainSettings())
    trainer.vjp_gradients(np.ones((16, 12), dtype=np.float32), np.arange(16) % 4)
    forward, (dz, delta, ones) = trainer._forward[16], trainer._backward[16]
    held = {id(a): a.nbytes for a in [*forward.pre, *forward.post, *dz, *delta, ones]}
    assert sum(held.values()) == batch_entries(spec, 16) * 4 == (16 * (9 + 2 * 8 + 7 + 4) + 16 * 2 * 28 + 16) * 4


def held_by(make):
    """What `make()`'s result holds, traced by tracemalloc (numpy reports its arrays to it)."""
    tracemalloc.start()
    try:
        made = make()
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del made
    return held


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("momentum", [0.9, 0.0])
def test_the_memory_model_holds_the_parameters_and_their_three_buffers(dtype, momentum):
    # train_memory's parameter part: the parameters as initialised, all held while the trainer
    # copies them into its flat parameter buffer and makes its gradient and velocity buffers
    spec = make_spec((64, 300, 200, 10), dtype=dtype, loss="mse", seed=2)
    settings = TrainSettings(momentum=momentum)
    Trainer(MLP.initialise(spec), settings)  # what a first trainer sets up once, outside the count
    peak = measure_peak(lambda: Trainer(MLP.initialise(spec), settings))
    others = (batch_entries(spec, 1) + 2 * EVAL_CHUNK * sum(spec.sizes)) * spec.itemsize
    assert peak == pytest.approx(train_memory(spec, 1, "vjp") - others, rel=0.02)


@pytest.mark.parametrize("sizes, activation", [((30, 400, 5), "softmax"), ((200, 300, 100, 10), "relu")])
def test_an_explicit_step_keeps_to_what_the_memory_model_adds_for_it(sizes, activation):
    # train_memory's explicit part: one sample's factors (a softmax layer's dense D_i among
    # them) and its gradient rows; each sample's are freed before the next sample's are built
    spec = make_spec(sizes, activation=activation, loss="mse", seed=2)
    trainer = Trainer(MLP.initialise(spec), TrainSettings(mode="explicit"))
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((4, sizes[0])), rng.standard_normal((4, sizes[-1]))
    trainer.explicit_gradients(X, y)  # the buffers a first step makes, outside the count
    peak = measure_peak(lambda: trainer.explicit_gradients(X, y))
    # 1.07x and 0.95x here
    assert 0.85 <= peak / (train_memory(spec, 4, "explicit") - train_memory(spec, 4, "vjp")) <= 1.1


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_memory_model_holds_the_synthetic_data_as_loaded(dtype):
    # the data's part, what train_memory adds for `samples` rows: a row's inputs and targets
    spec = make_spec((300, 8, 40), dtype=dtype, loss="mse", seed=2)  # 40 target columns, not the 8 before
    held = held_by(lambda: load_dataset("synthetic", spec))
    rows = train_memory(spec, 1, "vjp", SYNTHETIC_SAMPLES) - train_memory(spec, 1, "vjp")
    assert held == pytest.approx(rows, rel=0.02)


@pytest.mark.parametrize(
    "sizes, dtype, loss, mode, batch, momentum",
    [
        ((400, 8, 2), "float32", "mse", "vjp", 32, 0.9),  # the data the largest part
        ((400, 8, 2), "float64", "cross_entropy", "vjp", 32, 0.0),
        ((32, 400, 400, 10), "float64", "mse", "vjp", 64, 0.9),  # the parameters and their buffers
        ((32, 400, 400, 10), "float32", "cross_entropy", "vjp", 4096, 0.9),  # a batch clamped to the data
        ((12, 30, 20, 3), "float64", "mse", "explicit", 16, 0.9),  # each sample's factors
        ((40, 60, 5), "float32", "cross_entropy", "explicit", 8, 0.0),
    ],
)
def test_the_training_memory_model_bounds_what_a_run_allocates(sizes, dtype, loss, mode, batch, momentum):
    # --max-memory refuses a run on train_memory before anything is allocated, so the model must
    # not fall short of the run: its data, parameters, trainer and evaluation, traced by
    # tracemalloc (numpy reports its arrays to it). It is an upper bound, not a wild one: a run
    # here peaks at 0.38-0.61 of it (the evaluation is priced at a full chunk of 4,096 rows).
    spec = make_spec(sizes, dtype=dtype, loss=loss, seed=3)
    settings = TrainSettings(steps=2, batch=batch, momentum=momentum, mode=mode)
    peak = measure_peak(lambda: train(spec, load_dataset("synthetic", spec), settings))
    modelled = train_memory(spec, batch, mode, SYNTHETIC_SAMPLES)
    assert 0.3 * modelled <= peak <= modelled


def test_a_batch_larger_than_the_data_is_clamped_and_said(tmp_path):
    rng = np.random.default_rng(3)
    data = tmp_path / "small.npz"
    np.savez(data, X=rng.standard_normal((20, 4)), y=rng.integers(0, 2, 20))
    result = invoke(
        "train",
        "4,3,2",
        "--loss",
        "cross_entropy",
        "--dataset",
        data,
        "--batch",
        "1000",
        "--steps",
        "3",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    n_train = report["n_train"]  # 20 samples, 4 held out
    assert n_train == 16 and report["batch"] == n_train and report["samples"] == 3 * n_train
    assert report["notes"] == [f"--batch 1000 is more than the {n_train} training samples: each step used all of them"]
    median = report["step_time_s"]["median"]
    # samples / summed step time lies between batch / max step time and batch / min step time
    assert n_train / report["step_time_s"]["max"] <= report["samples_per_s"] <= n_train / report["step_time_s"]["min"]
    assert median > 0


def test_the_digits_are_scikit_learns_bundled_set():
    spec = make_spec((64, 10), loss="cross_entropy")
    data = load_dataset("digits", spec, test_fraction=0.25)
    X = np.concatenate([data.X_train, data.X_test])
    y = np.concatenate([data.y_train, data.y_test])
    # The UCI optical digits as scikit-learn bundles them: 1797 images of 8x8 pixels in 0..16.
    assert X.shape == (1797, 64) and X.min() == 0.0 and X.max() == 1.0
    assert set(np.unique(X * 16)) <= set(range(17))
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
