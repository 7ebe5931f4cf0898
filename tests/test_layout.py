"""Tables never cut a number (issue 10): at any width down to 60 columns every count a command
reports in JSON appears whole in its table, and piped output carries no trailing padding."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.table import Column, Table

from jacchain.cli import cli
from jacchain.render.layout import to_text

ROOT = Path(__file__).parent.parent
WIDTHS = (60, 80, 120, 170)


def run(args, columns=None):
    env = {"COLUMNS": str(columns)} if columns else {}
    result = CliRunner().invoke(cli, [str(a) for a in args], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def counts_of(report):
    """Every MACs and FLOPs count of an analysis JSON document."""
    return [order[field] for order in report["orders"].values() for field in ("macs", "flops")]


@pytest.mark.parametrize(
    "spec",
    [
        ROOT / "configs/seed.yaml",
        "1000000000000,1000000000000,10",
        f"{10**40},3,{10**40}",
    ],
)
def test_every_count_of_analyze_is_whole_at_every_width(spec):
    counts = counts_of(json.loads(run(["analyze", spec, "--analytic", "--format", "json"])))
    for width in WIDTHS:
        table = run(["analyze", spec, "--analytic"], width)
        for count in counts:
            assert f"{count:,}" in table, (width, count)
        assert all(line == line.rstrip() for line in table.splitlines())


def test_a_wide_table_keeps_its_columns_and_a_narrow_one_goes_vertical():
    wide = run(["analyze", ROOT / "configs/seed.yaml", "--analytic"], 170)
    narrow = run(["analyze", ROOT / "configs/seed.yaml", "--analytic"], 60)
    assert "┃ order" in wide and "products" in wide
    assert "┃" not in narrow and "  MACs: 535,040" in narrow  # the loss-first MACs, one per line


@pytest.mark.parametrize("width", WIDTHS)
def test_the_train_sweep_and_check_tables_keep_their_counts_whole(width, tmp_path):
    train = json.loads(run(["train", "64,32,10", "--steps", "2", "--format", "json"]))
    table = run(["train", "64,32,10", "--steps", "2"], width)
    assert f"{train['flops_per_step']['loss_first']:,}" in table
    assert f"{train['flops_per_step']['input_first']:,}" in table
    sweep_args = ["sweep", "784,512,256,10", "--vary", "input=16:65536", "--points", "3", "--log", "--analytic"]
    sweep = json.loads(run([*sweep_args, "--format", "json"]))
    table = run(sweep_args, width)
    for point in sweep["points"]:
        for order in point["orders"].values():
            assert f"{order['flops']:,}" in table
    baseline = tmp_path / "baseline.json"
    run(["check", "8,4,2", "--baseline", baseline, "--update"])
    stored = json.loads(baseline.read_text())
    first_setting = next(iter(stored["configs"]["8,4,2"].values()))
    next(iter(first_setting.values()))["flops"] = 123456789012345678
    baseline.write_text(json.dumps(stored))
    result = CliRunner().invoke(cli, ["check", "8,4,2", "--baseline", str(baseline)], env={"COLUMNS": str(width)})
    assert result.exit_code == 1 and "123,456,789,012,345,678" in result.output


@pytest.mark.parametrize("width", WIDTHS)
def test_a_row_label_never_vanishes_when_the_numbers_crowd_it(width):
    # a chain config scheduled on machines has 9 number columns: at 80 columns rich had
    # squeezed the order names into a zero-width column and every row lost its label
    table = Table("order", *(Column(f"figure {k}", justify="right") for k in range(9)))
    names = ("input-first", "loss-first", "accumulate", "matrix-free")
    for row, name in enumerate(names):
        table.add_row(f"{name}\nits other name", *(f"{(row + 1) * 10_000_000 + k:,}" for k in range(9)))
    text = to_text([table], width)
    for row, name in enumerate(names):
        assert f"│ {name} " in text or f"order: {name}" in text, (width, name)  # a cell, or vertical
        assert f"{(row + 1) * 10_000_000 + 8:,}" in text


@pytest.mark.parametrize("width", WIDTHS)
def test_a_title_wider_than_its_table_wraps_at_the_width_not_at_the_table(width):
    # rich wraps a table's title at the table's width: explain's two-factor sums printed their
    # heading's bracketing as '(g' and 'J1)', and a chain's accumulate plan over three lines
    title = "accumulate: (acc_tan(F3) (acc_adj(F2) acc_tan(F1)))"  # narrower than every width
    table = Table("operation", Column("MACs", justify="right"), title=title, title_justify="left")
    table.add_row("total", "12")
    lines = to_text([table], width).splitlines()
    assert lines[0] == title and "│ total" in lines[-2]
    longer = to_text([Table("a", title=" ".join(["word"] * 30))], width).splitlines()  # 149 wide
    title_lines = longer[: len(longer) - 4]  # the table's four lines below it
    assert all(len(line) <= width for line in title_lines) and " ".join(title_lines).split() == ["word"] * 30


def orders_table(show_header=True):
    table = Table("order", "plan", Column("MACs", justify="right"), title="three orders", show_header=show_header)
    table.add_row("loss-first\nvjp", "(J3 J2) J1 by the loss's row", "1,234")
    table.add_row("input-first\njvp", "J3 (J2 J1) by the input's columns", "12,345\n12.3 ms")
    return table


def test_a_table_too_narrow_for_its_numbers_is_laid_out_a_row_at_a_time():
    # each row's first cell, its extra lines indented; every other cell as `heading: value`,
    # its lines joined by "; " so that a line holds every number of the cell
    assert to_text([orders_table()], 12).splitlines() == [
        "three orders",
        "order: loss-first",
        "  vjp",
        "  plan: (J3 J2) J1 by the loss's row",
        "  MACs: 1,234",
        "order: input-first",
        "  jvp",
        "  plan: J3 (J2 J1) by the input's columns",
        "  MACs: 12,345; 12.3 ms",
    ]
    assert to_text([orders_table(show_header=False)], 12).splitlines()[1:5] == [
        "loss-first",
        "  vjp",
        "  (J3 J2) J1 by the loss's row",
        "  1,234",
    ]


def test_a_narrow_table_gives_up_its_text_columns_before_its_shape():
    wide = to_text([orders_table()], 80)
    assert "by the input's columns" in wide and "┃ order" in wide
    narrow = to_text([orders_table()], 30)  # the plan column dropped: order and MACs still fit
    assert "┃ order" in narrow and "plan" not in narrow and "12,345" in narrow and "input-first" in narrow
    assert narrow.splitlines()[0] == " " * 9 + "three orders"  # centred in 30 columns, as the table's title
