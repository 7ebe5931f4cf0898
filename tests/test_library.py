"""The library without the CLI: plan -> run -> report, the README's example, the vocabulary."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

import jacchain
from jacchain.errors import JacchainError
from jacchain.jobs.analyze import analyze, count_only, measure
from jacchain.jobs.plan import plan_orders
from jacchain.model.activations import ACTIVATIONS
from jacchain.model.losses import LOSSES
from jacchain.model.network import network_at_point
from jacchain.model.spec import make_spec
from jacchain.planners.orders import ORDERS
from jacchain.render import render
from jacchain.run.execute import run_counted
from jacchain.run.jacobians import build_factors

README = Path(__file__).parent.parent / "README.md"


def test_the_readme_library_example_runs_and_prints_what_it_says():
    text = README.read_text()
    section = text[text.index("## Library") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    expected = re.search(r"```text\n(.*?)```", section, re.S).group(1)
    printed = []
    exec(compile(code, "README.md", "exec"), {"print": lambda *args: printed.append(" ".join(map(str, args)))})
    assert "\n".join(printed) + "\n" == expected


def test_every_exported_name_resolves_to_what_its_module_defines():
    for name in jacchain.__all__:
        assert getattr(jacchain, name) is not None, name
    assert jacchain.report is render and jacchain.analyze is analyze
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        jacchain.nothing


def test_the_typed_imports_and_the_lazy_exports_name_the_same_things():
    import ast

    tree = ast.parse(Path(jacchain.__file__).read_text())
    guarded = next(node for node in tree.body if isinstance(node, ast.If))  # if TYPE_CHECKING:
    typed = {
        (alias.asname or alias.name): node.module
        for node in guarded.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert typed == jacchain._EXPORTS


def test_plans_from_planning_run_on_the_factors_and_match_the_model():
    spec = make_spec((12, 8, 6, 3), activation="tanh", seed=5)
    planning = plan_orders(spec, granularity="op")
    network, x, y = network_at_point(spec)
    arrays = build_factors(planning.chain, network, network.forward(x), y)
    results = []
    for planned in planning.orders:
        values, products = run_counted(planned.plan, arrays)
        assert products == planned.cost.products
        results.append(values[0])
    for value in results[1:]:
        np.testing.assert_allclose(value, results[0], atol=1e-12)
    measured = measure(planning, limit=2**30, repeats=1)
    assert [r.flops for r in measured.orders] == [p.cost.flops for p in planning.orders]
    assert measured.max_abs_diff < 1e-12


def test_count_only_and_analyze_analytic_give_the_same_counts():
    spec = make_spec((784, 512, 256, 10))
    from_planning = count_only(plan_orders(spec, wrt="params", granularity="op"))
    from_analyze = analyze(spec, wrt="params", granularity="op", analytic=True)
    assert [r.cost for r in from_planning.orders] == [r.cost for r in from_analyze.orders]


def test_render_refuses_an_unknown_format_and_a_result_it_cannot_show():
    analysis = count_only(plan_orders(make_spec((4, 3, 2))))
    with pytest.raises(JacchainError, match="unknown format 'yaml'; valid options are: table, json, markdown, csv"):
        render(analysis, "yaml")
    with pytest.raises(TypeError, match="no renderer for dict"):
        render({"not": "a result"}, "json")


@pytest.mark.parametrize(
    "registry, alias, name",
    [
        (ORDERS, "forwards", "loss-first"),
        (ORDERS, "reverse", "loss-first"),
        (ORDERS, "reverse-mode", "loss-first"),
        (ORDERS, "vjp", "loss-first"),
        (ORDERS, "jacrev", "loss-first"),
        (ORDERS, "loss_first", "loss-first"),
        (ORDERS, "backwards", "input-first"),
        (ORDERS, "forward-mode", "input-first"),
        (ORDERS, "jvp", "input-first"),
        (ORDERS, "JACFWD", "input-first"),
        (ORDERS, "input_first", "input-first"),
        (ORDERS, "best", "optimal"),
        (ORDERS, "dp", "optimal"),
        (ACTIVATIONS, "linear", "identity"),
        (ACTIVATIONS, " ReLU ", "relu"),
        (LOSSES, "ce", "cross_entropy"),
        (LOSSES, "nll", "cross_entropy"),
        (LOSSES, "crossentropy", "cross_entropy"),
        (LOSSES, "cross-entropy", "cross_entropy"),
        (LOSSES, "mean_squared_error", "mse"),
    ],
)
def test_aliases_resolve_to_their_canonical_names(registry, alias, name):
    assert registry.canonical(alias) == name


def test_every_command_json_carries_the_same_network_block(tmp_path):
    from click.testing import CliRunner

    from jacchain.cli import cli

    common = ["--loss", "cross_entropy", "--format", "json"]
    outputs = [
        CliRunner().invoke(cli, ["analyze", "20,16,3", "--analytic", *common]),
        CliRunner().invoke(cli, ["explain", "20,16,3", *common]),
        CliRunner().invoke(cli, ["sweep", "20,16,3", "--vary", "layer1=16:16", "--analytic", *common]),
        CliRunner().invoke(cli, ["train", "20,16,3", "--steps", "2", *common]),
    ]
    blocks = []
    for result in outputs:
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        assert data["schema_version"] == 1
        blocks.append(data["network"])
    expected = {
        "name": None,
        "sizes": [20, 16, 3],
        "activations": ["relu", "identity"],
        "loss": "cross_entropy",
        "dtype": "float64",
        "seed": 0,
    }
    assert blocks == [expected] * 4


def test_an_explicit_run_reports_each_step_and_runs_as_asked():
    # the progress a terminal's bar shows: the build, each order checked, the timing, done;
    # the run at the BLAS threads and repeats asked for, peak memory measured only when asked
    lines = []
    spec = make_spec((8, 6, 4))
    result = analyze(
        spec, ["input-first", "loss-first"], threads=1, repeats=3, progress=lambda *line: lines.append(line)
    )
    assert lines == [
        ("building Jacobians", 0, 4),
        ("checking loss-first", 1, 4),
        ("checking input-first", 2, 4),
        ("timing the orders side by side", 3, 4),
        ("done", 4, 4),
    ]
    assert result.blas.threads == 1 and all(order.time.repeats == 3 for order in result.orders)
    planning = plan_orders(spec, ["loss-first"])
    assert measure(planning, 2**30, repeats=1).orders[0].measured_peak_bytes is None
    assert measure(planning, 2**30, repeats=1, measure_memory=True).orders[0].measured_peak_bytes > 0
