"""Chain configs and the accumulate / matrix-free orders from the command line (issue 12): every
number of the model's worked example in JSON, memory limits, schedules, runs on a network,
explain, the Gantt chart and the JSON Schema."""

import csv
import functools
import io
import itertools
import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from jacchain.chain.config import load_chain, parse_chain
from jacchain.cli import cli
from jacchain.errors import JacchainError

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "configs/jcdp-example.yaml"


def run(*args, code=0):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result.stdout if code == 0 else result.stderr


@functools.cache
def analyze_validator():
    return jsonschema.Draft202012Validator(json.loads(run("schema", "analyze")))


def analysis(*args):
    report = json.loads(run("analyze", *args, "--format", "json"))
    analyze_validator().validate(report)
    return report


def test_every_order_of_the_worked_example_with_its_plan():
    orders = analysis(EXAMPLE)["orders"]
    assert {key: order["macs"] for key, order in orders.items()} == {
        "input_first": 95,
        "loss_first": 22,
        "accumulate": 28,
        "matrix_free": 19,
    }
    assert all(order["flops"] == 2 * order["macs"] for order in orders.values())
    best = orders["matrix_free"]
    assert best["bracketing"] == "adj[F1](tan[F3](acc_tan(F2)))"
    assert [(op["kind"], op["mode"], op["segment"], op["cost"]) for op in best["plan"]] == [
        ("accumulate", "tangent", [2, 2], 5),
        ("tan", "tangent", [2, 3], 8),
        ("adj", "adjoint", [1, 3], 6),
    ]
    for order in orders.values():
        assert sum(op["cost"] for op in order["plan"]) == order["macs"]


def test_a_memory_limit_restricts_the_adjoints():
    orders = analysis(EXAMPLE, "--memory", "10")["orders"]
    assert orders["matrix_free"]["macs"] == 48 and orders["accumulate"]["macs"] == 52
    assert orders["loss_first"]["allowed"] is False and orders["loss_first"]["macs"] is None
    assert analysis(EXAMPLE, "--memory", "20")["orders"]["matrix_free"]["macs"] == 19


def test_schedules_on_two_machines_beat_the_dp_heuristic():
    report = analysis(EXAMPLE, "--machines", "2")
    assert report["critical_path"] == 17
    schedule = report["orders"]["matrix_free"]["schedule"]
    assert schedule["makespan"] == 17 and schedule["exact"] and schedule["dp_heuristic"] == 18
    assert schedule["work"] == sum(task["cost"] for task in schedule["tasks"]) == 28
    for machine in (0, 1):
        spans = sorted((t["start"], t["end"]) for t in schedule["tasks"] if t["machine"] == machine)
        assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans))
    assert report["orders"]["input_first"]["schedule"] is None  # the pure modes are not scheduled


def test_the_gantt_chart_is_drawn(tmp_path):
    pytest.importorskip("matplotlib")
    target = tmp_path / "schedule.svg"
    run("analyze", EXAMPLE, "--machines", "2", "--plot", target)
    assert target.stat().st_size > 1000 and b"makespan 17" in target.read_bytes()
    assert "--machines" in run("analyze", EXAMPLE, "--plot", tmp_path / "x.svg", code=2)


@pytest.mark.parametrize("fmt, expected", [("table", "19"), ("markdown", "| matrix-free"), ("csv", "matrix-free")])
def test_every_format(fmt, expected):
    assert expected in run("analyze", EXAMPLE, "--machines", "3", "--format", fmt)


def test_a_network_runs_its_plans_on_real_arrays():
    report = analysis("30,20,12,5", "--activation", "tanh", "--order", "matrix-free,accumulate", "--machines", "2")
    assert report["source"].startswith("network read as a chain")
    for order in report["orders"].values():
        measured = order["measured"]
        assert measured["max_abs_diff"] < 1e-12 and measured["time_s"]["median"] > 0
        assert measured["makespan_s"]["median"] > 0 and measured["predicted_time_s"] > 0
    assert set(report["orders"]) == {"accumulate", "matrix_free"}


@pytest.mark.parametrize("target", ["12,8,3", EXAMPLE])
def test_every_run_option_reaches_the_plans_run(monkeypatch, target):
    from jacchain.jobs import chain as job
    from jacchain.model.spec import NetworkSpec

    passed = []
    real = job.run_plans
    monkeypatch.setattr(job, "run_plans", lambda *args: passed.append(args) or real(*args))
    options = ["--order", "matrix-free", "--dtype", "float32", "--seed", "5", "--repeats", "2", "--threads", "1"]
    report = analysis(target, *options, "--max-memory", "1GB", "--no-time-model")
    assert report["orders"]["matrix_free"]["measured"]["time_s"]["repeats"] == 2
    ((_, spec, of, dtype, seed, repeats, threads, max_memory, calibrate),) = passed
    if target == EXAMPLE:  # a chain config runs on surrogates of its elementals
        assert spec is None
    else:  # a network on its own layers
        assert isinstance(spec, NetworkSpec) and spec.sizes == (12, 8, 3) and spec.dtype == "float32"
    assert (of, dtype, seed, repeats, threads, max_memory) == ("loss", "float32", 5, 2, 1, 10**9)
    assert calibrate.keywords["measure_if_missing"] is False and calibrate.keywords["max_memory"] == 10**9


