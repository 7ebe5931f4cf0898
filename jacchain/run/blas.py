"""The training step's products and vector updates on one BLAS library: numpy's own by
default, or Intel's MKL (the optional `mkl` extra) for every product of the step.

numpy does a vector update as one thread sweeping memory once per operation, and its matmul
cannot accumulate into its output. The BLAS numpy loads (OpenBLAS in numpy's wheels) does each
vector update in one sweep on all of its threads, the threads that have just run the step's
matrix products, and its gemm can add into C. On this project's 2-core machine the SGD momentum
update over 535,000 float32 parameters took 0.41 ms this way against 1.38 ms in numpy. The
routines (the cblas interface and its `?axpby` extension) are looked up once per library: in
numpy's, found through threadpoolctl, with numpy's `scipy_` symbol prefix and `64_` suffix
for its 64-bit integer build; in MKL's `libmkl_rt`, with 32-bit integers. Where a routine
cannot be found, numpy does the same arithmetic.

A step runs on one library only: two BLAS thread pools in one process fight over the cores
(MKL's OpenMP threads and OpenBLAS's threads each spin after a call), so with MKL every
product of the step, the forward ones included, goes to MKL, and numpy's BLAS stays idle."""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import JacchainError, choice_error
from ..types import BLAS_BACKENDS, Array

# (symbol prefix, suffix, integer type) in the order tried: numpy's wheels, then plain builds.
SYMBOLS = (("scipy_", "64_", ctypes.c_int64), ("", "64_", ctypes.c_int64), ("", "", ctypes.c_int))
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112  # the cblas enums
MKL_LP64 = 0  # MKL's interface layer with 32-bit integers
FLOATS = (np.dtype(np.float32), np.dtype(np.float64))  # native byte order: what cblas reads


@functools.cache
def _library(path: str) -> Any:
    try:
        return ctypes.CDLL(path)
    except OSError:
        return None


@functools.cache
def _routine(path: str, name: str, letter: str) -> Callable[..., None] | None:
    """The library's cblas_<letter><name>, typed; None when it is not there."""
    library = _library(path)
    if library is None:
        return None
    real = ctypes.c_float if letter == "s" else ctypes.c_double
    for prefix, suffix, integer in SYMBOLS:
        function: Any = getattr(library, f"{prefix}cblas_{letter}{name}{suffix}", None)
        if function is None:
            continue
        vector = (ctypes.c_void_p, integer)
        enum = ctypes.c_int
        if name == "axpby":  # n, alpha, x, incx, beta, y, incy
            function.argtypes = (integer, real, *vector, real, *vector)
        elif name == "axpy":  # n, alpha, x, incx, y, incy
            function.argtypes = (integer, real, *vector, *vector)
        elif name == "ger":  # order, m, n, alpha, x, incx, y, incy, a, lda
            function.argtypes = (enum, integer, integer, real, *vector, *vector, *vector)
        elif name == "gemv":  # order, trans, m, n, alpha, a, lda, x, incx, beta, y, incy
            function.argtypes = (enum, enum, integer, integer, real, *vector, *vector, real, *vector)
        else:  # gemm: order, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc
            function.argtypes = (enum, enum, enum, integer, integer, integer, real, *vector, *vector, real, *vector)
        function.restype = None
        if ctypes.sizeof(integer) < 8:  # MKL's 32-bit interface: a larger size would wrap silently
            function.largest = 2 ** (8 * ctypes.sizeof(integer) - 1) - 1
        return function
    return None


@functools.cache
def numpy_blas_path() -> str | None:
    """The file of the BLAS numpy loaded, as threadpoolctl reports it."""
    from threadpoolctl import threadpool_info

    pools = [p for p in threadpool_info() if p.get("user_api") == "blas" and "numpy" in str(p.get("filepath", ""))]
    return str(pools[0]["filepath"]) if pools else None


def _address(array: Array) -> int:
    """Where a C-contiguous array's data starts: through the buffer protocol (a third of the
    time of `array.ctypes.data`, which matters for a call of a few microseconds), or through
    `ctypes` for a read-only array, whose buffer cannot be taken writable."""
    try:
        return ctypes.addressof(ctypes.c_char.from_buffer(array))  # type: ignore[arg-type]  # numpy exports a buffer
    except (TypeError, ValueError, BufferError):
        return int(array.ctypes.data)


def _stored(array: Array) -> tuple[bool, int] | None:
    """How a 2-D operand is stored for cblas in row-major order: (transposed, leading
    dimension), or None when it is neither C- nor Fortran-contiguous."""
    if array.flags.c_contiguous:
        return False, array.shape[1]
    if array.flags.f_contiguous:  # the transpose of a C-contiguous array
        return True, array.shape[0]
    return None


