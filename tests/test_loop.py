"""The training loop and its settings: held-out evaluation, seeded mini-batches, step and epoch
counts, progress, the memory refusal, and how a config's `train:` section meets the options."""

import warnings

import numpy as np
import pytest

from jacchain.errors import DivergedError, JacchainError, MemoryLimitError
from jacchain.model.network import MLP
from jacchain.model.spec import make_spec
from jacchain.training.data import Dataset, load_dataset
from jacchain.training.loop import batches, check_train_memory, evaluate, train
from jacchain.training.settings import DEFAULT_EPOCHS, TrainSettings
from jacchain.training.step_cost import train_memory

CLASSES = make_spec((6, 5, 3), loss="cross_entropy", seed=2)


def dataset(n_train, n_test=7, spec=CLASSES, seed=0):
    rng = np.random.default_rng(seed)
    n_in, n_out = spec.sizes[0], spec.sizes[-1]
    X = rng.standard_normal((n_train + n_test, n_in)).astype(spec.dtype)
    if spec.loss == "cross_entropy":
        y = rng.integers(0, n_out, n_train + n_test)
    else:
        y = rng.standard_normal((n_train + n_test, n_out)).astype(spec.dtype)
    return Dataset("test", X[:n_train], y[:n_train], X[n_train:], y[n_train:])


# --- evaluation


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
@pytest.mark.parametrize("chunk", [3, 10, 4096])
def test_evaluation_is_the_whole_sets_mean_loss_and_accuracy_in_any_chunks(loss, chunk):
    # 10 samples in chunks of 3 (the last one short), 10, or one larger than the set: the
    # same as one forward pass over all of them
    spec = make_spec((6, 5, 3), loss=loss, seed=2)
    data = dataset(10, spec=spec)
    network = MLP.initialise(spec)
    out = network.forward(data.X_train).output
    value, accuracy = evaluate(network, data.X_train, data.y_train, chunk)
    assert value == pytest.approx(network.loss.value(out, data.y_train), rel=1e-12)
    if loss == "cross_entropy":
        expected = float(np.mean(out.argmax(axis=1) == data.y_train))
        assert accuracy == expected and 0 < expected < 1  # some right, some wrong: a count
    else:
        assert accuracy is None


# --- mini-batches


def test_mini_batches_cover_each_epoch_once_in_a_fresh_seeded_order():
    data = dataset(10)
    drawn = list(batches(data, 4, 7, np.random.default_rng(3)))
    assert [len(X) for X, _ in drawn] == [4, 4, 2, 4, 4, 2, 4]  # the last batch of an epoch smaller
    rows = {tuple(row): index for index, row in enumerate(data.X_train.tolist())}
    order = [rows[tuple(row)] for X, _ in drawn for row in X.tolist()]
    assert sorted(order[:10]) == sorted(order[10:20]) == list(range(10))  # each epoch every row once
    assert order[:10] != order[10:20]  # a fresh order each epoch
    labels = np.concatenate([y for _, y in drawn])
    assert labels.tolist() == data.y_train[order].tolist()  # each row with its own label
    again = list(batches(data, 4, 7, np.random.default_rng(3)))
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(drawn, again))


# --- steps, epochs, notes


@pytest.mark.parametrize("given, steps, epochs", [({"epochs": 2}, 6, 2.0), ({"steps": 5}, 5, 5 / 3), ({}, 30, 10.0)])
def test_steps_and_epochs_count_a_short_last_batch_as_a_step(given, steps, epochs):
    # 10 samples in batches of 4: three steps an epoch; ten epochs when neither is given
    result = train(CLASSES, dataset(10), TrainSettings(batch=4, **given))
    assert result.steps == len(result.loss_history) == steps and result.epochs == pytest.approx(epochs)
    assert result.samples == sum(([4, 4, 2] * 10)[:steps])


def test_a_batch_of_exactly_the_training_set_is_no_note():
    result = train(CLASSES, dataset(10), TrainSettings(batch=10, steps=2))
    assert result.notes == () and result.samples == 20


def test_the_default_seed_is_0():
    data, settings = dataset(20), TrainSettings(batch=4, steps=6)
    assert train(CLASSES, data, settings).loss_history == train(CLASSES, data, settings, seed=0).loss_history
    assert train(CLASSES, data, settings).loss_history != train(CLASSES, data, settings, seed=1).loss_history


def test_the_gradient_check_runs_on_the_first_step_and_only_when_asked():
    data = dataset(20)
    assert train(CLASSES, data, TrainSettings(batch=4, steps=1)).grad_check is None
    checked = train(CLASSES, data, TrainSettings(batch=4, steps=1, grad_check=True)).grad_check
    assert checked is not None and checked.coordinates > 0 and checked.max_rel_error < 1e-6


