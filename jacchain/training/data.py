"""Datasets for training: scikit-learn's real digits, a seeded teacher network, .npz or .csv files."""

from __future__ import annotations

import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import JacchainError
from ..io import is_file
from ..model.network import MLP
from ..model.spec import NetworkSpec, make_spec
from ..model.validate import TRAIN_RULES
from ..types import Array

SYNTHETIC_SAMPLES = 2048
# what np.load raises for a file or an entry it cannot read (a JacchainError is a ValueError
# too: none is raised inside a try that catches these)
_UNREADABLE = (OSError, ValueError, EOFError, zipfile.BadZipFile)


@dataclass(frozen=True)
class Dataset:
    name: str
    X_train: Array
    y_train: Array
    X_test: Array
    y_test: Array

    @property
    def n_train(self) -> int:
        return self.X_train.shape[0]


def load_dataset(source: str, spec: NetworkSpec, seed: int = 0, test_fraction: float = 0.2) -> Dataset:
    """Load, check against the network, and split (seeded) into train and held-out parts."""
    TRAIN_RULES["test_fraction"].check(test_fraction, "test_fraction")
    if source == "digits":
        X, y = _digits()
    elif source == "synthetic":
        X, y = _synthetic(spec, seed)
    elif source.lower().endswith((".npz", ".csv")):
        X, y = _from_file(source)
    else:
        raise JacchainError(
            f"unknown dataset {source!r}; valid options are: digits, synthetic, or a path to a .npz or .csv file"
        )
    X, y = _check(X, y, spec, source)
    order = np.random.default_rng(seed).permutation(X.shape[0])
    n_test = max(1, round(test_fraction * X.shape[0]))
    if X.shape[0] - n_test < 1:
        raise JacchainError(
            f"dataset {source} has {X.shape[0]} samples: too few to hold {n_test} out and train on the rest"
        )
    test, train = order[:n_test], order[n_test:]
    return Dataset(source, X[train], y[train], X[test], y[test])


