"""The training step's BLAS (issue 11): numpy's own by default, or MKL (`--blas mkl`, the
optional `mkl` extra) for every product of the step, landing on the same parameters."""

import ctypes
import gc
import weakref

import numpy as np
import pytest
from click.testing import CliRunner

import jacchain.run.blas as blas
from jacchain.cli import cli
from jacchain.errors import JacchainError
from jacchain.model.network import MLP
from jacchain.model.spec import make_spec
from jacchain.training.settings import TrainSettings
from jacchain.training.trainer import Trainer

HAVE_MKL = blas.mkl_path() is not None
needs_mkl = pytest.mark.skipif(not HAVE_MKL, reason="MKL is an optional extra: pip install 'jacchain[mkl]'")


class Recording(blas.Blas):
    """numpy's BLAS, counting the calls the step binds and how often each bound call runs."""

    def __init__(self):
        self.bound = {"gemm": 0, "add row": 0, "column sums": 0, "axpy": 0, "axpby": 0}
        self.calls = dict.fromkeys(self.bound, 0)

    def matmul(self, a, b, out):
        raise AssertionError("the step's products are bound, not called one by one")

    def _cblas_gemm(self, a, b, c, beta):
        raise AssertionError("the step's products are bound, not called one by one")

    def bind_gemm(self, *arguments):
        return Counted(self, "gemm", super().bind_gemm(*arguments))

    def bind_add_row(self, *arguments):
        return Counted(self, "add row", super().bind_add_row(*arguments))

    def bind_column_sums(self, *arguments):
        return Counted(self, "column sums", super().bind_column_sums(*arguments))

    def bind_axpy(self, a, x, y):
        return Counted(self, "axpy", super().bind_axpy(a, x, y))

    def bind_axpby(self, a, x, b, y):
        return Counted(self, "axpby", super().bind_axpby(a, x, b, y))


class Counted:
    def __init__(self, recording, name, call):
        self.recording, self.name, self.call = recording, name, call
        recording.bound[name] += 1

    def __call__(self):
        self.recording.calls[self.name] += 1
        self.call()

    def given(self, a):
        self.recording.calls[self.name] += 1
        self.call.given(a)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_every_product_and_update_of_a_step_goes_to_the_step_s_blas_bound_once(momentum):
    spec = make_spec((12, 9, 7, 4), loss="cross_entropy", seed=1)
    trainer = Trainer(MLP.initialise(spec), TrainSettings(momentum=momentum))
    trainer.blas = recording = Recording()
    rng = np.random.default_rng(0)
    for _ in range(2):
        trainer.step(rng.standard_normal((5, 12)), rng.integers(0, 4, 5))
    # three layers: three forward products, three weight gradients, two input gradients; three
    # bias adds (a rank-1 update by a column of ones) and three bias gradients (dl/da_i times
    # that column). With momentum the update is one axpby for the velocity of what is not
    # folded into its gradient's product (here every layer: each is under fold_min_weights)
    # and one axpy; without, the gradients' products make the whole update and no sweep is
    # left. Each bound once, at the first step, and run at both.
    sweeps = {"axpy": 1, "axpby": 1} if momentum else {"axpy": 0, "axpby": 0}
    once = {"gemm": 8, "add row": 3, "column sums": 3, **sweeps}
    assert recording.bound == once
    assert recording.calls == {name: 2 * count for name, count in once.items()}


@pytest.mark.parametrize("name", ["numpy", pytest.param("mkl", marks=needs_mkl)])
@pytest.mark.parametrize("dtypes", [(">f8", ">f8"), (">f4", ">f4"), ("f4", "f8"), ("f8", "f4")])
def test_operands_cblas_cannot_read_get_numpy_s_arithmetic(name, dtypes):
    """Byte-swapped floats, or two dtypes in one call, are not handed to the routines (they
    would read the bytes as native floats of the first operand's width)."""
    library = blas.backend(name)
    left, right = dtypes
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal(7).astype(left), rng.standard_normal(7).astype(right)
    assert library._get("axpy", x, y) is None
    want_axpy, want_axpby = y + 0.5 * x, 0.5 * x + 0.25 * y
    library.bind_axpy(0.5, x, after := y.copy())()
    np.testing.assert_allclose(after, want_axpy, rtol=1e-6)
    library.bind_axpby(0.5, x, 0.25, after := y.copy())()
    np.testing.assert_allclose(after, want_axpby, rtol=1e-6)
    a, b = rng.standard_normal((3, 4)).astype(left), rng.standard_normal((4, 2)).astype(right)
    out = rng.standard_normal((3, 2)).astype(right)
    want = a.astype(np.float64) @ b + 0.5 * out
    library.bind_gemm(a, b, out, 0.5)()
    np.testing.assert_allclose(out, want, rtol=1e-5)