def test_held_out_figures_are_reported_for_classes_and_not_accuracy_for_targets():
    result = train(CLASSES, dataset(20), TrainSettings(batch=4, steps=3))
    assert 0 <= result.train_accuracy <= 1 and 0 <= result.test_accuracy <= 1
    assert result.n_train == 20 and result.n_test == 7
    targets = make_spec((6, 5, 3), loss="mse", seed=2)
    result = train(targets, dataset(20, spec=targets), TrainSettings(batch=4, steps=3))
    assert result.train_accuracy is None and result.test_accuracy is None and result.test_loss > 0


def test_progress_every_ten_steps_and_at_the_last_with_the_last_ten_steps_mean_loss():
    lines = []
    result = train(CLASSES, dataset(40), TrainSettings(batch=4, steps=25), progress=lambda *line: lines.append(line))
    history = result.loss_history
    assert [(done, total) for _, done, total in lines] == [(10, 25), (20, 25), (25, 25)]
    for (text, done, _), last in zip(lines, [history[:10], history[10:20], history[15:25]]):
        assert text == f"step {done}/25  loss {np.mean(last):.4f}"


def test_a_diverging_run_ends_in_one_error_and_no_numpy_warnings():
    spec = make_spec((6, 5, 3), loss="mse", seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow warning on the way would be an error here
        with pytest.raises(DivergedError, match=r"^training diverged at step \d+: the loss is (inf|nan); try a lower"):
            train(spec, dataset(40, spec=spec), TrainSettings(batch=8, steps=200, lr=1e6))


def test_the_result_names_the_blas_and_its_threads():
    result = train(CLASSES, dataset(10), TrainSettings(batch=5, steps=1), threads=1)
    assert result.blas is not None and result.blas.threads == 1 and result.blas.library


# --- memory


def test_a_run_over_its_memory_limit_is_refused_before_training_with_what_to_lower():
    settings = TrainSettings(batch=4, steps=1)
    need = train_memory(CLASSES, 4, "vjp")
    with pytest.raises(MemoryLimitError) as refused:
        train(CLASSES, dataset(10), settings, max_memory=need - 1)
    assert str(refused.value) == (
        f"training 6,5,3 needs about {need:,} B of memory, over the --max-memory limit of {need - 1:,} B; "
        "lower the widths or --batch, or raise --max-memory"
    )
    train(CLASSES, dataset(10), settings, max_memory=need)  # admitted at exactly its need


@pytest.mark.parametrize("mode", ["vjp", "explicit"])
def test_the_memory_check_prices_the_mode_and_the_samples_asked(mode):
    settings = TrainSettings(batch=4, mode=mode)
    alone, with_data = train_memory(CLASSES, 4, mode), train_memory(CLASSES, 4, mode, 100)
    assert train_memory(CLASSES, 4, "explicit") > train_memory(CLASSES, 4, "vjp")
    check_train_memory(CLASSES, settings, alone)  # no samples unless asked
    with pytest.raises(MemoryLimitError):
        check_train_memory(CLASSES, settings, alone - 1)
    check_train_memory(CLASSES, settings, with_data, samples=100)
    with pytest.raises(MemoryLimitError):
        check_train_memory(CLASSES, settings, with_data - 1, samples=100)


# --- settings


def test_settings_default_to_ten_epochs_as_the_option_says():
    assert TrainSettings().validated().epochs == DEFAULT_EPOCHS == 10
    assert TrainSettings(steps=3).validated().epochs is None


def test_an_unknown_mode_is_refused_by_name():
    with pytest.raises(JacchainError, match=r"^unknown mode 'sideways'; valid options are: vjp, explicit$"):
        TrainSettings(mode="sideways").validated()


def test_options_override_the_configs_section_steps_and_epochs_each_replacing_the_other():
    section = {"steps": 5, "batch": 8, "lr": 0.1, "unknown": 1}
    resolved = TrainSettings.resolve(section, {"epochs": 2, "lr": None})
    assert (resolved.steps, resolved.epochs, resolved.batch, resolved.lr) == (None, 2, 8, 0.1)
    resolved = TrainSettings.resolve({"epochs": 4}, {"steps": 3})
    assert (resolved.steps, resolved.epochs) == (3, None)
    resolved = TrainSettings.resolve(None, {})
    assert (resolved.mode, resolved.grad_check, resolved.epochs) == ("vjp", False, DEFAULT_EPOCHS)
    with pytest.raises(JacchainError, match=r"^give --steps or --epochs, not both$"):
        TrainSettings.resolve({}, {"steps": 3, "epochs": 2})


def test_synthetic_data_trains_end_to_end_on_the_loop():
    # the loop's pieces together: a seeded synthetic set, learnt (the held-out loss falls)
    spec = make_spec((8, 16, 3), loss="cross_entropy", seed=1)
    data = load_dataset("synthetic", spec)
    short = train(spec, data, TrainSettings(batch=32, steps=1, lr=0.1))
    long = train(spec, data, TrainSettings(batch=32, epochs=3, lr=0.1))
    assert long.test_loss < short.test_loss and long.test_accuracy > short.test_accuracy
