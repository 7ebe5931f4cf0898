"""`jacchain analyze` through CliRunner: output contract, formats, and every bad input."""

import csv
import io
import json

import pytest
from click.testing import CliRunner

from jacchain.cli import cli
from jacchain.jobs.analyze import analyze, measure_peak
from jacchain.model.spec import make_spec
from jacchain.run.timing import blas_info


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_analyze_json_contract_for_the_article_network():
    result = invoke("analyze", "784,512,256,10", "--format", "json", "--repeats", "3")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["schema_version"] == 1
    assert data["network"] == {
        "name": None,
        "sizes": [784, 512, 256, 10],
        "activations": ["relu", "relu", "identity"],
        "loss": "mse",
        "dtype": "float64",
        "seed": 0,
    }
    assert (data["of"], data["wrt"], data["granularity"]) == ("loss", "input", "layer")
    loss_first, input_first = data["orders"]["loss_first"], data["orders"]["input_first"]
    assert loss_first["products"][0] == {
        "left": [1, 10],
        "right": [10, 256],
        "left_structure": "dense",
        "right_structure": "dense",
        "macs": 2560,
        "flops": 5120,
    }
    assert [p["flops"] for p in input_first["products"]] == [2 * 256 * 512 * 784, 2 * 10 * 256 * 784, 2 * 10 * 784]
    assert input_first["flops"] == 2 * (256 * 512 * 784 + 10 * 256 * 784 + 10 * 784)
    for order in (loss_first, input_first):
        assert set(order["time_s"]) == {"median", "min", "max", "repeats"}
        assert order["time_s"]["repeats"] == 3
    assert data["max_abs_diff"] < 1e-12
    assert data["blas"] == blas_info().to_dict()


def test_analyze_table_names_every_order_both_ways_and_the_ratio():
    result = invoke("analyze", "784,512,256,10", "--repeats", "3")
    assert result.exit_code == 0, result.output
    for text in (
        "loss-first",
        "forwards",
        "reverse mode",
        "input-first",
        "backwards",
        "forward mode",
        "195.8x the FLOPs",
        "the time",
        "max abs difference",
        "BLAS:",
        "building the Jacobians",
    ):
        assert text in result.output


def test_analytic_runs_nothing_and_works_for_huge_networks():
    result = invoke("analyze", "12288,49152,12288", "--analytic", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["analytic"] is True and data["max_abs_diff"] is None and data["blas"] is None
    assert data["orders"]["loss_first"]["time_s"] is None


def test_csv_and_markdown_formats_and_atomic_output_file(tmp_path):
    result = invoke("analyze", "20,10,5", "--format", "csv", "--repeats", "3")
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [row["order"] for row in rows] == ["loss-first", "input-first", "optimal"]
    assert int(rows[0]["flops"]) == 2 * (5 * 10 + 10 * 20)
    markdown = invoke("analyze", "20,10,5", "--format", "markdown", "--analytic").output
    assert markdown.startswith("### ") and "| **loss-first** |" in markdown
    target = tmp_path / "out.json"
    assert invoke("analyze", "20,10,5", "--format", "json", "--analytic", "-o", str(target)).exit_code == 0
    assert json.loads(target.read_text())["orders"]["optimal"]["flops"] == 2 * (5 * 10 + 10 * 20)
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_several_specs_give_a_json_list():
    result = invoke("analyze", "8,4,2", "6,3", "--analytic", "--format", "json")
    assert [entry["network"]["sizes"] for entry in json.loads(result.output)] == [[8, 4, 2], [6, 3]]


def test_order_selection_accepts_article_words_and_ad_names():
    result = invoke("analyze", "8,4,2", "--analytic", "--format", "json", "--order", "backwards,vjp")
    assert list(json.loads(result.output)["orders"]) == ["loss_first", "input_first"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["784,-3,10"], "Error: spec '784,-3,10': width 2 must be a positive integer, got '-3'"),
        (["784"], "Error: spec '784': needs at least two widths (input and output), got 1; for example 784,512,10"),
        (["abc"], "Error: spec 'abc': width 1 must be a positive integer, got 'abc'"),
        (["784,,10"], "Error: spec '784,,10': width 2 is empty; write widths as N0,N1,...,NL"),
        (["1e3,10"], "Error: spec '1e3,10': width 1 must be a positive integer, got '1e3'"),
        (["0,5"], "Error: spec '0,5': width 1 must be a positive integer, got 0"),
        (["٣,٤"], "Error: spec '٣,٤': width 1 must be a positive integer, got '٣'"),
        (["８,４"], "Error: spec '８,４': width 1 must be a positive integer, got '８'"),
        (
            ["8,4", "--activation", "swish"],
            "Error: unknown activation 'swish'; valid options are: identity, relu, tanh, sigmoid, gelu, softmax",
        ),
        (["8,4", "--loss", "hinge"], "Error: unknown loss 'hinge'; valid options are: mse, cross_entropy"),
        (
            ["8,4", "--order", "sideways"],
            "Error: unknown order 'sideways'; valid options are: loss-first, input-first, optimal",
        ),
        (
            ["8,4", "--max-memory", "lots"],
            "Error: --max-memory must be a number with an optional unit (B, kB, MB, GB, KiB, MiB, GiB), got 'lots'",
        ),
        # Under one byte is no limit to run under: refused, not taken as 0 or as no limit.
        (["8,4", "--max-memory", "0.5B"], "Error: --max-memory must be positive, got '0.5B'"),
        (["missing.yaml"], "Error: missing.yaml: no such file; SPEC is a YAML file or a size list like 784,512,10"),
        # A path without .yaml is still a path, not a malformed size list.
        (
            ["configs/missing"],
            "Error: configs/missing: no such file; SPEC is a YAML file or a size list like 784,512,10",
        ),
    ],
)
def test_bad_input_is_one_clear_line_with_exit_code_2(args, message):
    result = invoke("analyze", *args)
    assert result.exit_code == 2
    assert result.output.strip() == message
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["analyze", "explain", "train"])
def test_a_folder_given_as_spec_is_named_as_a_folder(tmp_path, command):
    result = invoke(command, str(tmp_path))
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"Error: {tmp_path}: is a folder; SPEC is one YAML config (for each in it: {tmp_path}/*.yaml)"
    )