def _bound(routine: Any, *values: Any) -> tuple[Any, ...]:
    """A routine's arguments made its argtypes' ctypes values once, for a call made again and
    again: ctypes then passes them as they are instead of converting each one at every call
    (an axpy over 1,000 floats 2.3 us here, against 3.1-3.8 us given Python numbers)."""
    return tuple(kind(value) for kind, value in zip(routine.argtypes, values, strict=True))


def _fits(routine: Any, *sizes: int) -> bool:
    """Whether every size fits the routine's integers: `largest`, set for 32-bit ones (ctypes
    would pass 2^31 + 5 as -2^31 + 5, and the routine would do nothing or the wrong thing)."""
    largest = getattr(routine, "largest", None)
    return largest is None or max(sizes) <= largest


def _numpy_gemm(a: Array, b: Array, c: Array, beta: float, alpha: float = 1.0) -> None:
    """C = alpha A B + beta C in numpy's arithmetic, where no cblas routine can take the
    operands; the product first, so that C is left as it was when numpy refuses the shapes."""
    if not beta and alpha == 1:
        np.matmul(a, b, out=c)
        return
    product = a @ b
    if alpha != 1:
        product *= alpha
    if beta:
        c *= beta
        c += product
    else:
        c[...] = product


class BoundCall:
    """A routine with its arguments made ctypes values once (`_bound`), holding the arrays
    whose addresses they are, so that those stay theirs for as long as the call lives."""

    __slots__ = ("arguments", "operands", "routine")

    def __init__(self, routine: Any, arguments: tuple[Any, ...], operands: tuple[Array, ...]) -> None:
        self.routine, self.arguments, self.operands = routine, _bound(routine, *arguments), operands

    def __call__(self) -> None:
        self.routine(*self.arguments)


class BoundGemm:
    """C = alpha A B + beta C bound to its operands once (`Blas.bind_gemm`); numpy's
    arithmetic where cblas cannot take them, and numpy's matmul for a plain product (alpha 1,
    no beta) on numpy's own BLAS (`Blas.numpy_matmul`). Bound with `a_given`, it holds only
    A's layout (shape, dtype, storage), not A, and is given an A at every call (`given`): a
    training step's input, new at every step, is not kept alive past its step."""

    __slots__ = ("a", "alpha", "arguments", "b", "beta", "c", "layout", "routine")

    A_DATA = 7  # where A's address sits in the gemm's arguments

    def __init__(
        self, blas: Blas, a: Array, b: Array, c: Array, beta: float, a_given: bool = False, alpha: float = 1.0
    ) -> None:
        plain = not beta and alpha == 1
        call = None if blas.numpy_matmul and plain else blas._gemm_arguments(a, b, c, beta, alpha)
        self.routine: Any = None if call is None else call[0]
        self.arguments: tuple[Any, ...] = () if call is None else _bound(call[0], *call[1])
        self.a, self.b, self.c, self.beta, self.alpha = None if a_given else a, b, c, beta, alpha
        self.layout = (a.shape, a.dtype, _stored(a))

    def __call__(self) -> None:
        if self.a is None:
            raise TypeError("this product is bound to be given its A at each call: call given(a)")
        if self.routine is None:
            _numpy_gemm(self.a, self.b, self.c, self.beta, self.alpha)
        else:
            self.routine(*self.arguments)

    def given(self, a: Array) -> None:
        """The same product with this A: by the bound call when A is shaped and stored as the
        A it was bound with, else by numpy's arithmetic."""
        stored = _stored(a) if a.ndim == 2 else None
        if self.routine is None or stored is None or (a.shape, a.dtype, stored) != self.layout:
            _numpy_gemm(a, self.b, self.c, self.beta, self.alpha)
            return
        arguments = list(self.arguments)
        arguments[self.A_DATA] = _address(a.T if stored[0] else a)
        self.routine(*arguments)