def _digits() -> tuple[Array, Array]:
    """scikit-learn's bundled 8x8 digits, scaled to [0, 1]. The bundled CSV is read directly
    (importing scikit-learn takes seconds); load_digits() where the file is not found."""
    from importlib.util import find_spec

    package = find_spec("sklearn")
    if package is None or package.origin is None:
        raise JacchainError("the digits data set needs scikit-learn: pip install 'jacchain[data]'")
    bundled = Path(package.origin).parent / "datasets" / "data" / "digits.csv.gz"
    if bundled.is_file():
        table = np.loadtxt(bundled, delimiter=",")
        return table[:, :-1] / 16.0, table[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits  # pragma: no cover - a scikit-learn that moved the file

    digits = load_digits()  # pragma: no cover
    return digits.data / 16.0, digits.target  # pragma: no cover


def _synthetic(spec: NetworkSpec, seed: int) -> tuple[Array, Array]:
    """Inputs ~ N(0, 1) labelled by a seeded random teacher with the spec's input and output widths."""
    rng = np.random.default_rng([seed, 7919])
    n_in, n_out = spec.sizes[0], spec.sizes[-1]
    teacher_spec = make_spec((n_in, max(16, min(64, n_in)), n_out), activation="tanh", loss=spec.loss)
    teacher = MLP.initialise(teacher_spec, rng)
    X = rng.standard_normal((SYNTHETIC_SAMPLES, n_in))
    out = teacher.forward(X).output
    if spec.loss == "cross_entropy":
        return X, out.argmax(axis=1)
    return X, out


def _from_file(path: str) -> tuple[Array, Array]:
    if not is_file(path):
        raise JacchainError(f"dataset {path}: no such file")
    return _from_npz(path) if path.lower().endswith(".npz") else _from_csv(path)


def _from_npz(path: str) -> tuple[Array, Array]:
    # a zip's first entry, an empty zip's end record (np.savez of no arrays), or an .npy file
    if not _starts_with(path, (b"PK\x03\x04", b"PK\x05\x06", np.lib.format.MAGIC_PREFIX)):
        # np.load takes anything else for a pickle and says so, which a text file is not; a
        # damaged zip keeps np.load's own reason
        raise JacchainError(f"dataset {path}: not an .npz archive (numpy's zip of arrays, from np.savez)")
    try:
        loaded = np.load(path, allow_pickle=False)
    except _UNREADABLE as error:
        raise _unreadable(path, error) from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise JacchainError(f"dataset {path}: holds a single array (.npy content), not an .npz archive of X and y")
    with loaded as arrays:
        if not {"X", "y"} <= set(arrays.files):
            raise JacchainError(f"dataset {path} must hold arrays X and y; it has: {', '.join(arrays.files) or 'none'}")
        try:
            return np.asarray(arrays["X"]), np.asarray(arrays["y"])
        except _UNREADABLE as error:  # an entry numpy cannot read: an object array, a damaged one
            raise _unreadable(path, error) from None


def _unreadable(path: str, error: BaseException) -> JacchainError:
    return JacchainError(f"dataset {path}: cannot read as .npz: {_first_line(error)}")


def _starts_with(path: str, magics: tuple[bytes, ...]) -> bool:
    """Whether the file begins with one of `magics`; an unreadable file passes, so that
    np.load, which then fails to open it, gives the reason (not "not an .npz archive")."""
    try:
        with open(path, "rb") as file:
            head = file.read(max(map(len, magics)))
    except OSError:
        return True
    return head.startswith(magics)


def _from_csv(path: str) -> tuple[Array, Array]:
    """Numeric rows of features followed by the label; an optional header line."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an empty file warns; it is refused below
            table = np.genfromtxt(path, delimiter=",", dtype=float, ndmin=2)
    except (ValueError, UnicodeDecodeError) as error:
        raise JacchainError(f"dataset {path}: cannot read as CSV: {_first_line(error)}") from None
    header = table.size > 0 and bool(np.isnan(table[0]).all())
    if header:
        table = table[1:]
    if table.size == 0 or table.shape[1] < 2:
        raise JacchainError(f"dataset {path}: expected numeric CSV rows of features followed by the label")
    bad = np.flatnonzero(~np.isfinite(table).all(axis=1))
    if bad.size:
        line = int(bad[0]) + 1 + int(header)
        raise JacchainError(f"dataset {path}: line {line} holds a value that is not a finite number")
    return table[:, :-1], table[:, -1]


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _real(array: Any, name: str, source: str) -> None:
    if array.dtype.kind not in "biuf":
        raise JacchainError(f"dataset {source}: {name} must hold real numbers, got dtype {array.dtype}")


def _first_bad(mask: Any) -> int:
    """The first sample (row) where `mask` (samples x ...) is true."""
    return int(np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1))[0])


def _check(X: Any, y: Any, spec: NetworkSpec, source: str) -> tuple[Array, Array]:
    """Shapes, dtypes, finite values and labels, naming the first bad array or row."""
    n_in, n_out = spec.sizes[0], spec.sizes[-1]
    _real(X, "X", source)
    _real(y, "y", source)
    if X.ndim != 2 or X.shape[0] == 0:
        raise JacchainError(
            f"dataset {source}: X must be a non-empty 2-D array (samples x features), got shape {X.shape}"
        )
    if X.shape[1] != n_in:
        raise JacchainError(f"dataset {source} has {X.shape[1]} features but the network's input width is {n_in}")
    if y.ndim not in (1, 2) or y.shape[0] != X.shape[0]:
        raise JacchainError(
            f"dataset {source}: y must hold one label or target row per sample ({X.shape[0]}), got shape {y.shape}"
        )
    if not np.isfinite(X).all():
        raise JacchainError(f"dataset {source}: X row {_first_bad(~np.isfinite(X))} holds NaN or infinity")
    if not np.isfinite(y).all():
        raise JacchainError(f"dataset {source}: y row {_first_bad(~np.isfinite(y))} holds NaN or infinity")
    X = X.astype(spec.dtype)
    if spec.loss == "cross_entropy":
        labels = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
        if labels.ndim != 1:
            raise JacchainError(
                f"dataset {source}: cross_entropy needs one integer class label per sample, got y of shape {y.shape}"
            )
        wrong = _not_class_labels(labels)
        if wrong.any():
            row = int(np.flatnonzero(wrong)[0])
            raise JacchainError(
                f"dataset {source}: y row {row} is {labels[row].item():g}; cross_entropy needs integer class "
                f"labels 0..{n_out - 1}"
            )
        n_classes = int(labels.max()) + 1
        if n_classes > n_out:
            row = int(np.argmax(labels))
            raise JacchainError(
                f"dataset {source} has {n_classes} classes (y row {row}) but the network has {n_out} outputs"
            )
        return X, labels.astype(np.int64)
    y = y.reshape(-1, 1) if y.ndim == 1 else y
    if y.shape[1] != n_out:
        columns = f"{y.shape[1]} target column{'s' if y.shape[1] != 1 else ''}"
        raise JacchainError(
            f"dataset {source} has {columns} but the network has {n_out} outputs, and loss {spec.loss} needs one "
            f"per output{_labels_hint(y, n_out)}"
        )
    return X, y.astype(spec.dtype)


def _not_class_labels(labels: Array) -> Array:
    """Where labels are not class indices (not a non-negative integer): cross_entropy's rule."""
    return (np.mod(labels, 1) != 0) | (labels < 0)


def _labels_hint(y: Array, n_out: int) -> str:
    """Where a one-column y reads as class labels the network's outputs could score (by
    cross_entropy's rule, and below n_out), the loss that takes them: a classification set
    given a regression loss. Asked only where y's columns and the outputs differ, so a
    one-column y meets at least two outputs."""
    if y.shape[1] != 1 or _not_class_labels(y).any() or y.max() >= n_out:
        return ""
    return f"; its y holds class labels 0..{int(y.max())}, which the cross_entropy loss takes"