@pytest.mark.parametrize("cores, shared", [(2, True), (4, False)])
def test_the_footer_says_when_the_model_shares_fewer_cores_than_threads(monkeypatch, cores, shared):
    monkeypatch.setattr("jacchain.run.timing.usable_cores", lambda: cores)
    footer = run("analyze", EXAMPLE, "--machines", "4", "--order", "matrix-free", "--format", "markdown")
    assert "schedules on P threads with one BLAS thread each" in footer
    assert ("their model sharing this machine's 2 core(s) among the 4" in footer) is shared


def test_a_network_counted_only_with_analytic():
    report = analysis("784,512,256,10", "--order", "matrix-free", "--analytic")
    # op-granularity loss-first (535,808 MACs) plus the loss elemental's accumulation (10)
    assert report["orders"]["matrix_free"]["macs"] == 535_818 and report["orders"]["matrix_free"]["measured"] is None


def test_explain_a_chain_config():
    report = json.loads(run("explain", EXAMPLE, "--format", "json"))
    assert report["matrix_free"]["macs"] == 19 and report["accumulate"]["macs"] == 28
    assert "19 multiply-adds against 28" in report["why"]
    assert "adjoint elimination through F1" in run("explain", EXAMPLE)
    assert "--memory applies to a chain config" in run("explain", "8,4,2", "--memory", "5", code=2)


PULL_BACK = (  # a scalar output: F3's row by one adjoint (30), pulled back through F2 (1,200) and F1 (2,000)
    "chain:\n"
    "  - {inputs: 50, outputs: 40, tangent_cost: 2000, adjoint_cost: 2000, tape: 1}\n"
    "  - {inputs: 40, outputs: 30, tangent_cost: 1200, adjoint_cost: 1200, tape: 1}\n"
    "  - {inputs: 30, outputs: 1, tangent_cost: 30, adjoint_cost: 30, tape: 1}\n"
)


@pytest.mark.parametrize(
    "config, memory, why",
    [
        # the model's section 4: adj[F1](tan[F3](acc_tan(F2))) for 19 against 28 (5 + 8 + 6, and
        # acc_adj(F3) 8, acc_tan(F2) 5, their product 4, acc_adj(F1) 6, its product 5)
        (
            None,
            None,
            "The matrix-free plan never forms the Jacobians of F1, F3: it pushes the explicit result through "
            "them (1 tangent and 1 adjoint elimination(s)), which costs less than accumulating them and "
            "multiplying them in, so 19 multiply-adds against 28 for accumulate-then-multiply (1.47x fewer).",
        ),
        # tapes 20, 30, 10 under 15: only F3 has adjoints. acc_tan(F2) 5, through F3 by a tangent
        # 8, acc_tan(F1) 30 and its product 5: 48; accumulate-then-multiply 30 + 5 + 8 + 4 + 5 = 52
        (
            None,
            15,
            "The matrix-free plan never forms the Jacobians of F3: it pushes the explicit result through them "
            "(1 tangent and 0 adjoint elimination(s)), which costs less than accumulating them and multiplying "
            "them in, so 48 multiply-adds against 52 for accumulate-then-multiply (1.08x fewer).",
        ),
        # one elimination through two elementals; accumulating costs min(n t, m a) each (80,000,
        # 36,000 and 30), and the products (F3 F2) F1 1,200 + 2,000
        (
            PULL_BACK,
            None,
            "The matrix-free plan never forms the Jacobians of F1, F2: it pushes the explicit result through "
            "them (0 tangent and 1 adjoint elimination(s)), which costs less than accumulating them and "
            "multiplying them in, so 3,230 multiply-adds against 119,230 for accumulate-then-multiply (36.9x fewer).",
        ),
    ],
)
def test_explain_says_what_the_matrix_free_plan_never_forms(tmp_path, config, memory, why):
    path = EXAMPLE
    if config is not None:
        path = tmp_path / "pull-back.yaml"
        path.write_text(config)
    limit = [] if memory is None else ["--memory", memory]
    report = json.loads(run("explain", path, *limit, "--format", "json"))
    assert report["why"] == why and report["memory"] == memory