class Blas:
    """Products and in-place vector updates on one library (numpy's by default)."""

    name = "numpy"
    # The fewest weights whose gradient product takes the momentum in (a gemm with beta: the
    # velocity's update in the product, no sweep of its own). Called one by one, such a gemm
    # was a ctypes call 15-35 us dearer here than numpy's matmul, while a smaller layer's
    # weights ride along in the update's one sweep over the biases' velocity at about 0.3 ns
    # each: the two cost the same near 50,000 weights. Bound once (`bind_gemm`, as the step
    # binds its products now) it costs about what the matmul does, but folding every layer
    # measured no faster: 1.10x and 1.006x the step at 64,128,64,10 b32, 1.001x and 1.014x
    # at 784,512,256,10 b128, in alternating processes.
    fold_min_weights = 50_000
    # Whether numpy's matmul runs a product without beta on this library: then it does, as
    # its call costs less than a ctypes one (7.7 against 7.9 us for a 32 x 64 x 128 float32
    # product here, 3.1 against 3.6 us at 32 x 64 x 10), whatever its operands.
    numpy_matmul = True

    def library(self) -> str | None:
        return numpy_blas_path()

    def _get(self, name: str, *arrays: Array) -> Callable[..., None] | None:
        """The routine for these arrays, when they suit it: one native float dtype, no empty
        array, no dimension past the routine's integers (`_fits`)."""
        dtype = arrays[0].dtype
        if dtype not in FLOATS:
            return None
        for array in arrays:
            if array.dtype != dtype or not array.size:
                return None
        routine = self._routines(name, dtype.char)
        return routine if _fits(routine, *(max(array.shape) for array in arrays)) else None

    @functools.cached_property
    def _found(self) -> dict[tuple[str, str], Callable[..., None] | None]:
        return {}

    def _routines(self, name: str, char: str) -> Callable[..., None] | None:
        """The library's routine `name` for the dtype `char`, looked up once per instance."""
        found, key = self._found, (name, char)
        try:
            return found[key]
        except KeyError:
            path = self.library()
            routine = found[key] = None if path is None else _routine(path, name, "s" if char == "f" else "d")
            return routine

    def _vector(self, name: str, x: Array, y: Array) -> Callable[..., None] | None:
        if not (x.ndim == y.ndim == 1 and x.size == y.size and x.flags.c_contiguous and y.flags.c_contiguous):
            return None
        return self._get(name, x, y)

    def bind_axpby(self, a: float, x: Array, b: float, y: Array) -> Callable[[], None]:
        """y = a x + b y, in place (1-D, same length), checked and addressed once: a call that
        does it again each time (a training step's update sweeps the same buffers every step)."""
        routine = self._vector("axpby", x, y)
        arguments = _bound(routine, y.size, a, _address(x), 1, b, _address(y), 1) if routine else ()

        def sweep() -> None:  # holds x and y, so their addresses stay theirs
            if routine is None:  # numpy's arithmetic
                np.multiply(y, b, out=y)
                np.add(y, a * x if a != 1 else x, out=y)
            else:
                routine(*arguments)

        return sweep

    def bind_axpy(self, a: float, x: Array, y: Array) -> Callable[[], None]:
        """y = a x + y, in place (1-D, same length), checked and addressed once (as bind_axpby)."""
        routine = self._vector("axpy", x, y)
        arguments = _bound(routine, y.size, a, _address(x), 1, _address(y), 1) if routine else ()

        def sweep() -> None:
            if routine is None:
                np.add(y, a * x, out=y)
            else:
                routine(*arguments)

        return sweep

    def _gemm_arguments(
        self, a: Array, b: Array, c: Array, beta: float, alpha: float = 1.0
    ) -> tuple[Any, tuple[Any, ...]] | None:
        """The gemm routine and its arguments for C = alpha A B + beta C, or None where cblas
        cannot take the operands: those `_get` takes, each `_stored`, C C-contiguous; what
        `BoundGemm` binds. The checks are inline, the sizes checked once as m, n and k: when
        every unbound MKL product came this way, a 64 x 32 x 10 float32 gemm with beta took 22 us
        on MKL here against 27 us through `_get` (19.5 against 21 on numpy's BLAS), the
        routine's own call about 9."""
        dtype = c.dtype
        shape_a, shape_b, shape_c = a.shape, b.shape, c.shape
        if not (
            dtype in FLOATS
            and a.dtype == dtype
            and b.dtype == dtype
            and len(shape_a) == len(shape_b) == 2
            and shape_c == (shape_a[0], shape_b[1])
            and shape_a[1] == shape_b[0]
            and a.size
            and b.size
            and c.flags.c_contiguous
        ):
            return None
        left, right = _stored(a), _stored(b)
        routine = None if left is None or right is None else self._routines("gemm", dtype.char)
        if routine is None or left is None or right is None or not _fits(routine, *shape_a, shape_b[1]):
            return None
        (m, k), n = shape_a, shape_b[1]
        (trans_a, lda), (trans_b, ldb) = left, right
        a_data, b_data = _address(a.T if trans_a else a), _address(b.T if trans_b else b)
        order = (ROW_MAJOR, TRANS if trans_a else NO_TRANS, TRANS if trans_b else NO_TRANS)
        return routine, (*order, m, n, k, alpha, a_data, lda, b_data, ldb, beta, _address(c), n)

    def bind_gemm(
        self, a: Array, b: Array, c: Array, beta: float = 0.0, a_given: bool = False, alpha: float = 1.0
    ) -> BoundGemm:
        """C = alpha A B + beta C for these operands, checked and addressed once (as
        bind_axpy): a training step's products read and write the same buffers step after
        step. With `a_given`, A is given at each call, laid out as this one (`BoundGemm.given`)."""
        return BoundGemm(self, a, b, c, beta, a_given, alpha)

    def bind_add_row(self, row: Array, c: Array, ones: Array) -> Callable[[], None]:
        """C += `row` on every row of C, in place (a bias add): a rank-1 update (ger) of C by
        `ones` (a vector of ones, one per row of C) and the row, on this BLAS's threads, checked
        and addressed once. It adds exactly what numpy's broadcast add does (each term a
        product by one)."""
        fits = (
            c.ndim == 2
            and c.flags.c_contiguous
            and row.shape == (c.shape[1],)
            and row.flags.c_contiguous
            and ones.shape == (c.shape[0],)
            and ones.flags.c_contiguous
        )
        routine = self._get("ger", ones, row, c) if fits else None
        if routine is None:
            return functools.partial(np.add, c, row, out=c)
        arguments = (ROW_MAJOR, *c.shape, 1.0, _address(ones), 1, _address(row), 1, _address(c), c.shape[1])
        return BoundCall(routine, arguments, (ones, row, c))

    def bind_column_sums(
        self, a: Array, out: Array, ones: Array, alpha: float = 1.0, beta: float = 0.0
    ) -> Callable[[], None]:
        """out = alpha times the sum of A's rows + beta out (a bias gradient, dl/da_i summed
        over the batch): A^T times `ones` (a vector of ones, one per row of A) by gemv on this
        BLAS's threads, checked and addressed once; A C- or Fortran-contiguous. numpy's
        arithmetic, where cblas cannot take them, does the same product (the ones as a row,
        times A)."""
        stored = _stored(a) if a.ndim == 2 else None
        fits = (
            stored is not None
            and out.shape == (a.shape[1],)
            and out.flags.c_contiguous
            and ones.shape == (a.shape[0],)
            and ones.flags.c_contiguous
        )
        routine = self._get("gemv", a, out, ones) if fits else None
        if routine is None or stored is None:
            return functools.partial(_numpy_gemm, ones.reshape(1, -1), a, out.reshape(1, -1), beta, alpha)
        transposed, lead = stored
        rows, columns = a.shape[::-1] if transposed else a.shape  # A as it is stored, row-major
        trans = NO_TRANS if transposed else TRANS  # stored transposed, its rows are A's columns
        data = _address(a.T if transposed else a)
        arguments = (ROW_MAJOR, trans, rows, columns, alpha, data, lead, _address(ones), 1, beta, _address(out), 1)
        return BoundCall(routine, arguments, (ones, a, out))