@pytest.mark.parametrize("name", ["numpy", pytest.param("mkl", marks=needs_mkl)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_bound_sweeps_run_the_routine_on_their_arrays_at_every_call(name, dtype):
    """A bound sweep's arguments are made ctypes values once; each call sweeps again."""
    library = blas.backend(name)
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal(1001).astype(dtype), rng.standard_normal(1001).astype(dtype)
    assert library._vector("axpy", x, y) is not None and library._vector("axpby", x, y) is not None
    tolerance = 1e-12 if dtype == "float64" else 1e-5
    want, after = y.astype(np.float64), y.copy()
    axpy, axpby = library.bind_axpy(0.5, x, after), library.bind_axpby(0.25, x, -0.75, after)
    for _ in range(2):
        axpy()
        want = want + 0.5 * x
        axpby()
        want = 0.25 * x - 0.75 * want
        np.testing.assert_allclose(after, want, rtol=tolerance, atol=tolerance)


class CblasEverywhere(blas.Blas):
    """numpy's BLAS with every bound product through cblas, as MKL's are."""

    numpy_matmul = False


LIBRARIES = ["numpy", "cblas everywhere", "no routines", pytest.param("mkl", marks=needs_mkl)]


def _library(monkeypatch, name):
    if name == "no routines":  # numpy's own arithmetic where the BLAS routines cannot be found
        monkeypatch.setattr(blas.Blas, "_routines", lambda self, name, char: None)
        return blas.Blas()
    return CblasEverywhere() if name == "cblas everywhere" else blas.backend(name)


@pytest.mark.parametrize("name", LIBRARIES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("beta", [0.0, 0.5])
@pytest.mark.parametrize("alpha", [1.0, -0.25])
def test_a_bound_product_is_numpy_s_at_every_call_bound_or_given_its_a(monkeypatch, name, dtype, beta, alpha):
    library = _library(monkeypatch, name)
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((6, 4)).astype(dtype), rng.standard_normal((4, 5)).astype(dtype)
    other = rng.standard_normal((6, 4)).astype(dtype)
    tolerance = 1e-12 if dtype == "float64" else 1e-5
    layouts = (lambda x: x, lambda x: np.ascontiguousarray(x.T).T)  # C-ordered, and stored transposed
    for left_layout in layouts:
        for right_layout in layouts:
            left, right = left_layout(a), right_layout(b)
            start = rng.standard_normal((6, 5)).astype(dtype)
            out = start.copy()
            product = library.bind_gemm(left, right, out, beta, alpha=alpha)
            plain = not beta and alpha == 1
            through_cblas = name == "mkl" or name == "cblas everywhere" or (name == "numpy" and not plain)
            assert (product.routine is not None) == through_cblas
            product()
            product()  # each call does it again, on the same arrays
            want = alpha * a @ b + beta * (alpha * a @ b + beta * start)
            np.testing.assert_allclose(out, want, rtol=tolerance, atol=tolerance)
            for given in (left_layout(other), layouts[1](other) if left.flags.c_contiguous else other):
                out[...] = start  # another A laid out as the bound one, then laid out otherwise
                product.given(given)
                np.testing.assert_allclose(out, alpha * other @ b + beta * start, rtol=tolerance, atol=tolerance)


def test_a_product_bound_to_be_given_its_a_holds_none_of_it():
    rng = np.random.default_rng(8)
    a, b, out = rng.standard_normal((6, 4)), rng.standard_normal((4, 5)), np.zeros((6, 5))
    template = weakref.ref(a)
    product = blas.NUMPY.bind_gemm(a, b, out, 0.5, a_given=True)
    del a
    gc.collect()
    assert template() is None  # a step's batch is not kept alive by the products that read it
    with pytest.raises(TypeError, match="given"):
        product()
    other = rng.standard_normal((6, 4))
    product.given(other)
    np.testing.assert_allclose(out, other @ b, rtol=1e-12)


@pytest.mark.parametrize("name", LIBRARIES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_bound_bias_add_is_numpy_s_broadcast_add_to_the_bit(monkeypatch, name, dtype):
    library = _library(monkeypatch, name)
    rng = np.random.default_rng(9)
    c, row, ones = rng.standard_normal((7, 5)).astype(dtype), rng.standard_normal(5).astype(dtype), np.ones(7, dtype)
    want = c + row
    add = library.bind_add_row(row, c, ones)
    assert isinstance(add, blas.BoundCall) == (name != "no routines")  # a rank-1 update by the BLAS
    add()
    np.testing.assert_array_equal(c, want)
    add()
    np.testing.assert_array_equal(c, want + row)


@pytest.mark.parametrize("name", LIBRARIES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_bound_column_sums_are_the_sum_over_the_rows_in_either_layout(monkeypatch, name, dtype):
    library = _library(monkeypatch, name)
    rng = np.random.default_rng(10)
    a, ones = rng.standard_normal((7, 5)).astype(dtype), np.ones(7, dtype)
    tolerance = 1e-12 if dtype == "float64" else 1e-5
    for stored in (a.copy(), np.ascontiguousarray(a.T).T):  # C-ordered, and Fortran-ordered (dl/dz_L)
        out = np.full(5, np.nan, dtype)
        sums = library.bind_column_sums(stored, out, ones)
        assert isinstance(sums, blas.BoundCall) == (name != "no routines")
        sums()
        np.testing.assert_allclose(out, a.sum(axis=0), rtol=tolerance, atol=tolerance)
        stored[0] += 1  # each call sums the array as it is then
        sums()
        np.testing.assert_allclose(out, np.array(stored).sum(axis=0), rtol=tolerance, atol=tolerance)
        stored[0] -= 1
        start = out.copy()  # and scaled into what out holds: a bias's plain SGD step
        library.bind_column_sums(stored, out, ones, alpha=-0.25, beta=0.5)()
        np.testing.assert_allclose(out, 0.5 * start - 0.25 * a.sum(axis=0), rtol=tolerance, atol=tolerance)


AXPY = (ctypes.c_int, ctypes.c_double, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
# order, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc
GEMM = (
    *[ctypes.c_int] * 6,
    ctypes.c_double,
    *[ctypes.c_void_p, ctypes.c_int] * 2,
    ctypes.c_double,
    ctypes.c_void_p,
    ctypes.c_int,
)


class NarrowRoutine:
    """A routine whose integers hold at most 100, as MKL's 32-bit ones hold at most 2^31 - 1."""

    largest = 100

    def __init__(self, argtypes=AXPY):
        self.argtypes, self.calls = argtypes, 0

    def __call__(self, *arguments):
        self.calls += 1


@pytest.mark.parametrize("size, handed", [(100, True), (101, False)])
def test_an_operand_past_the_routine_s_integers_gets_numpy_s_arithmetic(monkeypatch, size, handed):
    routine = NarrowRoutine()
    monkeypatch.setattr(blas.Blas, "_routines", lambda self, name, char: routine)
    x, y = np.arange(float(size)), np.ones(size)
    blas.Blas().bind_axpy(2.0, x, y)()
    assert routine.calls == (1 if handed else 0)
    if not handed:  # the routine never saw it; numpy did the arithmetic
        np.testing.assert_array_equal(y, 1 + 2 * np.arange(float(size)))


@pytest.mark.parametrize("size, handed", [(100, True), (101, False)])
@pytest.mark.parametrize("where", ["m", "k", "n"])
def test_a_product_with_a_size_past_the_routine_s_integers_gets_numpy_s_arithmetic(monkeypatch, size, handed, where):
    routine = NarrowRoutine(GEMM)
    monkeypatch.setattr(blas.Blas, "_routines", lambda self, name, char: routine)
    m, k, n = (size if where == dimension else 2 for dimension in "mkn")
    a, b = np.arange(float(m * k)).reshape(m, k), np.ones((k, n))
    c = np.ones((m, n))
    blas.Blas().bind_gemm(a, b, c, beta=0.5)()
    assert routine.calls == (1 if handed else 0)
    if not handed:
        np.testing.assert_array_equal(c, a @ b + 0.5)


@needs_mkl
def test_mkl_s_routines_know_their_integers_are_32_bit_and_numpy_s_are_not():
    x = np.ones(3)
    assert blas.backend("mkl")._get("axpy", x, x).largest == 2**31 - 1
    assert not hasattr(blas.NUMPY._get("axpy", x, x), "largest")


@pytest.mark.parametrize("name", ["numpy", pytest.param("mkl", marks=needs_mkl)])
def test_operands_whose_shapes_do_not_fit_are_refused_as_numpy_refuses_them(name):
    library = blas.backend(name)
    a, b = np.ones((3, 4)), np.ones((5, 2))  # 4 columns against 5 rows
    start = np.arange(1.0, 7.0).reshape(3, 2)
    out = start.copy()
    for beta in (0.0, 0.5):
        with pytest.raises(ValueError):
            library.bind_gemm(a, b, out, beta)()
        np.testing.assert_array_equal(out, start)  # not scaled by beta


def test_an_operand_s_address_is_its_data_s_writable_or_not():
    array = np.arange(12.0).reshape(3, 4)
    frozen = array.copy()
    frozen.flags.writeable = False  # its buffer cannot be taken writable: the slower way
    assert blas._address(array) == array.ctypes.data and blas._address(frozen) == frozen.ctypes.data


def test_blas_mkl_without_mkl_is_one_line_and_exit_2(monkeypatch):
    monkeypatch.setattr(blas, "mkl_path", lambda: None)
    result = CliRunner().invoke(cli, ["train", "8,4,2", "--loss", "cross_entropy", "--steps", "2", "--blas", "mkl"])
    assert result.exit_code == 2
    assert result.output.strip() == "Error: --blas mkl needs Intel's MKL: pip install 'jacchain[mkl]'"


def test_blas_mkl_is_for_the_batched_step_only():
    result = CliRunner().invoke(
        cli, ["train", "8,4,2", "--loss", "cross_entropy", "--steps", "2", "--blas", "mkl", "--mode", "explicit"]
    )
    assert result.exit_code == 2
    assert "--mode vjp" in result.output and len(result.output.strip().splitlines()) == 1


@needs_mkl
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_step_on_mkl_lands_where_the_step_on_numpy_s_blas_does(dtype):
    spec = make_spec((30, 20, 16, 10), loss="cross_entropy", seed=3, dtype=dtype)
    settings = TrainSettings(lr=0.1, momentum=0.9, weight_decay=1e-3)
    numpy_side = Trainer(MLP.initialise(spec), settings)
    mkl_side = Trainer(MLP.initialise(spec), TrainSettings(lr=0.1, momentum=0.9, weight_decay=1e-3, blas="mkl"))
    assert mkl_side.blas.name == "mkl"
    rng = np.random.default_rng(4)
    tolerance = 1e-12 if dtype == "float64" else 1e-5
    for _ in range(4):
        X, y = rng.standard_normal((8, 30)).astype(dtype), rng.integers(0, 10, 8)
        assert mkl_side.step(X, y) == pytest.approx(numpy_side.step(X, y), rel=tolerance)
    mkl_params = mkl_side.network.weights + mkl_side.network.biases
    for got, want in zip(mkl_params, numpy_side.network.weights + numpy_side.network.biases):
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance)


@needs_mkl
def test_train_with_blas_mkl_reports_mkl_and_the_same_flops():
    args = ["train", "64,32,10", "--loss", "cross_entropy", "--steps", "3", "--format", "json"]
    plain = CliRunner().invoke(cli, args)
    on_mkl = CliRunner().invoke(cli, [*args, "--blas", "mkl"])
    assert plain.exit_code == on_mkl.exit_code == 0, on_mkl.output
    import json

    plain_report, mkl_report = json.loads(plain.output), json.loads(on_mkl.output)
    assert mkl_report["flops_per_step"] == plain_report["flops_per_step"]
    assert mkl_report["blas"]["library"].startswith("mkl")


@needs_mkl
def test_mkl_is_called_with_32_bit_integers_whatever_the_environment_asks(tmp_path):
    # MKL_INTERFACE_LAYER=ILP64 makes MKL read 64-bit integers; the routines pass 32-bit ones,
    # so without setting the layer first this process crashed in its first product
    import os
    import subprocess
    import sys

    env = dict(os.environ, MKL_INTERFACE_LAYER="ILP64")
    args = ["train", "16,8,4", "--loss", "cross_entropy", "--steps", "3", "--blas", "mkl", "--format", "json"]
    done = subprocess.run(
        [sys.executable, "-m", "jacchain", *args], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert '"library": "mkl' in done.stdout


def _threads_of(path):
    """The thread count threadpoolctl reports for the BLAS loaded from `path`."""
    from threadpoolctl import threadpool_info

    from jacchain.run.timing import same_file

    pools = [p for p in threadpool_info() if p["user_api"] == "blas"]
    return next(p["num_threads"] for p in pools if same_file(p["filepath"], path))


@needs_mkl
def test_blas_threads_gives_the_working_blas_its_threads_and_holds_the_idle_one_to_one():
    # numpy's OpenBLAS raised from one thread to two beside MKL took MKL's products from
    # 0.03 ms to 4 ms each for a while: the idle pool's threads spun on the cores
    from jacchain.run.timing import blas_threads, usable_cores

    on_mkl, on_numpy = blas.backend("mkl").library(), blas.numpy_blas_path()
    before = (_threads_of(on_mkl), _threads_of(on_numpy))
    want = min(2, usable_cores())
    with blas_threads(2, on_mkl):
        assert (_threads_of(on_mkl), _threads_of(on_numpy)) == (want, 1)
    with blas_threads(2, on_numpy):
        assert (_threads_of(on_mkl), _threads_of(on_numpy)) == (1, want)
    with blas_threads(2):  # no library named: every BLAS alike
        assert (_threads_of(on_mkl), _threads_of(on_numpy)) == (want, want)
    assert (_threads_of(on_mkl), _threads_of(on_numpy)) == before


@needs_mkl
def test_train_on_mkl_holds_numpy_s_blas_to_one_thread(monkeypatch):
    import jacchain.training.loop as loop
    from jacchain.run.timing import usable_cores
    from jacchain.training.data import load_dataset

    seen = []
    real = loop._train

    def recording(*args, **kwargs):
        seen.append((_threads_of(blas.mkl_path()), _threads_of(blas.numpy_blas_path())))
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "_train", recording)
    spec = make_spec((16, 8, 4), loss="cross_entropy")
    settings = TrainSettings(lr=0.1, batch=8, steps=2, blas="mkl")
    loop.train(spec, load_dataset("synthetic", spec, seed=0), settings, threads=2)
    assert seen == [(min(2, usable_cores()), 1)]


def test_an_unknown_blas_is_named_with_the_ones_there_are():
    with pytest.raises(JacchainError) as unknown:
        blas.backend("bogus")
    assert str(unknown.value) == "unknown --blas 'bogus'; valid options are: numpy, mkl"


@needs_mkl
def test_an_mkl_without_cblas_is_named_with_its_file(monkeypatch):
    monkeypatch.setattr(blas, "_routine", lambda *args: None)
    with pytest.raises(JacchainError) as lacking:
        blas.backend("mkl")
    path = blas.mkl_path()
    assert str(lacking.value) == f"--blas mkl: {path} has no cblas_dgemm; reinstall with pip install 'jacchain[mkl]'"
