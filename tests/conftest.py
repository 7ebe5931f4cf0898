"""Shared helpers for the tests: central finite differences."""

import numpy as np


def central_jacobian(function, x, eps=1e-6):
    """d function / d x by central differences, one column per coordinate of x (float64)."""
    x = np.asarray(x, dtype=np.float64)
    columns = []
    for index in range(x.size):
        step = np.zeros_like(x)
        step.flat[index] = eps
        columns.append((np.asarray(function(x + step)) - np.asarray(function(x - step))).ravel() / (2 * eps))
    return np.stack(columns, axis=-1)


import os  # noqa: E402

import pytest  # noqa: E402


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