class Mkl(Blas):
    """Every product on MKL's cblas (the step's forward products too)."""

    name = "mkl"
    fold_min_weights = 0  # every product here is a ctypes call, with beta or without
    numpy_matmul = False

    def __init__(self, path: str) -> None:
        self.path = path
        library = _library(path)
        if library is not None and hasattr(library, "MKL_Set_Interface_Layer"):
            # 32-bit integers, as the routines are typed, whatever MKL_INTERFACE_LAYER says
            library.MKL_Set_Interface_Layer(MKL_LP64)

    def library(self) -> str | None:
        return self.path


def mkl_path() -> str | None:
    """MKL's single dynamic library as the `mkl` wheel installs it, or as the system has it."""
    import ctypes.util
    import importlib.metadata

    try:
        files = importlib.metadata.files("mkl") or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name.startswith("libmkl_rt.so") or file.name in ("mkl_rt.dll", "libmkl_rt.dylib"):
            return str(file.locate())
    return ctypes.util.find_library("mkl_rt")


NUMPY = Blas()


def backend(name: str) -> Blas:
    """The named BLAS for a training step; a JacchainError when it cannot be had."""
    if name == "numpy":
        return NUMPY
    if name != "mkl":
        raise choice_error("--blas", name, BLAS_BACKENDS)
    path = mkl_path()
    if path is None or _library(path) is None:
        raise JacchainError("--blas mkl needs Intel's MKL: pip install 'jacchain[mkl]'")
    mkl = Mkl(path)  # sets the interface layer before any routine runs
    if _routine(path, "gemm", "d") is None:
        raise JacchainError(f"--blas mkl: {path} has no cblas_dgemm; reinstall with pip install 'jacchain[mkl]'")
    return mkl
