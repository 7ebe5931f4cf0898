"""Every format of one result says what its JSON document says: the CSV's rows and the Markdown's
tables of the same result object are read back and compared, field by field, with the JSON."""

import csv
import io
import json
import re
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from jacchain.chain.config import load_chain
from jacchain.chain.elementals import network_chain
from jacchain.jobs.analyze import analyze
from jacchain.jobs.chain import analyze_chain, explain_chain, run_plans
from jacchain.jobs.explain import explain
from jacchain.jobs.regress import check, load_named
from jacchain.model.spec import make_spec
from jacchain.render import render
from jacchain.render.layout import to_text
from jacchain.render.text import seconds_text
from jacchain.run.calibrate import CalibrationRun
from jacchain.training.data import load_dataset
from jacchain.training.loop import train
from jacchain.training.settings import TrainSettings

ROOT = Path(__file__).parent.parent
EXAMPLE = str(ROOT / "configs/jcdp-example.yaml")


def formats(result):
    """The result's JSON document, its CSV rows, and the rows of every Markdown table in it."""
    document = json.loads(render(result, "json"))
    text = render(result, "csv")
    assert "\r" not in text  # lines end in \n alone, as every other output does
    rows = list(csv.DictReader(io.StringIO(text)))
    markdown = render(result, "markdown")
    return document, rows, markdown


def table_rows(markdown):
    """The cells of each Markdown table row, headings included, separators left out."""
    return [
        [cell.replace("\\|", "|") for cell in line[2:-2].split(" | ")]
        for line in markdown.splitlines()
        if line.startswith("| ")
    ]


def text(value):
    """How a CSV cell reads back: empty for None, Python's str otherwise."""
    return "" if value is None else str(value)


def names(segment):
    first, last = segment
    return f"F{first}" if first == last else f"F{first}..F{last}"


def operation_text(op):
    """The words of one plan step, read from its JSON fields alone."""
    if op["kind"] == "accumulate":
        return f"accumulate {names(op['segment'])} by {op['mode']}s"
    if op["kind"] == "multiply":
        return f"multiply into [{names(op['segment'])}] at F{op['split']}"
    return f"{op['mode']} elimination through {','.join(op['through'])} -> [{names(op['segment'])}]"


MODES = {"accumulate": {"tangent", "adjoint"}, "tan": {"tangent"}, "adj": {"adjoint"}, "multiply": {"-"}}


def check_plan_fields(plan):
    """What the model says of every step: its kind and mode go together, a product splits its
    segment inside it, an elimination runs through the segment's own elementals."""
    for op in plan:
        first, last = op["segment"]
        assert 1 <= first <= last and op["mode"] in MODES[op["kind"]], op
        assert ("split" in op) == (op["kind"] == "multiply") and ("through" in op) == (op["kind"] in ("tan", "adj"))
        if op["kind"] == "multiply":
            assert first <= op["split"] < last, op
        if "through" in op:
            numbers = [int(name[1:]) for name in op["through"]]
            assert numbers == list(range(numbers[0], numbers[-1] + 1)) and first <= numbers[0] <= numbers[-1] <= last


