"""Training data: the seeded split, the file readers and every check against the network,
each refusal word for word (the CLI's hostile-input tests only see that the file is named)."""

import re

import numpy as np
import pytest

from jacchain.errors import JacchainError
from jacchain.model.spec import make_spec
from jacchain.training.data import SYNTHETIC_SAMPLES, load_dataset

CLASSES = make_spec((4, 3), loss="cross_entropy", dtype="float32")  # 4 features, 3 classes
TARGETS = make_spec((4, 2), loss="mse", dtype="float32")  # 4 features, 2 target columns


def save(folder, X, y, name="d.npz"):
    path = folder / name
    with open(path, "wb") as file:  # a file, so that np.savez adds no ".npz" to a name that ends ".NPZ"
        np.savez(file, X=X, y=y)
    return str(path)


def refused(source, spec, message, **kwargs):
    """load_dataset refuses `source` with exactly `message` (a literal, not a pattern)."""
    with pytest.raises(JacchainError, match=f"^{re.escape(message)}$"):
        load_dataset(source, spec, **kwargs)


def labelled(n=30, classes=3, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 4)), np.arange(n) % classes


# --- the split


@pytest.mark.parametrize("n, fraction, held", [(30, 0.2, 6), (10, 0.25, 2), (10, 0.35, 4), (3, 0.1, 1), (2, 0.5, 1)])
def test_the_split_holds_out_the_rounded_fraction_and_at_least_one_sample(tmp_path, n, fraction, held):
    X, y = labelled(n)
    data = load_dataset(save(tmp_path, X, y), CLASSES, test_fraction=fraction)
    assert data.X_test.shape == (held, 4) and data.y_test.shape == (held,)
    assert data.n_train == data.X_train.shape[0] == data.y_train.shape[0] == n - held


def test_the_split_is_a_seeded_permutation_of_every_sample(tmp_path):
    X, y = labelled(40)
    path = save(tmp_path, X, y)
    data = load_dataset(path, CLASSES, seed=5)
    # every row once, each with its own label: rows are moved, never mixed or repeated
    rows = np.concatenate([data.X_train, data.X_test]).astype(np.float64)
    labels = np.concatenate([data.y_train, data.y_test])
    order = [int(np.flatnonzero(np.all(np.isclose(X, row), axis=1))[0]) for row in rows]
    assert sorted(order) == list(range(40)) and labels.tolist() == y[order].tolist()
    expected = np.random.default_rng(5).permutation(40).tolist()  # the seed's own permutation: held-out rows first
    held = 40 - data.n_train
    assert order[data.n_train :] == expected[:held] and order[: data.n_train] == expected[held:]
    again = load_dataset(path, CLASSES, seed=5)
    other = load_dataset(path, CLASSES, seed=6)
    assert np.array_equal(again.X_test, data.X_test) and not np.array_equal(other.X_test, data.X_test)
    assert data.name == path


def test_the_default_seed_is_0(tmp_path):
    X, y = labelled(40)
    path = save(tmp_path, X, y)
    assert np.array_equal(load_dataset(path, CLASSES).X_test, load_dataset(path, CLASSES, seed=0).X_test)
    assert np.array_equal(load_dataset("synthetic", CLASSES).X_test, load_dataset("synthetic", CLASSES, seed=0).X_test)


def test_a_dataset_too_small_to_split_is_refused(tmp_path):
    X, y = labelled(1)
    path = save(tmp_path, X, y)
    refused(path, CLASSES, f"dataset {path} has 1 samples: too few to hold 1 out and train on the rest")


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.2, float("nan")])
def test_the_held_out_fraction_must_lie_strictly_between_0_and_1(tmp_path, fraction):
    X, y = labelled()
    refused(
        save(tmp_path, X, y),
        CLASSES,
        f"test_fraction must be a number in (0, 1), got {fraction!r}",
        test_fraction=fraction,
    )


# --- sources


