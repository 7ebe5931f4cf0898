"""Run a plan on real arrays: count every product actually performed, time the work alone.

The counts here come from the operands themselves at run time (their shapes and kinds),
independently of cost.py; a test holds the two equal. Diagonal factors are 1-D arrays;
a Kronecker factor P = D [I (x) z^T, I] is a `Kron` holding D and z.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .chain import DENSE, DIAGONAL, KRON, Plan
from .cost import ProductCount

Array = np.ndarray


@dataclass(frozen=True)
class Kron:
    """dz_i/dtheta_i = diag(d) [I (x) z^T, I], shape n_i x (n_i n_{i-1} + n_i), never formed."""

    d: Array
    z: Array

    @property
    def shape(self) -> tuple[int, int]:
        rows = self.d.shape[0]
        return (rows, rows * self.z.shape[0] + rows)

    def dense(self) -> Array:
        rows = self.d.shape[0]
        weights = np.kron(np.eye(rows, dtype=self.d.dtype), self.z[None, :])
        return self.d[:, None] * np.concatenate([weights, np.eye(rows, dtype=self.d.dtype)], axis=1)


def structure_of(value: Any) -> str:
    if isinstance(value, Kron):
        return KRON
    return DIAGONAL if value.ndim == 1 else DENSE


def _dense_dense(left: Array, right: Array) -> Array:
    return left @ right


def _diagonal_dense(left: Array, right: Array) -> Array:
    return left[:, None] * right


def _dense_diagonal(left: Array, right: Array) -> Array:
    return left * right


def _diagonal_diagonal(left: Array, right: Array) -> Array:
    return left * right


def _dense_kron(left: Array, right: Kron) -> Array:
    # [M D (x) z^T, M D]: the bias block is M scaled by d; each row of the weight block is
    # the outer product of a row of that with z. One allocation: the result itself.
    rows, n = left.shape
    width = right.z.shape[0]
    out = np.empty((rows, n * width + n), dtype=np.result_type(left, right.d))
    scaled = np.multiply(left, right.d, out=out[:, n * width :])
    np.multiply(scaled[:, :, None], right.z, out=out[:, : n * width].reshape(rows, n, width))
    return out


def _diagonal_kron(left: Array, right: Kron) -> Kron:
    return Kron(left * right.d, right.z)


_KERNELS: dict[tuple[str, str], Callable[[Any, Any], Any]] = {
    (DENSE, DENSE): _dense_dense,
    (DIAGONAL, DENSE): _diagonal_dense,
    (DENSE, DIAGONAL): _dense_diagonal,
    (DIAGONAL, DIAGONAL): _diagonal_diagonal,
    (DENSE, KRON): _dense_kron,
    (DIAGONAL, KRON): _diagonal_kron,
}


def count_product(left: Any, right: Any) -> ProductCount:
    """What multiplying these two operands performs, read off the operands themselves."""
    kinds = (structure_of(left), structure_of(right))
    m, n = (left.shape[0], left.shape[0]) if kinds[0] == DIAGONAL else left.shape
    n_right, k = (right.shape[0], right.shape[0]) if kinds[1] == DIAGONAL else right.shape
    m, n, n_right, k = int(m), int(n), int(n_right), int(k)
    if kinds == (DENSE, DENSE):
        macs = m * n * k
        flops = macs + macs
    elif kinds[0] == DIAGONAL and kinds[1] != DENSE:
        macs = flops = m  # elementwise product of two length-m vectors
    elif kinds == (DENSE, KRON):
        # m*n to scale by d, then m*n*len(z) for the outer products: m*k multiplies in all.
        macs = flops = m * n + m * n * int(right.z.shape[0])
    else:
        macs = flops = m * k  # one multiply per entry of the scaled matrix
    return ProductCount((m, n), (n_right, k), kinds[0], kinds[1], macs, flops)


def _program(plan: Plan, values: list[Any]) -> list[tuple[Callable, int, int, tuple[int, ...]]]:
    """Each step's kernel, operands, and the intermediates it uses for the last time."""
    kinds = [structure_of(value) for value in values]
    program = []
    for (left, right), freed in zip(plan.steps, plan.frees()):
        key = (kinds[left], kinds[right])
        program.append((_KERNELS[key], left, right, freed))
        if key in ((DIAGONAL, DIAGONAL), (DIAGONAL, KRON)):
            kinds.append(kinds[right])
        else:
            kinds.append(DENSE)
    return program


def compile_plan(plan: Plan, arrays: list[Any]) -> Callable[[], list[Any]]:
    """A closure that runs the plan's steps with no bookkeeping (what gets timed) and returns
    the plan's results. Intermediates are dropped after their last use, as the cost model
    assumes."""
    program = _program(plan, arrays)
    factors = tuple(arrays)
    results = plan.results

    def run() -> list[Any]:
        values = list(factors)
        append = values.append
        for kernel, left, right, freed in program:
            append(kernel(values[left], values[right]))
            for operand in freed:
                values[operand] = None
        return [values[index] for index in results]

    return run


def run_counted(plan: Plan, arrays: list[Any]) -> tuple[list[Any], tuple[ProductCount, ...]]:
    """Run the plan once, recording each product's counts from its operands."""
    values = list(arrays)
    products = []
    for kernel, left, right, freed in _program(plan, arrays):
        products.append(count_product(values[left], values[right]))
        values.append(kernel(values[left], values[right]))
        for operand in freed:
            values[operand] = None
    return [values[index] for index in plan.results], tuple(products)