@pytest.mark.parametrize("memory", [None, 10])
def test_a_chain_analysis_in_every_format(memory, calibrate):
    analysis = analyze_chain(load_chain(EXAMPLE), memory=memory, machines=2)
    result = run_plans(analysis, None, repeats=3, calibrate=calibrate)
    document, rows, markdown = formats(result)
    orders = list(document["orders"].values())
    assert [row["chain"] for row in rows] == ["jcdp-example"] * len(orders) == [document["chain"]["name"]] * 4
    for row, order in zip(rows, orders, strict=True):
        schedule = order["schedule"] or {}
        assert row == {
            "chain": "jcdp-example",
            "order": order["name"],
            "allowed": str(order["plan"] is not None),
            "macs": text(order["macs"]),
            "flops": text(None if order["macs"] is None else 2 * order["macs"]),
            "bracketing": text(order["bracketing"]),
            "makespan": text(schedule.get("makespan")),
            "exact": text(schedule.get("exact")),
            "dp_heuristic": text(schedule.get("dp_heuristic")),
            "work": text(schedule.get("work")),
        }
        if order["plan"] is not None:
            check_plan_fields(order["plan"])
            assert sum(op["cost"] for op in order["plan"]) == order["macs"]
    assert (memory is None) == all(order["allowed"] for order in orders)

    limit = "no memory limit" if memory is None else f"memory limit {memory:,}"
    assert markdown.splitlines()[0] == f"### jcdp-example: 3 elementals (chain config), {limit}, 2 machine(s), MACs"
    footer = markdown.split("\n\n")
    assert any(line.startswith("run on surrogate elementals (random linear maps") for line in footer)
    if memory is None:
        best, dense = document["orders"]["matrix_free"]["macs"], document["orders"]["accumulate"]["macs"]
        assert any(
            line.startswith(f"matrix-free costs {best:,} MACs, accumulate-then-multiply {dense:,}: ") for line in footer
        )
    assert f"least critical path over all plans (unlimited machines): {document['critical_path']:,}" in footer
    fixed = document["fixed_costs"]
    assert any(
        line.startswith(
            f"predicted times: the calibration's rates, with {seconds_text(fixed['call_s'])} a library call and "
            f"{seconds_text(fixed['run_s'])} a run"
        )
        for line in footer
    )
    assert any(
        f"; BLAS: {document['blas']['library']}, {document['blas']['threads']} thread(s)" in line for line in footer
    )

    (headings, *cells) = table_rows(markdown)
    assert headings[:4] == ["order", "plan", "MACs", "FLOPs"] and len(cells) == len(orders)
    for line, order in zip(cells, orders, strict=True):
        by = dict(zip(headings, line, strict=True))
        assert by["order"] == f"{order['name']} / {order['ad_name']}"
        if order["plan"] is None:
            assert (by["plan"], by["MACs"], by["FLOPs"]) == ("not allowed: a tape over the memory limit", "-", "-")
            continue
        assert (by["plan"], by["MACs"], by["FLOPs"]) == (
            order["bracketing"],
            f"{order['macs']:,}",
            f"{order['flops']:,}",
        )
        measured = order["measured"]
        assert by["time (median)"] == seconds_text(measured["time_s"]["median"])
        assert by["max |diff|"] == f"{measured['max_abs_diff']:.1e}"
        schedule = order["schedule"]
        if schedule is None:
            assert [by[key] for key in ("makespan", "exact", "DP heuristic", "work")] == ["-"] * 4
            continue
        assert all(task["mode"] in MODES[task["operation"]] for task in schedule["tasks"])
        assert {task["operation"] for task in schedule["tasks"]} <= set(MODES)
        exact = "yes" if schedule["exact"] else f"no (>= {schedule['lower_bound']:,})"
        heuristic = "-" if schedule["dp_heuristic"] is None else f"{schedule['dp_heuristic']:,}"
        assert [by[key] for key in ("makespan", "exact", "DP heuristic", "work")] == [
            f"{schedule['makespan']:,}",
            exact,
            heuristic,
            f"{schedule['work']:,}",
        ]
        assert by["makespan on P threads"] == seconds_text(measured["makespan_s"]["median"])
        assert by["speed-up"] == f"{measured['speedup']:.2f}x"
        assert measured["speedup"] == pytest.approx(
            measured["one_thread_s"]["median"] / measured["makespan_s"]["median"]
        )


