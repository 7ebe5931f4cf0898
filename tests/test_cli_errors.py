"""Every way a command fails ends in one `Error:` line and its exit code (part of issue 10)."""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from jacchain.cli import cli
from jacchain.jobs.analyze import count_only
from jacchain.jobs.plan import plan_orders
from jacchain.model.spec import make_spec
from jacchain.render import render
from jacchain.run.timing import usable_cores


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.mark.parametrize(
    "args, message",
    [
        (["analyze"], "Error: Missing argument 'SPEC...'."),
        (["analyze", "8,4", "--repeats", "0"], "Error: Invalid value for '--repeats': 0 is not in the range x>=1."),
        (
            ["analyze", "8,4", "--format", "yaml"],
            "Error: Invalid value for '--format': 'yaml' is not one of 'table', 'json', 'markdown', 'csv'.",
        ),
        (
            ["explain", "8,4", "--wrt", "weights"],
            "Error: Invalid value for '--wrt': 'weights' is not one of 'input', 'params'.",
        ),
        (["frobnicate"], "Error: No such command 'frobnicate'."),
        (
            ["train", "8,4,3", "--mode", "bogus"],
            "Error: Invalid value for '--mode': 'bogus' is not one of 'vjp', 'explicit'.",
        ),
        (
            ["train", "8,4,3", "--blas", "bogus"],
            "Error: Invalid value for '--blas': 'bogus' is not one of 'numpy', 'mkl'.",
        ),
        (
            ["analyze", "8,4", "--of", "bogus"],
            "Error: Invalid value for '--of': 'bogus' is not one of 'loss', 'output'.",
        ),
        (
            ["analyze", "8,4", "--granularity", "bogus"],
            "Error: Invalid value for '--granularity': 'bogus' is not one of 'layer', 'op'.",
        ),
        (["analyze", "8,4", "--memory", "-1"], "Error: Invalid value for '--memory': -1 is not in the range x>=0."),
        (["analyze", "8,4", "--machines", "0"], "Error: Invalid value for '--machines': 0 is not in the range x>=1."),
        (
            ["analyze", "8,4", "--time-limit", "0"],
            "Error: Invalid value for '--time-limit': 0.0 is not in the range x>0.",
        ),
        (["analyze", "8,4", "--threads", "0"], "Error: Invalid value for '--threads': 0 is not in the range x>=1."),
        (["analyze", "8,4", "--seed", "-1"], "Error: Invalid value for '--seed': -1 is not in the range x>=0."),
        # a number given to an option before the spec is not read as the spec
        (["analyze", "--repeats", "3", "-3,4"], "Error: spec '-3,4': width 1 must be a positive integer, got '-3'"),
        (["analyze", "-3,4"], "Error: spec '-3,4': width 1 must be a positive integer, got '-3'"),
        (["check", "-1,8", "--baseline", "b.json"], "Error: spec '-1,8': width 1 must be a positive integer, got '-1'"),
    ],
)
def test_usage_errors_are_one_line_with_exit_2(args, message):
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == message + "\n"


@pytest.mark.parametrize(
    "args",
    [
        ["--memory", "0"],  # no limit, as in JCDP
        ["--machines", "1"],
        ["--time-limit", "0.5"],
        ["--threads", "1"],
        ["--seed", "0"],
    ],
)
def test_each_option_s_smallest_value_is_accepted(args):
    config = Path(__file__).parent.parent / "configs" / "jcdp-example.yaml"
    result = invoke("analyze", config, "--analytic", *args)
    assert result.exit_code == 0, result.output


def test_a_negative_width_is_named_however_the_arguments_reach_the_command(monkeypatch, capsys):
    expected = "Error: spec '-3,4': width 1 must be a positive integer, got '-3'\n"
    with pytest.raises(SystemExit) as ended:
        cli.main(["analyze", "-3,4"], prog_name="jacchain")  # the arguments given in the call
    assert ended.value.code == 2 and capsys.readouterr().err == expected
    monkeypatch.setattr(sys, "argv", ["jacchain", "analyze", "-3,4"])
    with pytest.raises(SystemExit) as ended:
        cli.main(prog_name="jacchain")  # ... or read from the command line, as the entry point does
    assert ended.value.code == 2 and capsys.readouterr().err == expected


@pytest.mark.parametrize(
    "columns, width", [("20", 20), ("10000", 10000), ("19", None), ("10001", None), ("", None), ("٣٠", None)]
)
def test_columns_sets_the_width_only_where_it_is_a_sensible_number(monkeypatch, columns, width):
    from jacchain.cli.emit import FILE_WIDTH, output_width

    monkeypatch.setenv("COLUMNS", columns)
    assert output_width() == (width or FILE_WIDTH)


def test_an_unknown_option_is_one_line_with_exit_2():
    """The wording is click's own and moves between its releases ("No such option: -x" in 8.2,
    "No such option '-x'." later), so only the line's shape is held here."""
    result = invoke("analyze", "8,4", "-x")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Error: No such option")
    assert "-x" in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.endswith("\n")


def test_ctrl_c_exits_130_and_writes_nothing(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("jacchain.jobs.analyze.analyze", interrupted)
    target = tmp_path / "out.json"
    result = invoke("analyze", "8,4", "--format", "json", "-o", target)
    assert result.exit_code == 130
    # click ends the ^C line first (a newline), then the one error line
    assert result.stderr.lstrip("\n") == "Error: interrupted; nothing partial was written\n"
    assert list(tmp_path.iterdir()) == []


def test_json_never_holds_nan_or_infinity():
    analysis = count_only(plan_orders(make_spec((4, 3, 2))))
    text = render(replace(analysis, max_abs_diff=float("nan")), "json")
    assert json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))["max_abs_diff"] is None


def test_threads_beyond_the_usable_cores_are_capped_with_one_warning():
    result = invoke("analyze", "8,4", "--analytic", "--threads", "100000", "--format", "json")
    assert result.exit_code == 0
    cores = usable_cores()
    assert result.stderr == f"Warning: --threads 100000 is more than the {cores} usable core(s); using {cores}\n"
    assert json.loads(result.stdout)["network"]["sizes"] == [8, 4]


def test_the_environment_does_not_decide_the_exit_code():
    # python -m jacchain goes through the same boundary as the console script.
    done = subprocess.run(
        [sys.executable, "-m", "jacchain", "analyze", "784,-3"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "40"},
    )
    assert done.returncode == 2
    assert done.stderr == "Error: spec '784,-3': width 2 must be a positive integer, got '-3'\n"
