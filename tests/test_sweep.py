"""`jacchain sweep`: widths, every format, the memory fallback, and the plot."""

import csv
import io
import json
from dataclasses import replace

import pytest
from click.testing import CliRunner

from jacchain.chain.factors import chain_of_dims
from jacchain.cli import cli
from jacchain.cost.machine import Calibration
from jacchain.cost.plan_cost import plan_cost
from jacchain.cost.time_model import plan_time
from jacchain.planners.folds import left_fold


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_sweep_json_counts_every_order_at_every_width(fake_figures):
    machine = Calibration(blas="fake", dtype="float64", threads=1, **fake_figures)
    result = invoke(
        "sweep", "40,20,5", "--vary", "input=8:64", "--points", "4", "--log", "--repeats", "2", "--format", "json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [point["width"] for point in data["points"]] == [8, 16, 32, 64]
    for point in data["points"]:
        n0 = point["width"]
        # The article's sums with n0 varied: loss-first 1*5*20 + 1*20*n0; input-first 5*20*n0 + 1*5*n0.
        assert point["orders"]["loss_first"]["macs"] == 5 * 20 + 20 * n0
        assert point["orders"]["input_first"]["macs"] == 5 * 20 * n0 + 5 * n0
        assert point["orders"]["loss_first"]["time_s"]["repeats"] == 2
        products = plan_cost(left_fold(3), chain_of_dims([1, 5, 20, n0])).products
        # the calibration's rates, with the fixed costs timed beside this point's orders
        fixed = point["fixed_costs"]
        assert fixed["call_s"] > 0 and fixed["run_s"] >= 0
        timed = replace(machine, call_s=fixed["call_s"], run_s=fixed["run_s"])
        assert point["orders"]["loss_first"]["predicted_time_s"] == pytest.approx(plan_time(products, timed, 8))


@pytest.mark.parametrize("fmt", ["table", "csv", "markdown"])
def test_sweep_other_formats(fmt):
    result = invoke(
        "sweep", "40,20,5", "--vary", "layer1=10:30", "--points", "3", "--analytic", "--no-time-model", "--format", fmt
    )
    assert result.exit_code == 0, result.output
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(result.output)))
        assert [int(r["width"]) for r in rows] == [10] * 3 + [20] * 3 + [30] * 3
        assert int(rows[0]["flops"]) == 2 * (5 * 10 + 10 * 40)
        return
    lines = result.output.splitlines()
    for width in (10, 20, 30):
        loss_first, input_first = 2 * (5 * width + width * 40), 2 * (5 * width * 40 + 5 * 40)
        if fmt == "markdown":
            assert f"| {width} | loss-first | {loss_first:,} | - | - |" in lines
            assert f"| {width} | input-first | {input_first:,} | - | - |" in lines
        else:
            cells = [[cell.strip() for cell in line.strip("│").split("│")] for line in lines if line.startswith("│")]
            assert [str(width), "loss-first", f"{loss_first:,}", "-", "-"] in cells
            assert [str(width), "input-first", f"{input_first:,}", "-", "-"] in cells


def test_widths_that_do_not_fit_are_counted_only():
    result = invoke(
        "sweep",
        "100,50,5",
        "--vary",
        "input=100:100000",
        "--points",
        "2",
        "--log",
        "--max-memory",
        "20MiB",
        "--repeats",
        "1",
        "--format",
        "json",
    )
    points = json.loads(result.output)["points"]
    assert points[0]["analytic"] is False and points[1]["analytic"] is True
    assert "--max-memory" in points[1]["note"]


def test_plot_file_is_written_and_not_empty(tmp_path):
    pytest.importorskip("matplotlib")
    for name in ("sweep.png",):  # svg is drawn by the Gantt chart's test (test_chain_cli.py)
        target = tmp_path / name
        result = invoke(
            "sweep", "40,20,5", "--vary", "input=8:64", "--points", "3", "--log", "--repeats", "1", "--plot", target
        )
        assert result.exit_code == 0, result.output
        assert target.stat().st_size > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.png"]


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--vary", "width=1:2"],
            "Error: --vary 'width=1:2': expected WHAT=LO:HI with WHAT input or layerN, e.g. input=16:65536",
        ),
        (
            ["--vary", "layer5=1:2"],
            "Error: --vary 'layer5=1:2': the network has layers 1..2; its input width is input=LO:HI",
        ),
        # layer0 is not a layer: it used to vary the input under another name
        (
            ["--vary", "layer0=1:2"],
            "Error: --vary 'layer0=1:2': the network has layers 1..2; its input width is input=LO:HI",
        ),
        (["--vary", "input=9:3"], "Error: --vary 'input=9:3': need 0 < LO <= HI, got 9:3"),
        (["--vary", "input=1:3", "--plot", "x.pdf"], "Error: --plot 'x.pdf': the file must end in .png or .svg"),
    ],
)
def test_bad_sweeps(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("sweep", "40,20,5", "--analytic", *args)
    assert result.exit_code == 2
    assert result.output.strip() == message