def test_an_unknown_source_names_the_ones_there_are():
    refused(
        "mnist",
        CLASSES,
        "unknown dataset 'mnist'; valid options are: digits, synthetic, or a path to a .npz or .csv file",
    )


def test_a_missing_file_is_named(tmp_path):
    path = str(tmp_path / "none.csv")
    refused(path, CLASSES, f"dataset {path}: no such file")


def test_the_suffix_is_read_in_any_case(tmp_path):
    X, y = labelled()
    data = load_dataset(save(tmp_path, X, y, name="D.NPZ"), CLASSES)
    assert data.n_train == 24


def test_digits_are_read_from_the_bundled_file_without_importing_scikit_learns_loaders(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # importing it now fails
    data = load_dataset("digits", make_spec((64, 10), loss="cross_entropy"))
    assert data.n_train + data.X_test.shape[0] == 1797


def test_digits_without_scikit_learn_says_what_to_install(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    refused(
        "digits",
        make_spec((64, 10), loss="cross_entropy"),
        "the digits data set needs scikit-learn: pip install 'jacchain[data]'",
    )


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_synthetic_data_is_seeded_and_shaped_for_the_network(loss):
    spec = make_spec((5, 7, 3), loss=loss, dtype="float32")
    data = load_dataset("synthetic", spec, seed=2)
    assert data.n_train + data.X_test.shape[0] == SYNTHETIC_SAMPLES and data.X_train.shape[1] == 5
    if loss == "cross_entropy":
        labels = np.concatenate([data.y_train, data.y_test])
        assert labels.dtype == np.int64 and set(labels.tolist()) <= {0, 1, 2} and len(set(labels.tolist())) > 1
    else:
        assert data.y_train.shape == (data.n_train, 3) and data.y_train.dtype == np.float32
    # inputs ~ N(0, 1)
    assert abs(data.X_train.mean()) < 0.05 and abs(data.X_train.std() - 1) < 0.05
    again, other = load_dataset("synthetic", spec, seed=2), load_dataset("synthetic", spec, seed=3)
    assert np.array_equal(again.X_train, data.X_train) and np.array_equal(again.y_train, data.y_train)
    assert not np.array_equal(other.X_train, data.X_train)


# --- .npz files


def test_a_file_that_is_not_an_npz_archive(tmp_path):
    path = tmp_path / "d.npz"
    path.write_text("1,2,3,4,0\n")
    refused(str(path), CLASSES, f"dataset {path}: not an .npz archive (numpy's zip of arrays, from np.savez)")


def test_an_npy_file_named_npz_holds_a_single_array(tmp_path):
    path = tmp_path / "d.npz"
    with open(path, "wb") as file:
        np.save(file, np.zeros((3, 4)))
    refused(str(path), CLASSES, f"dataset {path}: holds a single array (.npy content), not an .npz archive of X and y")


@pytest.mark.parametrize("arrays, has", [({"X": np.zeros((3, 4))}, "X"), ({}, "none"), ({"a": 1, "b": 2}, "a, b")])
def test_an_archive_without_x_and_y_lists_what_it_holds(tmp_path, arrays, has):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    refused(str(path), CLASSES, f"dataset {path} must hold arrays X and y; it has: {has}")


def test_a_damaged_archive_keeps_numpys_reason_on_one_line(tmp_path):
    X, y = labelled()
    save(tmp_path, X, y, name="good.npz")
    path = tmp_path / "d.npz"
    path.write_bytes((tmp_path / "good.npz").read_bytes()[:200])
    refused(str(path), CLASSES, f"dataset {path}: cannot read as .npz: File is not a zip file")


def test_an_array_numpy_will_not_load_without_pickle(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.array([[1, "a"]] * 30, dtype=object), y=np.zeros(30))
    refused(
        str(path),
        CLASSES,
        f"dataset {path}: cannot read as .npz: Object arrays cannot be loaded when allow_pickle=False",
    )


# --- .csv files


def test_a_csv_file_reads_features_then_the_label_after_an_optional_header(tmp_path):
    rows = "1,2,3,4,0\n5,6,7,8,1\n9,10,11,12,2\n"
    plain, headed = tmp_path / "plain.csv", tmp_path / "headed.csv"
    plain.write_text(rows)
    headed.write_text("a,b,c,d,label\n" + rows)
    for path in (plain, headed):
        data = load_dataset(str(path), CLASSES, test_fraction=0.3)
        X = np.concatenate([data.X_train, data.X_test])
        y = np.concatenate([data.y_train, data.y_test])
        assert sorted(zip(y.tolist(), X[:, 0].tolist())) == [(0, 1.0), (1, 5.0), (2, 9.0)]


def test_a_csv_file_of_one_feature_and_the_label(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("".join(f"{value},{value % 2}\n" for value in range(10)))
    data = load_dataset(str(path), make_spec((1, 2), loss="cross_entropy"))
    assert data.X_train.shape == (8, 1) and (data.X_train[:, 0] % 2 == data.y_train).all()


@pytest.mark.parametrize("header", [False, True])
def test_a_csv_row_that_is_not_a_number_is_named_by_its_line(tmp_path, header):
    path = tmp_path / "d.csv"
    path.write_text(("a,b,c,d,label\n" if header else "") + "1,2,3,4,0\n1,2,x,4,1\n")
    line = 3 if header else 2
    refused(str(path), CLASSES, f"dataset {path}: line {line} holds a value that is not a finite number")


@pytest.mark.parametrize("content", ["", "a,b\n", "1\n2\n3\n"])
def test_a_csv_file_without_feature_and_label_columns(tmp_path, content):
    path = tmp_path / "d.csv"
    path.write_text(content)
    refused(str(path), CLASSES, f"dataset {path}: expected numeric CSV rows of features followed by the label")


def test_a_ragged_csv_file_keeps_numpys_reason_on_one_line(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("1,2,3,4,0\n1,2,3\n")
    # numpy's reason is several lines (one per bad line): its first is kept
    refused(str(path), CLASSES, f"dataset {path}: cannot read as CSV: Some errors were detected !")


# --- checks against the network


@pytest.mark.parametrize(
    "X, y, message",
    [
        (np.ones((30, 4)) * 1j, np.zeros(30), "X must hold real numbers, got dtype complex128"),
        (np.ones((30, 4)), np.array(["a"] * 30), "y must hold real numbers, got dtype <U1"),
        (np.ones(30), np.zeros(30), "X must be a non-empty 2-D array (samples x features), got shape (30,)"),
        (np.ones((0, 4)), np.zeros(0), "X must be a non-empty 2-D array (samples x features), got shape (0, 4)"),
        (
            np.ones((30, 2, 2)),
            np.zeros(30),
            "X must be a non-empty 2-D array (samples x features), got shape (30, 2, 2)",
        ),
        (np.ones((30, 4)), np.zeros(29), "y must hold one label or target row per sample (30), got shape (29,)"),
        (
            np.ones((30, 4)),
            np.zeros((30, 1, 1)),
            "y must hold one label or target row per sample (30), got shape (30, 1, 1)",
        ),
        (np.ones((30, 4)), np.array(0), "y must hold one label or target row per sample (30), got shape ()"),
        (np.where(np.arange(120).reshape(30, 4) == 29, np.nan, 1.0), np.zeros(30), "X row 7 holds NaN or infinity"),
        (np.ones((30, 4)), np.where(np.arange(30) == 11, -np.inf, 0), "y row 11 holds NaN or infinity"),
        (
            np.ones((30, 4)),
            np.zeros((30, 2)),
            "cross_entropy needs one integer class label per sample, got y of shape (30, 2)",
        ),
        (
            np.ones((30, 4)),
            np.where(np.arange(30) == 4, 1.5, 0),
            "y row 4 is 1.5; cross_entropy needs integer class labels 0..2",
        ),
        (
            np.ones((30, 4)),
            np.where(np.arange(30) == 9, -1, 0),
            "y row 9 is -1; cross_entropy needs integer class labels 0..2",
        ),
        (
            np.ones((30, 4)),
            np.where(np.arange(30) == 13, 4, 1),
            "has 5 classes (y row 13) but the network has 3 outputs",
        ),
    ],
)
def test_class_data_that_does_not_fit_the_network_is_refused_by_name(tmp_path, X, y, message):
    path = save(tmp_path, X, y)
    gap = "" if message.startswith("has") else ":"
    refused(path, CLASSES, f"dataset {path}{gap} {message}")


def test_features_that_do_not_match_the_input_width(tmp_path):
    path = save(tmp_path, np.ones((30, 5)), np.zeros(30))
    refused(path, CLASSES, f"dataset {path} has 5 features but the network's input width is 4")


def test_class_labels_come_as_int64_and_inputs_in_the_networks_dtype(tmp_path):
    X, y = labelled()
    for given in (y, y.astype(np.float64), y.reshape(-1, 1), y.astype(np.uint8)):
        data = load_dataset(save(tmp_path, X, given), CLASSES)
        assert data.y_train.dtype == np.int64 and data.y_train.shape == (24,)
        assert data.X_train.dtype == np.float32  # the network's dtype
    wide = make_spec((4, 3), loss="cross_entropy", dtype="float64")
    assert load_dataset(save(tmp_path, X, y), wide).X_train.dtype == np.float64
    # booleans are real numbers too
    flags = load_dataset(save(tmp_path, X > 0, y), CLASSES)
    assert flags.X_train.dtype == np.float32 and set(np.unique(flags.X_train).tolist()) <= {0.0, 1.0}


def test_fewer_classes_than_outputs_train_as_they_are(tmp_path):
    X, _ = labelled()
    data = load_dataset(save(tmp_path, X, np.arange(30) % 2), CLASSES)  # classes 0 and 1 of 3 outputs
    assert set(np.concatenate([data.y_train, data.y_test]).tolist()) == {0, 1}


def test_regression_targets_take_one_column_per_output(tmp_path):
    X, _ = labelled()
    targets = np.arange(60.0).reshape(30, 2)
    data = load_dataset(save(tmp_path, X, targets), TARGETS)
    assert data.y_train.shape == (24, 2) and data.y_train.dtype == np.float32
    one = make_spec((4, 1), loss="mse")
    column = load_dataset(save(tmp_path, X, np.arange(30.0)), one)
    assert column.y_train.shape == (24, 1)  # a 1-D target is one column


@pytest.mark.parametrize(
    "y, spec, message",
    [
        (
            np.zeros((30, 3)),
            TARGETS,
            "has 3 target columns but the network has 2 outputs, and loss mse needs one per output",
        ),
        # class labels below the outputs: the loss that takes them is named
        (
            np.arange(30) % 2,
            TARGETS,
            "has 1 target column but the network has 2 outputs, and loss mse needs one per output; its y holds "
            "class labels 0..1, which the cross_entropy loss takes",
        ),
        # no hint: labels past the outputs, labels that are not integers, negative ones, or several columns
        (
            np.arange(30) % 3,
            TARGETS,
            "has 1 target column but the network has 2 outputs, and loss mse needs one per output",
        ),
        (
            np.arange(30) % 2 + 0.5,
            TARGETS,
            "has 1 target column but the network has 2 outputs, and loss mse needs one per output",
        ),
        (
            -(np.arange(30) % 2),
            TARGETS,
            "has 1 target column but the network has 2 outputs, and loss mse needs one per output",
        ),
        (
            np.zeros((30, 3)),
            make_spec((4, 4), loss="mse"),
            "has 3 target columns but the network has 4 outputs, and loss mse needs one per output",
        ),
    ],
)
def test_targets_that_do_not_fit_the_outputs_are_refused(tmp_path, y, spec, message):
    X, _ = labelled()
    path = save(tmp_path, X, y)
    refused(path, spec, f"dataset {path} {message}")