def test_a_chain_explanation_in_every_format():
    document, rows, markdown = formats(explain_chain(load_chain(EXAMPLE)))
    plans = {"matrix-free": document["matrix_free"], "accumulate": document["accumulate"]}
    for plan in plans.values():
        check_plan_fields(plan["plan"])
        assert sum(op["cost"] for op in plan["plan"]) == plan["macs"]
    assert [(row["plan"], row["operation"], int(row["macs"])) for row in rows] == [
        (name, operation_text(op), op["cost"]) for name, plan in plans.items() for op in plan["plan"]
    ]
    # the model's worked example (GENERALISED-CHAINS.md, section 4): F3 and F1 by eliminations,
    # F2 accumulated by tangents; accumulate-then-multiply forms each Jacobian the cheaper way
    assert [row["operation"] for row in rows[:3]] == [
        "accumulate F2 by tangents",
        "tangent elimination through F3 -> [F2..F3]",
        "adjoint elimination through F1 -> [F1..F3]",
    ]
    assert sorted(row["operation"].split(" by ")[0] for row in rows[3:] if row["operation"].startswith("acc")) == [
        "accumulate F1",
        "accumulate F2",
        "accumulate F3",
    ]
    expected = f"### {document['chain']['name']}\n"
    for heading, plan in zip(("matrix-free optimum", "accumulate, then multiply"), plans.values()):
        lines = [[operation_text(op), f"{op['cost']:,}"] for op in plan["plan"]] + [["total", f"{plan['macs']:,}"]]
        assert f"**{heading}**: `{plan['bracketing']}`" in markdown
        expected_rows = [["operation", "MACs"], *lines]
        found = table_rows(markdown.split(f"**{heading}**")[1])[: len(expected_rows)]
        assert found == expected_rows
    assert markdown.startswith(expected) and markdown.endswith(f"\n{document['why']}\n")


def test_a_training_run_in_every_format():
    spec = make_spec((6, 5, 3), loss="cross_entropy", seed=1)
    settings = TrainSettings(steps=4, batch=8, momentum=0.9, grad_check=True)
    document, rows, markdown = formats(train(spec, load_dataset("synthetic", spec), settings))
    assert [(int(row["step"]), float(row["loss"])) for row in rows] == list(
        enumerate(document["loss_history"], start=1)
    )
    assert len(rows) == document["steps"] == 4
    by = dict(table_rows(markdown)[1:])  # figure -> value
    flops = document["flops_per_step"]
    parts = flops["loss_first_parts"]
    assert sum(parts.values()) == flops["loss_first"]
    assert by["FLOPs per step, loss-first (counted)"] == (
        f"{flops['loss_first']:,} (forward {parts['forward']:,}, backward {parts['backward']:,}, "
        f"update {parts['update']:,})"
    )
    assert by["FLOPs per step, input-first (modelled)"].startswith(f"{flops['input_first']:,} (")
    assert by["steps"].startswith(f"{document['steps']:,} (") and f"batch {document['batch']}," in by["steps"]
    assert by["dataset"] == f"synthetic ({document['n_train']} train / {document['n_test']} held out)"
    assert by["train loss / accuracy"] == (f"{document['train_loss']:.4f} / {document['train_accuracy'] * 100:.2f}%")
    assert by["held-out loss / accuracy"] == f"{document['test_loss']:.4f} / {document['test_accuracy'] * 100:.2f}%"
    assert by["samples per second"] == f"{document['samples_per_s']:,.0f}"
    check_ = document["grad_check"]
    assert by["gradient check (float64)"].startswith(
        f"max relative error {check_['max_rel_error']:.2e} over {check_['coordinates']} coordinates"
    )
    assert by["BLAS"] == f"{document['blas']['library']}, {document['blas']['threads']} thread(s)"
    assert by["time per step"].startswith(seconds_text(document["step_time_s"]["median"]) + " median")
    assert np.isfinite(document["loss_history"]).all()


def test_a_check_in_every_format(tmp_path):
    kept, gone, new = (tmp_path / f"{name}.yaml" for name in ("kept", "gone", "new"))
    kept.write_text("input: 8\nlayers: [4, 2]\n")
    gone.write_text("input: 6\nlayers: [3]\n")
    new.write_text("input: 5\nlayers: [2]\n")
    baseline = str(tmp_path / "b.json")
    check(load_named([str(kept), str(gone)], baseline), baseline, update=True)
    kept.write_text("input: 8\nlayers: [5, 2]\n")
    gone.unlink()
    document, rows, markdown = formats(check(load_named([str(kept), str(new)], baseline), baseline))
    assert document["removed"] == ["gone.yaml"] and document["added"] == ["new.yaml"] and document["changes"]
    expected = [
        [
            change["config"],
            change["setting"],
            change["order"],
            change["field"],
            f"{change['baseline']:,}",
            f"{change['now']:,}",
            f"{change['difference']:+,} ({change['change_percent']:+.2f}%)",
        ]
        for change in document["changes"]
    ]
    expected.append(["new.yaml", "-", "-", "-", "-", "(new config, not in baseline)", "added"])
    expected.append(["gone.yaml", "-", "-", "-", "(in baseline)", "(config file gone)", "removed"])
    headings = ["config", "setting", "order", "field", "baseline", "now", "change"]
    assert [list(row.values()) for row in rows] == expected and list(rows[0]) == headings
    assert table_rows(markdown) == [headings, *expected]
    for change in document["changes"]:
        assert change["difference"] == change["now"] - change["baseline"]
        assert change["change_percent"] == pytest.approx(100 * change["difference"] / change["baseline"])
    assert markdown.splitlines()[0] == (
        f"**jacchain check**: FLOP counts differ from {baseline}: {len(document['changes'])} changed value(s), "
        "1 config(s) added, 1 removed (config file gone)"
    )


