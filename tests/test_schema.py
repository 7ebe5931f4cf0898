"""`jacchain schema` (issue 10): the config schema accepts every shipped config and refuses what
the loader refuses; every JSON output validates against its command's schema."""

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
