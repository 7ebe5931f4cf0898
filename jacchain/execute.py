"""Run a plan on real arrays: count every product actually performed, time the chain alone.

The counts here come from the arrays' own shapes at run time, independently of cost.py;
a test holds the two equal.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .chain import DENSE, DIAGONAL, Plan
from .cost import ProductCount

Array = np.ndarray


def _dense_dense(left: Array, right: Array) -> Array:
    return left @ right


def _diagonal_dense(left: Array, right: Array) -> Array:
    return left[:, None] * right


def _dense_diagonal(left: Array, right: Array) -> Array:
    return left * right


def _diagonal_diagonal(left: Array, right: Array) -> Array:
    return left * right


_KERNELS = {
    (2, 2): _dense_dense,
    (1, 2): _diagonal_dense,
    (2, 1): _dense_diagonal,
    (1, 1): _diagonal_diagonal,
}


def count_product(left: Array, right: Array) -> ProductCount:
    """What multiplying these two arrays performs, read off their shapes (1-D = diagonal)."""
    m, n = (left.shape[0], left.shape[0]) if left.ndim == 1 else left.shape
    n_right, k = (right.shape[0], right.shape[0]) if right.ndim == 1 else right.shape
    structures = (DIAGONAL if left.ndim == 1 else DENSE, DIAGONAL if right.ndim == 1 else DENSE)
    if left.ndim == 2 and right.ndim == 2:
        macs = int(m) * int(n) * int(k)
        flops = macs + macs
    elif left.ndim == 1 and right.ndim == 1:
        macs = flops = int(m)
    else:
        macs = flops = int(m) * int(k)
    return ProductCount((int(m), int(n)), (int(n_right), int(k)), *structures, macs, flops)


def _program(plan: Plan, arrays: list[Array]) -> list[tuple[Callable, int, int, tuple[int, ...]]]:
    """Each step's kernel, operands, and the intermediates it may free once done."""
    ndims = [array.ndim for array in arrays]
    program = []
    for left, right in plan.steps:
        kernel = _KERNELS[(ndims[left], ndims[right])]
        frees = tuple(operand for operand in (left, right) if operand >= plan.n_factors)
        program.append((kernel, left, right, frees))
        ndims.append(1 if ndims[left] == ndims[right] == 1 else 2)
    return program


def compile_plan(plan: Plan, arrays: list[Array]) -> Callable[[], Array]:
    """A closure that runs the plan's steps with no bookkeeping: what gets timed.

    Intermediates are dropped as soon as they are consumed, as the cost model assumes.
    """
    program = _program(plan, arrays)
    factors = tuple(arrays)

    def run() -> Array:
        values = list(factors)
        append = values.append
        for kernel, left, right, frees in program:
            append(kernel(values[left], values[right]))
            for operand in frees:
                values[operand] = None
        return values[-1]

    return run


def run_counted(plan: Plan, arrays: list[Array]) -> tuple[Array, tuple[ProductCount, ...]]:
    """Run the plan once, recording each product's counts from the operands' shapes."""
    values = list(arrays)
    products = []
    for kernel, left, right, frees in _program(plan, arrays):
        products.append(count_product(values[left], values[right]))
        values.append(kernel(values[left], values[right]))
        for operand in frees:
            values[operand] = None
    return values[-1], tuple(products)