def test_an_analysis_in_every_format(calibrate):
    spec = make_spec((16, 8, 4), activation="tanh", seed=2)
    calibration = calibrate("float64", None)
    document, rows, markdown = formats(analyze(spec, repeats=3, calibration=calibration, measure_memory=True))
    orders = list(document["orders"].values())
    assert [order["name"] for order in orders] == ["loss-first", "input-first", "optimal"]
    for row, order in zip(rows, orders, strict=True):
        timing = order["time_s"]
        assert row == {
            "network": "16,8,4",
            "of": document["of"],
            "wrt": document["wrt"],
            "granularity": document["granularity"],
            "order": order["name"],
            **{key: text(order[key]) for key in ("article_word", "ad_name", "bracketing", "macs", "flops")},
            **{key: text(order[key]) for key in ("peak_bytes", "gflops_per_s", "predicted_time_s")},
            **{f"time_{key}_s": text(timing[key]) for key in ("median", "min", "max")},
            "repeats": text(timing["repeats"]),
            "max_abs_diff": text(document["max_abs_diff"]),
        }
        assert order["gflops_per_s"] == pytest.approx(order["flops"] / timing["median"] / 1e9)
        assert order["flops"] == 2 * order["macs"]

    (headings, *cells) = table_rows(markdown)
    assert headings == [
        "order",
        "article",
        "AD name",
        "bracketing",
        "MACs",
        "FLOPs",
        "time (median)",
        "GFLOP/s",
        "peak bytes",
    ]
    for line, order in zip(cells, orders, strict=True):
        timing = order["time_s"]
        assert line == [
            f"**{order['name']}**",
            order["article_word"],
            order["ad_name"],
            f"`{order['bracketing']}`",
            f"{order['macs']:,}",
            f"{order['flops']:,}",
            f"{seconds_text(timing['median'])} ({seconds_text(timing['min'])}-{seconds_text(timing['max'])}, "
            f"n={timing['repeats']})",
            f"{order['gflops_per_s']:.2f}",
            f"{order['peak_bytes']:,}",
        ]
    footer = [line[2:] for line in markdown.splitlines() if line.startswith("- ")]
    cheapest = min(orders, key=lambda order: order["flops"])
    for order in orders:
        if order["flops"] > cheapest["flops"]:
            assert any(line.startswith(f"{order['name']} performs ") for line in footer)
            assert any(f" the FLOPs of {cheapest['name']} and takes " in line for line in footer)
    assert f"max abs difference between orders: {document['max_abs_diff']:.3g}" in footer
    assert f"BLAS: {document['blas']['library']}, {document['blas']['threads']} thread(s)" in footer
    first, second = document["orders"]["input_first"], document["orders"]["loss_first"]
    predicted = first["predicted_time_s"] / second["predicted_time_s"]
    measured = first["time_s"]["median"] / second["time_s"]["median"]
    assert f"input-first / loss-first time: predicted {predicted:,.1f}x, measured {measured:,.1f}x" in footer


