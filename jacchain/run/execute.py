"""Run a plan on real arrays: count every product actually performed, time the work alone.

The counts here come from the operands themselves at run time (their shapes and kinds) and
the result's structure from the array the kernel returns, independently of cost/product.py;
a test holds the two equal. Diagonal factors are 1-D arrays; a Kronecker factor
P = D [I (x) z^T, I] is a `Kron` holding D and z.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..chain.plan import Plan
from ..cost.product import ProductCount
from ..types import Array, Structure
from .arrays import Kron, Value, structure_of

DENSE, DIAGONAL, KRON = Structure.DENSE, Structure.DIAGONAL, Structure.KRON
Kernel = Callable[[Any, Any], Value]


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


_KERNELS: dict[tuple[Structure, Structure], Kernel] = {
    (DENSE, DENSE): _dense_dense,
    (DIAGONAL, DENSE): _diagonal_dense,
    (DENSE, DIAGONAL): _dense_diagonal,
    (DIAGONAL, DIAGONAL): _diagonal_diagonal,
    (DENSE, KRON): _dense_kron,
    (DIAGONAL, KRON): _diagonal_kron,
}


def count_product(left: Value, right: Value, result: Value) -> ProductCount:
    """What multiplying these two operands into `result` performed, read off the arrays."""
    kinds = (structure_of(left), structure_of(right))
    m, n = (left.shape[0], left.shape[0]) if kinds[0] == DIAGONAL else left.shape
    n_right, k = (right.shape[0], right.shape[0]) if kinds[1] == DIAGONAL else right.shape
    m, n, n_right, k = int(m), int(n), int(n_right), int(k)
    if kinds == (DENSE, DENSE):
        macs = m * n * k
        flops = macs + macs
    elif kinds[0] == DIAGONAL and kinds[1] != DENSE:
        macs = flops = m  # elementwise product of two length-m vectors
    elif kinds == (DENSE, KRON) and isinstance(right, Kron):
        # m*n to scale by d, then m*n*len(z) for the outer products: m*k multiplies in all.
        macs = flops = m * n + m * n * int(right.z.shape[0])
    else:
        macs = flops = m * k  # one multiply per entry of the scaled matrix
    return ProductCount((m, n), (n_right, k), kinds[0], kinds[1], macs, flops, structure_of(result))


def _program(plan: Plan, values: list[Value]) -> list[tuple[Kernel, int, int, tuple[int, ...]]]:
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


def compile_plan(plan: Plan, arrays: list[Value]) -> Callable[[], list[Value]]:
    """A closure that runs the plan's steps with no bookkeeping (what gets timed) and returns
    the plan's results. Intermediates are dropped after their last use, as the cost model
    assumes."""
    program = _program(plan, arrays)
    factors = tuple(arrays)
    results = plan.results

    def run() -> list[Value]:
        values: list[Any] = list(factors)
        append = values.append
        for kernel, left, right, freed in program:
            append(kernel(values[left], values[right]))
            for operand in freed:
                values[operand] = None
        return [values[index] for index in results]

    return run


def run_counted(plan: Plan, arrays: list[Value]) -> tuple[list[Value], tuple[ProductCount, ...]]:
    """Run the plan once, recording each product's counts from its operands and result."""
    values: list[Any] = list(arrays)
    products = []
    for kernel, left, right, freed in _program(plan, arrays):
        result = kernel(values[left], values[right])
        products.append(count_product(values[left], values[right], result))
        values.append(result)
        for operand in freed:
            values[operand] = None
    return [values[index] for index in plan.results], tuple(products)
