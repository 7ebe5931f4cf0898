"""Fixtures for every test: a private calibration cache, a fake calibration (so that only the
opt-in `machine` test measures this machine), and central finite differences."""

import functools
import os
import time

import numpy as np
import pytest

from jacchain.cost.machine import Calibration
from jacchain.run.calibrate import calibration_for
from jacchain.run.timing import blas_info, blas_threads

# A child process's script, not a test module: it imports torch, which is optional, and
# --doctest-modules would import it wherever torch is missing.
collect_ignore = ["torch_side.py"]

# Figures in the range of a small server core; what matters is that they are fixed.
FAKE_FIGURES = {
    "gemm_gflops": 50.0,
    "stream_gbps": 10.0,
    "gemm_size": 1024,
    "stream_bytes": 2**28,
    "measured_at": 0.0,
    "cache_gbps": 40.0,
    "cache_bytes": 2**20,
    "call_s": 1e-6,
    "gemm_curve": ((2, 2.0), (8, 8.0), (32, 25.0), (128, 40.0), (512, 48.0)),
    "elementwise_curve": ((2**14, 4.0), (2**20, 8.0), (2**26, 5.0)),
}


def fake_measure(dtype="float64", threads=None, **ignored):
    with blas_threads(threads):
        info = blas_info()
    figures = FAKE_FIGURES | {"measured_at": time.time()}
    return Calibration(blas=info.library, dtype=dtype, threads=info.threads, **figures)


@pytest.fixture(autouse=True, scope="session")
def calibration_cache(tmp_path_factory):
    """Keep `jacchain calibrate`'s cache out of the user's home during the tests."""
    previous = os.environ.get("JACCHAIN_CACHE_DIR")
    os.environ["JACCHAIN_CACHE_DIR"] = str(tmp_path_factory.mktemp("jacchain-cache"))
    yield os.environ["JACCHAIN_CACHE_DIR"]
    if previous is None:
        os.environ.pop("JACCHAIN_CACHE_DIR", None)
    else:
        os.environ["JACCHAIN_CACHE_DIR"] = previous


@pytest.fixture(autouse=True)
def fake_calibration(request, monkeypatch):
    """Calibration returns fixed figures instead of measuring, and timings aim at 1 ms (three repeats at least)
    instead of 0.2 s per order, except in `machine` tests."""
    monkeypatch.delenv("COLUMNS", raising=False)  # piped tables are 170 wide unless a test says otherwise
    if request.node.get_closest_marker("machine") is None:
        monkeypatch.setattr("jacchain.run.calibrate.measure", fake_measure)
        monkeypatch.setattr("jacchain.run.timing.DEFAULT_TARGET_S", 0.001)


def _central_jacobian(function, x, eps=1e-6):
    """d function / d x by central differences, one column per coordinate of x (float64)."""
    x = np.asarray(x, dtype=np.float64)
    columns = []
    for index in range(x.size):
        step = np.zeros_like(x)
        step.flat[index] = eps
        columns.append((np.asarray(function(x + step)) - np.asarray(function(x - step))).ravel() / (2 * eps))
    return np.stack(columns, axis=-1)


@pytest.fixture
def fake_figures():
    """The figures the fake calibration reports."""
    return FAKE_FIGURES


@pytest.fixture
def central_jacobian():
    return _central_jacobian


@pytest.fixture
def calibrate():
    """The calibration a run is priced by, asked as runs ask it (dtype, BLAS threads): the fixed
    figures of fake_measure, never a measurement of this machine."""
    return functools.partial(calibration_for, measure_if_missing=True)