def test_an_explanation_in_every_format():
    spec = make_spec((784, 256, 8, 256, 784), activation="tanh")
    document, rows, markdown = formats(explain(spec, of="output"))
    orders = document["orders"]
    assert [(row["order"], row["left"], row["right"]) for row in rows] == [
        (key.replace("_", "-"), term["left"], term["right"]) for key, order in orders.items() for term in order["terms"]
    ]
    for row, term in zip(rows, [term for order in orders.values() for term in order["terms"]], strict=True):
        assert row == {"order": row["order"], **{key: text(value) for key, value in term.items()}}
        assert term["flops"] == 2 * term["macs"]
    for key, order in orders.items():
        name = key.replace("_", "-")
        section = markdown.split(f"**{name}**")[1]
        assert section.split("\n")[0].endswith(f": `{order['bracketing']}`")
        expected = [
            [f"`{t['left']} {t['right']}`", t["symbols"], t["numbers"], f"{t['macs']:,}"] for t in order["terms"]
        ]
        expected.append(["total", "", "", f"{order['macs']:,} MACs = {order['flops']:,} FLOPs"])
        assert table_rows(section)[1 : len(expected) + 1] == expected
    assert markdown.endswith(document["why"] + "\n")

    def products(node):
        """Check each product of the tree against its two operands; return the FLOPs under it."""
        if not node["children"]:
            assert node["flops"] == 0
            return 0
        left, right = node["children"]
        assert node["label"] == f"({left['label']} {right['label']})" and left["shape"][1] == right["shape"][0]
        assert node["shape"] == [left["shape"][0], right["shape"][1]]
        assert node["flops"] == 2 * left["shape"][0] * left["shape"][1] * right["shape"][1]
        return node["flops"] + products(left) + products(right)

    # the same tree drawn in the Markdown: 2 * 784 * 8 * 784 FLOPs at the root, 2 * 784 * 256 * 8 under it
    assert markdown.split("```text\n")[1].split("```")[0].splitlines() == [
        "784x784 ((J4 J3) (J2 J1))  9,834,496 FLOPs",
        "|-- 784x8 (J4 J3)  3,211,264 FLOPs",
        "|   |-- 784x256 J4",
        "|   `-- 256x8 J3",
        "`-- 8x784 (J2 J1)  3,211,264 FLOPs",
        "    |-- 8x256 J2",
        "    `-- 256x784 J1",
    ]
    tree = document["optimal_tree"]
    assert products(tree) == orders["optimal"]["flops"] and tree["label"] == orders["optimal"]["bracketing"]
    assert [factor["name"] for factor in document["factors"]] == ["J4", "J3", "J2", "J1"]


def test_a_pruning_update_in_every_format(tmp_path):
    kept, gone = tmp_path / "kept.yaml", tmp_path / "gone.yaml"
    kept.write_text("input: 8\nlayers: [4, 2]\n")
    gone.write_text("input: 6\nlayers: [3]\n")
    baseline = tmp_path / "b.json"
    check(load_named([str(kept), str(gone)], str(baseline)), str(baseline), update=True)
    gone.unlink()
    stored = json.loads(baseline.read_text())  # a baseline from before peak bytes were counted
    for orders in stored["configs"]["kept.yaml"].values():
        for counts in orders.values():
            del counts["peak_bytes"]
    baseline.write_text(json.dumps(stored))
    result = check(load_named([str(kept)], str(baseline)), str(baseline), update=True, prune=True)
    document, rows, markdown = formats(result)
    assert document["pruned"] == document["removed"] == ["gone.yaml"] and document["updated"]
    peak = [change for change in document["changes"] if change["field"] == "peak_bytes"]
    assert peak and len(peak) == len(document["changes"])
    assert all(change["baseline"] is None and change["difference"] is None for change in peak)
    expected = [
        [c["config"], c["setting"], c["order"], c["field"], "-", f"{c['now']:,}", "-"] for c in document["changes"]
    ]
    expected.append(["gone.yaml", "-", "-", "-", "(in baseline)", "(config file gone)", "pruned"])
    assert [list(row.values()) for row in rows] == expected == table_rows(markdown)[1:]
    assert markdown.splitlines()[0] == (
        f"**jacchain check**: updated {baseline}: 1 config(s) written ({len(peak)} changed value(s), 0 added), "
        "0 kept, 1 pruned"
    )


