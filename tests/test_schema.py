"""`jacchain schema` (issue 10): the config schema accepts every shipped config and refuses what
the loader refuses; every JSON output validates against its command's schema."""

import copy
import functools
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from jacchain.chain.config import parse_chain
from jacchain.cli import cli
from jacchain.errors import JacchainError
from jacchain.model.config import parse_config

ROOT = Path(__file__).parent.parent


def run(*args, code=0):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result.stdout


@functools.cache
def schema(what):
    document = json.loads(run("schema", what))
    jsonschema.Draft202012Validator.check_schema(document)
    return jsonschema.Draft202012Validator(document)


def test_every_shipped_config_fits_the_config_schema():
    validator = schema("config")
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        validator.validate(yaml.safe_load(path.read_text()))


@pytest.mark.parametrize(
    "text",
    [
        "input: 4\nlayers: [{width: 3}]\n",
        "input: 4\nlayers: [3, {width: 2, activation: tanh}]\nloss: cross_entropy\ntrain: {lr: 0.1, batch: 8}\n",
        "input: 0\nlayers: [3]\n",
        "input: 4\nlayers: []\n",
        "input: 4\nlayers: [{width: 3, activation: swish}]\n",
        "input: 4\nlayers: [{width: 3, colour: red}]\n",
        "input: 4\nlayers: [3]\ndtype: float16\n",
        "input: 4\nlayers: [3]\ntrain: {momentum: 1.0}\n",
        "input: 4\nlayers: [3]\ntrain: {lr: 0}\n",
        "input: 4\nlayers: [3]\nseed: -1\n",
        "layers: [3]\n",
        "input: 4\nlayers: [3]\nanalytic: yes-please\n",
        "input: 4\nlayers: [3]\nanalytic: true\nseed: 3\ndtype: float32\nname: a\ndescription: b\n",
        "input: 4\nlayers: [3]\nname: 3\n",
        "input: 4\nlayers: [3]\ndescription: 3\n",
        "input: 4\nlayers: [3]\nloss: hinge\n",
        "input: 4\nlayers: [3]\ncolour: red\n",
        "input: 4\nlayers: 3\n",
        "input: 4\nlayers: [0]\n",
        "input: 4\nlayers: [{activation: tanh}]\n",
        "input: 4\nlayers: [[3]]\n",
        "input: 4\nlayers: [3]\ntrain: 3\n",
        "input: 4\nlayers: [3]\ntrain: {epoch: 3}\n",
        "- 4\n",
        "name: x\n",  # neither kind: no layers, no chain
        # chain configs
        "chain: [{inputs: 2, outputs: 3, tangent_cost: 1, adjoint_cost: 0, tape: 1, name: f}]\nname: c\n",
        "chain: []\n",
        "chain: 3\n",
        "chain: [{inputs: 2, outputs: 3, tangent_cost: 1, adjoint_cost: 1, tape: 1}]\ndescription: d\n",
        "chain: [3]\n",
        "chain: [{inputs: 2, outputs: 3, tangent_cost: 1, adjoint_cost: 1}]\n",
        "chain: [{inputs: 2, outputs: 3, tangent_cost: -1, adjoint_cost: 1, tape: 1}]\n",
        "chain: [{inputs: 0, outputs: 3, tangent_cost: 1, adjoint_cost: 1, tape: 1}]\n",
        "chain: [{inputs: 2, outputs: 3, tangent_cost: 1, adjoint_cost: 1, tape: 1, colour: 2}]\n",
        "chain: [{inputs: 2, outputs: 3, tangent_cost: 1, adjoint_cost: 1, tape: 1, name: 4}]\n",
        "chain: [{inputs: 2, outputs: 3, tangent_cost: 1, adjoint_cost: 1, tape: 1}]\nname: 4\n",
        "chain: [{inputs: 2, outputs: 3, tangent_cost: 1, adjoint_cost: 1, tape: 1}]\ndescription: 4\n",
        "chain: [{inputs: 2, outputs: 3, tangent_cost: 1, adjoint_cost: 1, tape: 1}]\ncolour: 4\n",
    ],
)
def test_the_config_schema_and_the_loader_agree(text):
    # every rule the loaders check that a schema can say: types, ranges, names, required and
    # unknown keys, at every level (a chain's inputs matching the outputs before it it cannot)
    load = parse_chain if text.startswith("chain") else parse_config
    try:
        load(text)
        loads = True
    except JacchainError:
        loads = False
    assert schema("config").is_valid(yaml.safe_load(text)) == loads


@pytest.mark.parametrize(
    "args",
    [
        ["analyze", "16,8,4"],
        ["analyze", "16,8,4", "--analytic", "--wrt", "params", "--granularity", "op"],
        ["analyze", "16,8,4", "12,6", "--of", "output", "--order", "loss-first"],
        ["analyze", f"{10**30},3,{10**30}", "--analytic"],
    ],
)
def test_analyze_outputs_fit_their_schema(args):
    schema("analyze").validate(json.loads(run(*args, "--format", "json")))


def test_check_outputs_fit_their_schema(tmp_path):
    validator = schema("check")
    baseline = tmp_path / "b.json"
    validator.validate(json.loads(run("check", "8,4,2", "--baseline", baseline, "--update", "--format", "json")))
    validator.validate(json.loads(run("check", "8,4,2", "--baseline", baseline, "--format", "json")))
    changed = json.loads(run("check", "8,5,2", "--baseline", baseline, "--format", "json", code=1))
    validator.validate(changed)
    assert changed["added"] == ["8,5,2"]


