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