def test_several_results_are_one_document_in_each_format():
    first, second = (explain(make_spec(sizes)) for sizes in ((6, 4, 2), (5, 3)))
    assert render([first, second], "markdown") == render(first, "markdown") + "\n" + render(second, "markdown")
    header, *rows = render(first, "csv").splitlines()
    assert render([first, second], "csv").splitlines() == [header, *rows, *render(second, "csv").splitlines()[1:]]
    assert json.loads(render([first, second], "json")) == [json.loads(render(r, "json")) for r in (first, second)]


def test_a_calibration_in_every_format(tmp_path, calibrate):
    measured = calibrate("float64", None)
    calibration = replace(
        measured,
        stream_bytes=2**28,
        stream_gbps=10.0,
        call_s=1.5e-6,
        run_s=2.25e-6,
        stream_curve=((2**20, 30.0), (2**28, 10.0)),
        stream_curve_one=((2**20, 12.5),),
        threaded_from=65_536,
        measured_at=time.time(),
    )
    document, rows, markdown = formats(CalibrationRun(calibration, tmp_path / "cache.json"))
    assert document["cache"] == str(tmp_path / "cache.json")
    assert rows == [{key: text(value) for key, value in calibration.to_dict().items()}]
    lines = [line[2:] for line in markdown.splitlines()]
    assert "vector-matrix streaming from memory (256 MiB matrix): 10.0 GB/s" in lines
    assert (
        "vector-matrix streaming, GB/s by matrix size (the call's time taken out): 1.00 MiB 30.0, 256.00 MiB 10.0"
        in lines
    )
    assert "the same on one thread (the BLAS's below 65,536 matrix entries): 1.00 MiB 12.5" in lines
    assert "fixed cost per product, as the executor runs them: 1.50 us; per run: 2.25 us" in lines
    assert lines[0] == f"BLAS {calibration.blas}, float64, {calibration.threads} thread(s)"
    assert lines[-1] == f"cached in {tmp_path / 'cache.json'}"


@pytest.mark.parametrize(
    "kwargs, title",
    [
        ({}, "[6,4,2] dl/dx, layer granularity, float64, activations relu/identity, loss mse"),
        ({"of": "output"}, "[6,4,2] dz_L/dx, layer granularity, float64, activations relu/identity, loss mse"),
        (
            {"wrt": "params", "granularity": "op"},
            "[6,4,2] dl/dtheta, op granularity, float64, activations relu/identity, loss mse",
        ),
    ],
)
def test_an_analysis_is_titled_by_what_it_differentiates(kwargs, title):
    result = analyze(make_spec((6, 4, 2)), analytic=True, **kwargs)
    assert render(result, "markdown").splitlines()[0] == f"### {title}"
    named = replace(result, spec=replace(result.spec, name="tiny"))
    assert render(named, "markdown").splitlines()[0] == f"### tiny {title}"
    assert to_text(render(result, "table"), 250).splitlines()[0] == title


def test_the_table_writes_every_product_by_its_operands_shapes():
    result = analyze(make_spec((6, 4, 2)), granularity="op", analytic=True)
    document = json.loads(render(result, "json"))
    table = to_text(render(result, "table"), 250)

    def operand(shape, structure):
        return f"diag({shape[0]})" if structure == "diagonal" else f"({shape[0]}x{shape[1]})"

    products = [
        operand(p["left"], p["left_structure"]) + operand(p["right"], p["right_structure"])
        for order in document["orders"].values()
        for p in order["products"]
    ]
    assert "diag(4)(4x6)" in products and "(1x4)diag(4)" in products  # D1 on either side
    for text_ in products:
        assert f"│ {text_} " in table, text_
    assert "optimal bracketing (shape, FLOPs of each product):" in table  # the tree, for dl/dx
    by_params = to_text(render(analyze(make_spec((6, 4, 2)), wrt="params", analytic=True), "table"), 250)
    assert "optimal bracketing (shape" not in by_params