@pytest.mark.parametrize("extra", [[], ["--mode", "explicit"], ["--grad-check", "--momentum", "0.9"]])
def test_train_outputs_fit_their_schema(extra):
    output = run("train", "6,5,3", "--loss", "cross_entropy", "--steps", "3", "--format", "json", *extra)
    schema("train").validate(json.loads(output))


def test_the_pre_commit_hook_runs_check_on_the_changed_configs(tmp_path):
    """pre-commit runs `entry`, then the user's args, then the changed files that match."""
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    program, command = hook["entry"].split()
    assert program == "jacchain" and hook["language"] == "python"
    assert "jacchain" in (ROOT / "pyproject.toml").read_text().split("[project.scripts]")[1].split("\n")[1]
    baseline = tmp_path / "baseline.json"
    configs = sorted((ROOT / "configs").glob("*.yaml"))
    changed = [str(path) for path in configs if re.search(hook["files"], path.name)][:2]
    assert len(changed) == 2
    run(command, "--baseline", baseline, "--update", *changed)
    run(command, "--baseline", baseline, *changed)


DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("what", ["analyze", "check", "train", "config"])
def test_each_schema_names_its_draft_and_its_command(what):
    document = json.loads(run("schema", what))
    assert document["$schema"] == DRAFT_2020_12
    assert document["title"].startswith(f"jacchain {what}")


def documents(tmp_path):
    """One JSON document of each shape the commands write, with every optional part present:
    timings and a calibration, a chain's plans and schedule, a check's changes, a train run's
    momentum and gradient check."""
    config = tmp_path / "c.yaml"
    config.write_text("input: 8\nlayers: [4, 2]\n")
    baseline = tmp_path / "b.json"
    run("check", config, "--baseline", baseline, "--update")
    config.write_text("input: 8\nlayers: [5, 2]\n")
    chain = ["analyze", ROOT / "configs" / "jcdp-example.yaml", "--machines", "2", "--memory", "30"]
    train = ["train", "6,5,3", "--loss", "cross_entropy", "--steps", "3", "--grad-check", "--momentum", "0.9"]
    for what, args, code in [
        ("analyze", ["analyze", "16,8,4", "--cost", "time"], 0),
        ("analyze", ["analyze", "16,8,4", "12,6", "--wrt", "params"], 0),
        ("analyze", chain, 0),
        ("check", ["check", config, "--baseline", baseline], 1),
        ("train", train, 0),
    ]:
        document = json.loads(run(*args, "--format", "json", code=code))
        schema(what).validate(document)
        yield what, document


def walk(value, path=()):
    """Every field and its path; of a list, the first item (the schemas give all items one schema)."""
    yield path, value
    items = value.items() if isinstance(value, dict) else enumerate(value[:1]) if isinstance(value, list) else ()
    for key, inner in items:
        yield from walk(inner, (*path, key))


def edited(document, path, edit):
    document = copy.deepcopy(document)
    parent = functools.reduce(lambda value, key: value[key], path[:-1], document)
    edit(parent, path[-1])
    return document


def replaced(document, path, new):
    return edited(document, path, lambda parent, key: parent.__setitem__(key, new))


# The calibration record is the machine's, and may grow figures; it must name what it was built on.
CALIBRATION_NEEDS = {"blas", "dtype", "threads", "gemm_gflops", "stream_gbps"}
# Fields whose text is one of a fixed set of names (DESIGN.md's choices); the one signed count.
CHOSEN_NAMES = {("network", "dtype"), ("of",), ("wrt",), ("granularity",), ("cost",), ("mode",)}
SIGNED = "difference"
# Keys a document may lack: any order (--order picks some), a plan step's split and intermediates.
OPTIONAL = {"split", "through"}


def test_the_schemas_refuse_anything_the_commands_would_not_write(tmp_path):
    """A schema that accepts every output could still accept anything: each field's type, each
    record's keys and each choice must also be refused when wrong."""
    seen = set()
    for what, document in documents(tmp_path):
        validator = schema(what)
        for path, value in walk(document):
            if not path or "calibration" in path[:-2]:  # a calibration's curves: the machine's own
                continue
            field = path[1:] if isinstance(path[0], int) else path  # a list of documents
            seen.add(field)
            open_ = "calibration" in path[:-1]
            assert validator.is_valid(replaced(document, path, {"x": 1})) == open_, path
            if value is not None:
                text_fits = open_ or (isinstance(value, str) and field not in CHOSEN_NAMES)
                assert validator.is_valid(replaced(document, path, "no-such-name")) == text_fits, path
            if isinstance(value, int) and not isinstance(value, bool):
                assert validator.is_valid(replaced(document, path, -1)) == (open_ or path[-1] == SIGNED), path
            if isinstance(value, dict):
                extra = validator.is_valid(replaced(document, path, {**value, "colour": 1}))
                assert extra == (path[-1] == "calibration" or open_), path
            if isinstance(path[-1], str):
                may_lack = path[-2:-1] == ("orders",) or path[-1] in OPTIONAL
                may_lack |= open_ and path[-1] not in CALIBRATION_NEEDS
                lacking = edited(document, path, lambda parent, key: parent.__delitem__(key))
                assert validator.is_valid(lacking) == may_lack, path
    assert seen >= CHOSEN_NAMES and {field[0] for field in seen if field} >= {"calibration", "changes", "grad_check"}