def test_an_elimination_through_two_elementals_names_both(tmp_path):
    # PULL_BACK's scalar output: F3's row by one adjoint (30 multiply-adds), then pulled back
    # through F2 (1,200) and F1 (2,000) in one adjoint elimination over the whole chain
    config = tmp_path / "pull-back.yaml"
    config.write_text(PULL_BACK)
    document = json.loads(run("explain", config, "--format", "json"))
    rows = list(csv.DictReader(io.StringIO(run("explain", config, "--format", "csv"))))
    assert [
        (op["kind"], op["mode"], op["segment"], op["cost"], op.get("through")) for op in document["matrix_free"]["plan"]
    ] == [
        ("accumulate", "adjoint", [3, 3], 30, None),
        ("adj", "adjoint", [1, 3], 3_200, ["F1", "F2"]),
    ]
    assert rows[1]["operation"] == "adjoint elimination through F1,F2 -> [F1..F3]"


def test_explain_says_when_accumulating_is_already_optimal(tmp_path):
    # one elemental, 3 inputs and 2 outputs: its Jacobian by 2 adjoints of 4 is the least, 8
    config = tmp_path / "one.yaml"
    config.write_text("chain:\n  - {inputs: 3, outputs: 2, tangent_cost: 5, adjoint_cost: 4, tape: 1}\n")
    assert json.loads(run("explain", config, "--format", "json"))["why"] == (
        "Accumulating every elemental and multiplying the Jacobians is already optimal here (8 multiply-adds): "
        "no elimination is cheaper than forming a Jacobian."
    )


ELEMENTAL = "{inputs: 2, outputs: 3, tangent_cost: 1, adjoint_cost: 1, tape: 1"


@pytest.mark.parametrize(
    "text, message",
    [
        ("chain: []\n", "c.yaml:1: chain: must be a non-empty list of elementals, got []"),
        ("chain: 3\n", "c.yaml:1: chain: must be a non-empty list of elementals, got 3"),
        (
            "chain: [3]\n",
            "c.yaml:1: chain[0]: each elemental must be a mapping like "
            "{inputs: 5, outputs: 1, tangent_cost: 6, adjoint_cost: 6, tape: 20}, got int",
        ),
        (
            "chain: [{inputs: 2, outputs: 3, tangent_cost: 1, adjoint_cost: 1}]\n",
            "c.yaml:1: chain[0]: missing key 'tape'",
        ),
        (
            "chain: [{inputs: 2, outputs: 3, tangent_cost: -1, adjoint_cost: 1, tape: 1}]\n",
            "c.yaml:1: chain[0].tangent_cost: must be a non-negative integer, got -1",
        ),
        (
            "chain: [{inputs: 0, outputs: 3, tangent_cost: 1, adjoint_cost: 1, tape: 1}]\n",
            "c.yaml:1: chain[0].inputs: must be a positive integer, got 0",
        ),
        (
            "chain:\n  - {inputs: 2, outputs: 3, tangent_cost: 1, adjoint_cost: 1, tape: 1}\n"
            "  - {inputs: 4, outputs: 1, tangent_cost: 1, adjoint_cost: 1, tape: 1}\n",
            "c.yaml:3: chain[1].inputs: must equal the outputs of the elemental before it (3), got 4",
        ),
        (
            f"chain: [{ELEMENTAL}, colour: 2}}]\n",
            "c.yaml:1: chain[0].colour: unknown key 'colour'; known keys are: inputs, outputs, tangent_cost, "
            "adjoint_cost, tape, name",
        ),
        (
            f"colour: 1\nchain: [{ELEMENTAL}}}]\n",
            "c.yaml:1: colour: unknown key 'colour'; known keys are: name, description, chain",
        ),
        (f"chain: [{ELEMENTAL}, name: 4}}]\n", "c.yaml:1: chain[0].name: must be a string, got 4"),
        (f"name: 5\nchain: [{ELEMENTAL}}}]\n", "c.yaml:1: name: must be a string, got 5"),
        (f"description: 5\nchain: [{ELEMENTAL}}}]\n", "c.yaml:1: description: must be a string, got 5"),
    ],
)
def test_bad_chain_configs_are_one_line_errors(tmp_path, text, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("c.yaml").write_text(text)
    assert run("analyze", "c.yaml", code=2) == f"Error: {message}\n"


def test_a_chain_config_read_by_the_library():
    # not a mapping: only a loader asked for a chain reads it as one (the CLI takes it for a network)
    with pytest.raises(
        JacchainError, match=r"^<chain>:1: a chain config must be a mapping with keys name, description, chain$"
    ):
        parse_chain("- 1\n")
    assert parse_chain(f"chain: [{ELEMENTAL}}}]\n", "folder/c.yaml").name == "c"
    # the library's loader names its file in a YAML error, and a missing file
    with pytest.raises(JacchainError, match=r"^c\.yaml:2: invalid YAML: expected the node content"):
        parse_chain("chain: [\n", "c.yaml")
    with pytest.raises(JacchainError, match=r"^/nonexistent/c\.yaml: no such file$"):
        load_chain("/nonexistent/c.yaml")


def test_a_chain_config_is_not_a_network():
    assert "chain of elementals, not a network" in run("train", EXAMPLE, code=2)