@pytest.mark.parametrize(
    "sizes, of, granularity, ratio",
    [
        # loss-first 36 MACs = 1*2*4 + 4 (the diagonal) + 1*4*6, 68 FLOPs (the diagonal's 4
        # products are multiplications only); input-first 84 MACs, 144 FLOPs: 144 / 68 = 2.12
        ((6, 4, 2), "loss", "op", "input-first performs 2.12x the FLOPs of loss-first."),
        # dz3/dx = J3 J2 J1 (32x16, 16x8, 8x4): loss-first 32*16*8 + 32*8*4 = 5,120 MACs,
        # input-first 16*8*4 + 32*16*4 = 2,560
        ((4, 8, 16, 32), "output", "layer", "loss-first performs 2.00x the FLOPs of input-first."),
        # either classic order 784*256*8 + 784*8*256 + 784*256*784 = 160,563,200 MACs; the
        # optimal (J4 J3)(J2 J1) 2*784*256*8 + 784*8*784 = 8,128,512: 19.75 times fewer
        (
            (784, 256, 8, 256, 784),
            "output",
            "layer",
            "loss-first and input-first perform the same FLOPs (321,126,400). "
            "The optimal order needs 1/19.8 of the cheaper one's.",
        ),
    ],
)
def test_an_explanation_s_intro_and_ratio_line_read_its_json(sizes, of, granularity, ratio):
    document, _, markdown = formats(explain(make_spec(sizes), of=of, granularity=granularity))
    assert (document["of"], document["wrt"], document["granularity"]) == (of, "input", granularity)
    lines = markdown.splitlines()
    widths = " -> ".join([f"x ({sizes[0]})"] + [f"z{i} ({n})" for i, n in enumerate(sizes[1:], 1)])
    assert lines[0] == f"Network {','.join(map(str, sizes))}: {widths}" + (" -> loss (mse)" if of == "loss" else "")
    target = "dl/dx" if of == "loss" else f"dz{len(sizes) - 1}/dx"
    factors = document["factors"]
    assert lines[1] == f"{target} is a product of {len(factors)} factors ({granularity} granularity):"
    for line, factor in zip(lines[2:], factors, strict=False):
        structure = "" if factor["structure"] == "dense" else f", {factor['structure']}"
        rows, columns = factor["shape"]
        assert line == f"- {factor['name']:<4} = {factor['meaning']:<18} {rows} x {columns}{structure}"
    assert ratio in lines


def test_a_network_read_as_a_chain_says_it_ran_on_real_arrays():
    spec = make_spec((12, 8, 3), activation="tanh")
    analysis = analyze_chain(network_chain(spec, "loss"), ["matrix-free"], source="network read as a chain")
    _, _, markdown = formats(run_plans(analysis, spec, repeats=3))
    assert markdown.splitlines()[0] == "### 12,8,3: 3 elementals (network read as a chain), no memory limit, MACs"
    assert any(line.startswith("run on real arrays at the spec's point; BLAS: ") for line in markdown.split("\n\n"))


def results(tmp_path, calibrate):
    """One result of each kind, measured where it can be."""
    calibration = calibrate("float64", None)
    spec = make_spec((16, 8, 4), activation="tanh", seed=2)
    yield analyze(spec, repeats=3, calibration=calibration, measure_memory=True)
    chain = analyze_chain(load_chain(EXAMPLE), memory=30, machines=2)
    yield run_plans(chain, None, repeats=3, calibrate=calibrate)
    yield explain_chain(load_chain(EXAMPLE))
    yield explain(make_spec((784, 256, 8, 256, 784)), of="output")
    classifier = make_spec((6, 5, 3), loss="cross_entropy")
    yield train(classifier, load_dataset("synthetic", classifier), TrainSettings(steps=3, grad_check=True))
    config = tmp_path / "c.yaml"
    config.write_text("input: 8\nlayers: [4, 2]\n")
    baseline = str(tmp_path / "b.json")
    check(load_named([str(config)], baseline), baseline, update=True)
    config.write_text("input: 8\nlayers: [5, 2]\n")
    yield check(load_named([str(config)], baseline), baseline)


NUMBER = re.compile(r"\d[\d,.]*\d|\d")


def test_the_terminal_shows_every_number_the_markdown_shows(tmp_path, calibrate):
    for result in results(tmp_path, calibrate):
        table = to_text(render(result, "table"), 400)
        missing = set(NUMBER.findall(render(result, "markdown"))) - set(NUMBER.findall(table))
        assert not missing, (type(result).__name__, sorted(missing))