def test_memory_guard_refuses_before_allocating_and_points_to_analytic(tmp_path):
    target = tmp_path / "keep.json"
    target.write_text("old")
    result = invoke("analyze", "50000,50000,10", "--max-memory", "1GiB", "-o", str(target))
    assert result.exit_code == 2
    assert "needs about" in result.output and "1.00 GiB" in result.output and "--analytic" in result.output
    assert target.read_text() == "old"


def test_every_command_has_help():
    for name, command in cli.commands.items():
        result = invoke(name, "--help")
        assert result.exit_code == 0 and "Example" in result.output, name
        assert command.help


def test_measured_peak_memory_sits_beside_the_model():
    result = invoke("analyze", "300,200,100,10", "--measure-memory", "--repeats", "2", "--format", "json")
    data = json.loads(result.output)
    for order in data["orders"].values():
        # tracemalloc sees every intermediate the model counts, plus small numpy overheads.
        assert order["peak_bytes"] <= order["measured_peak_bytes"] <= order["peak_bytes"] + 64 * 1024


@pytest.mark.parametrize(
    "sizes, activation, of, wrt, granularity",
    [
        ((1200, 800, 10), "relu", "loss", "input", "layer"),  # one large layer Jacobian
        ((300,) * 8 + (3,), "tanh", "loss", "input", "layer"),  # many: never two builds at once
        ((600, 60, 500), "tanh", "output", "input", "layer"),  # large results, compared
        ((40, 60, 30, 5), "softmax", "loss", "params", "layer"),  # dense P_i through a dense D
        ((200, 300, 10), "gelu", "loss", "params", "op"),
        ((30, 300, 300, 20), "softmax", "output", "input", "op"),  # D_i dense factors
    ],
)
def test_an_explicit_run_allocates_no_more_than_its_modelled_memory(sizes, activation, of, wrt, granularity):
    # --max-memory admits a run on memory_bytes, so the run must keep to it: traced by
    # tracemalloc from the parameters to the orders' cross-check (64 KiB for Python's own
    # objects), and not wildly under it either (0.62-0.98 of it here)
    spec = make_spec(sizes, activation=activation, loss="mse", seed=1)
    analyze(make_spec((30, 20, 10), seed=1), repeats=1)  # what a first run sets up once, outside the count
    ran = []
    peak = measure_peak(lambda: ran.append(analyze(spec, of=of, wrt=wrt, granularity=granularity, repeats=1)))
    (result,) = ran
    assert result.max_abs_diff is not None  # every order ran explicitly
    assert result.memory_bytes / 2 <= peak <= result.memory_bytes + 64 * 1024


def test_python_dash_m_runs_the_cli():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "jacchain", "analyze", "8,4,2", "--analytic", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout)["orders"]["loss_first"]["macs"] == 2 * 4 + 4 * 8


def test_float32_end_to_end_builds_counts_and_agrees_in_single_precision():
    result = invoke("analyze", "30,20,10,5", "--dtype", "float32", "--repeats", "1", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["network"]["dtype"] == "float32"
    # loss-first keeps a 1 x 10 row while making the 1 x 20 one, then 1 x 20 while making 1 x 30: 4 bytes each.
    assert data["orders"]["loss_first"]["peak_bytes"] == (20 + 30) * 4
    assert data["factor_bytes"] == (1 * 5 + 5 * 10 + 10 * 20 + 20 * 30) * 4
    assert 0 < data["max_abs_diff"] < 1e-5  # single precision: not exactly equal, close


def test_wrt_params_counts_only_when_the_factors_alone_exceed_the_limit():
    result = invoke("analyze", "784,512,256,10", "--wrt", "params", "--max-memory", "1MiB", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["analytic"] is True and data["max_abs_diff"] is None
    assert data["note"].startswith("analytic: the explicit factors need about ")
    assert data["note"].endswith(", over the --max-memory limit of 1.00 MiB")


def test_max_memory_admits_a_run_that_needs_exactly_its_limit_and_says_the_bytes_when_just_over():
    counted = json.loads(invoke("analyze", "30,20,10", "--analytic", "--format", "json").output)
    needed = counted["memory_bytes"]
    fits = invoke(
        "analyze", "30,20,10", "--no-time-model", "--repeats", "1", "--max-memory", f"{needed}B", "--format", "json"
    )
    assert fits.exit_code == 0, fits.output
    assert json.loads(fits.output)["max_abs_diff"] is not None  # run explicitly, not counted only
    over = invoke("analyze", "30,20,10", "--no-time-model", "--max-memory", f"{needed - 1}B")
    assert over.exit_code == 2
    # both sizes would read the same in KiB, so the line gives them in bytes
    assert f"needs about {needed:,} B of memory, over the --max-memory limit of {needed - 1:,} B;" in over.stderr
