"""YAML configs: the shipped ones, every kind of bad file, and arbitrary input."""

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from jacchain.cli import cli
from jacchain.errors import JacchainError
from jacchain.model.config import MAX_DEPTH, load_network, parse_config
from jacchain.model.spec import parse_sizes

ROOT = Path(__file__).parent.parent
CONFIGS = sorted(path for path in (ROOT / "configs").glob("*.yaml") if "chain:" not in path.read_text())


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_each_shipped_config_analyses(path):
    result = invoke("analyze", path, "--format", "json", "--repeats", "1")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    spec = load_network(str(path))
    assert data["network"]["sizes"] == list(spec.sizes)
    if spec.analytic:
        assert data["analytic"] and "marked analytic" in data["note"]
    else:
        assert data["max_abs_diff"] is not None and data["orders"]["loss_first"]["time_s"] is not None


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_each_shipped_config_starts_with_a_comment_saying_what_it_demonstrates(path):
    first = path.read_text().splitlines()[0]
    assert first.startswith("# ") and len(first) > 20


def test_yaml_matches_the_inline_spec_of_the_same_network():
    spec = load_network(str(ROOT / "configs/seed.yaml"), loss="mse")
    inline = load_network("784,512,256,10")
    assert (spec.sizes, spec.activations, spec.loss) == (inline.sizes, inline.activations, inline.loss)


def test_a_bare_width_is_a_layer_with_the_default_activation():
    bare = parse_config("input: 8\nlayers: [6, 4, 2]\n")
    written = parse_config(
        "input: 8\nlayers:\n  - {width: 6, activation: relu}\n  - {width: 4, activation: relu}\n"
        "  - {width: 2, activation: identity}\n"
    )
    assert (
        (bare.sizes, bare.activations)
        == (written.sizes, written.activations)
        == ((8, 6, 4, 2), ("relu", "relu", "identity"))
    )


def test_options_override_the_file():
    spec = load_network(str(ROOT / "configs/digits.yaml"), dtype="float32", seed=5, activation="tanh")
    assert (spec.dtype, spec.seed, spec.activations) == ("float32", 5, ("tanh", "tanh", "identity"))
    assert spec.train["dataset"] == "digits"


GOOD = "input: 8\nlayers:\n  - {width: 4, activation: relu}\n  - {width: 2}\n"


@pytest.mark.parametrize(
    "text, message",
    [
        ("input: 8\nlayers: [\n", "bad.yaml:3: invalid YAML: expected the node content, but found '<stream end>'"),
        (
            "input: 8\nlayers:\n  - {width: four}\n",
            "bad.yaml:3: layers[0].width: must be a positive integer, got 'four'",
        ),
        (
            "input: 8\nlayers:\n  - {width: 4}\n  - {width: -2}\n",
            "bad.yaml:4: layers[1].width: must be a positive integer, got -2",
        ),
        (
            "input: 8\nlayer:\n  - {width: 4}\n",
            "bad.yaml:2: layer: unknown key 'layer'; known keys are: name, description, input, layers, loss, dtype, seed, analytic, train",
        ),
        (
            "input: 8\nlayers:\n  - {width: 4, activaton: relu}\n",
            "bad.yaml:3: layers[0].activaton: unknown key 'activaton'; known keys are: width, activation",
        ),
        (
            "input: 8\nlayers:\n  - {width: 4, activation: swish}\n",
            "bad.yaml:3: layers[0].activation: unknown activation 'swish'; valid options are: identity, relu, tanh, sigmoid, gelu, softmax",
        ),
        (
            "",
            "bad.yaml: empty config; expected a mapping with keys name, description, input, layers, loss, dtype, seed, analytic, train",
        ),
        (
            "- 1\n- 2\n",
            "bad.yaml:1: the config must be a mapping with keys name, description, input, layers, loss, dtype, seed, analytic, train, got list",
        ),
        ("input: 8\n", "bad.yaml:1: missing key 'layers'"),
        (GOOD + "loss: hinge\n", "bad.yaml:5: loss: unknown loss 'hinge'; valid options are: mse, cross_entropy"),
        (GOOD + "dtype: float16\n", "bad.yaml:5: dtype: unknown dtype 'float16'; valid options are: float64, float32"),
        (GOOD + "seed: -1\n", "bad.yaml:5: seed: must be a non-negative integer, got -1"),
        (GOOD + "train: {lr: fast}\n", "bad.yaml:5: train.lr: must be a positive number, got 'fast'"),
        (
            "input: 8\nlayers:\n  - &w {width: 4}\n  - *w\n",
            "bad.yaml:3: invalid YAML: anchors and aliases (&name, *name) are not allowed in a jacchain config",
        ),
        ("input: 8\ninput: 9\nlayers: [4]\n", "bad.yaml:2: input: duplicate key 'input'"),
        (
            "input: 8\nlayers:\n  - {width: 4, width: 5}\n",
            "bad.yaml:3: layers[0].width: duplicate key 'width'",
        ),
        (GOOD + "name: 3\n", "bad.yaml:5: name: must be a string, got 3"),
        (GOOD + "description: [a]\n", "bad.yaml:5: description: must be a string, got ['a']"),
        ("input: 8\nlayers: 4\n", "bad.yaml:2: layers: must be a non-empty list of {width, activation}, got 4"),
        ("input: 8\nlayers: []\n", "bad.yaml:2: layers: must be a non-empty list of {width, activation}, got []"),
        (
            "input: 8\nlayers:\n  - [4]\n",
            "bad.yaml:3: layers[0]: each layer must be a mapping like {width: 128, activation: relu}, got [4]",
        ),
        ("input: 8\nlayers:\n  - {activation: tanh}\n", "bad.yaml:3: layers[0]: missing key 'width'"),
        ("input: 0\nlayers: [4]\n", "bad.yaml:1: input: must be a positive integer, got 0"),
        ("input: 8\nlayers:\n  - {width: 4.5}\n", "bad.yaml:3: layers[0].width: must be a positive integer, got 4.5"),
        (
            "input: 8\nlayers:\n  - {width: 4, activation: 3}\n",
            "bad.yaml:3: layers[0].activation: activation must be a name; valid options are: identity, relu, tanh, "
            "sigmoid, gelu, softmax, got 3",
        ),
        (GOOD + "loss: 3\n", "bad.yaml:5: loss: loss must be a name; valid options are: mse, cross_entropy, got 3"),
        (GOOD + "analytic: maybe\n", "bad.yaml:5: analytic: must be true or false, got 'maybe'"),
        (
            GOOD + "train: 3\n",
            "bad.yaml:5: train: must be a mapping with keys dataset, steps, epochs, batch, lr, momentum, "
            "weight_decay, test_fraction",
        ),
        ("input: 8\nlayers: [4\n", "bad.yaml:3: invalid YAML: expected ',' or ']', but got '<stream end>'"),
        (
            GOOD + "train: {epoch: 3}\n",
            "bad.yaml:5: train.epoch: unknown key 'epoch'; known keys are: dataset, steps, epochs, batch, lr, momentum, weight_decay, test_fraction",
        ),
    ],
)
def test_bad_yaml_gives_exit_2_and_one_line_naming_file_line_and_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = invoke("analyze", path, "--analytic")
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: {path.parent}/{message}"
    assert "Traceback" not in result.output


@pytest.mark.parametrize("before", ["", "0, "], ids=["alone", "after-a-sibling"])
def test_nesting_is_refused_one_level_past_its_limit(before):
    # 32 levels read (then refused as no mapping), 33 not: alone, and after a sibling whose
    # return must give its level back exactly
    deep = f"[{before}" + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "]"
    with pytest.raises(JacchainError, match=r"^bad\.yaml:1: the config must be a mapping with keys .*, got list$"):
        parse_config(deep, "bad.yaml")
    with pytest.raises(JacchainError, match=rf"^bad\.yaml:1: invalid YAML: nested deeper than {MAX_DEPTH} levels; "):
        parse_config(f"[{before}[" + deep[1:] + "]", "bad.yaml")


def test_a_character_yaml_refuses_is_named_without_a_line():
    # PyYAML's reader refuses it before any mark exists: the first line of its reason
    with pytest.raises(JacchainError) as refused:
        parse_config("input: \x00\n", "bad.yaml")
    assert (
        str(refused.value)
        == "bad.yaml: invalid YAML: unacceptable character #x0000: special characters are not allowed"
    )


def test_what_a_config_leaves_out_and_where_an_error_has_no_line(tmp_path):
    # the name defaults to the file's stem, the seed to 0; text without a file is "<config>"
    assert parse_config(GOOD, "folder/bad.yaml").name == "bad"
    assert parse_config(GOOD + "name: mine\n", "bad.yaml").name == "mine"
    assert parse_config(GOOD).seed == 0
    with pytest.raises(JacchainError, match=r"^<config>: empty config; "):
        parse_config("")
    with pytest.raises(JacchainError) as refused:  # as `jacchain train` reads a chain config
        parse_config("chain: []\ninput: 8\n", "bad.yaml")
    assert str(refused.value) == (
        "bad.yaml:1: chain: this config is a chain of elementals, not a network; "
        "`jacchain analyze` and `jacchain explain` take it"
    )
    # an option the file does not hold has no line to name
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD)
    with pytest.raises(JacchainError, match=rf"^{re.escape(str(path))}: dtype: unknown dtype 'float16'; "):
        load_network(str(path), dtype="float16")
    with pytest.raises(JacchainError, match=rf"^{re.escape(str(path))}: seed: must be a non-negative integer, got -1$"):
        load_network(str(path), seed=-1)
    folder = f"{tmp_path}/"
    with pytest.raises(JacchainError) as refused:
        load_network(folder)
    assert str(refused.value) == f"{folder}: is a folder; SPEC is one YAML config (for each in it: {tmp_path}/*.yaml)"


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_a_valid_spec_or_our_error(text):
    try:
        sizes = parse_sizes(text)
    except JacchainError:
        pass
    else:  # accepted: exactly the comma-separated integers written
        assert sizes == tuple(int(piece) for piece in text.split(","))
    try:
        spec = parse_config(text, "fuzz.yaml")
    except JacchainError:
        return
    data = yaml.safe_load(text)
    widths = [layer if isinstance(layer, int) else layer["width"] for layer in data["layers"]]
    assert spec.sizes == (data["input"], *widths)


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 300) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["input", "layers", "width", "activation", "loss", "dtype", "seed", "train", "name", "x"]),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=120, deadline=None)
@given(yaml_values)
def test_any_structure_is_a_valid_spec_or_our_error(value):
    try:
        spec = parse_config(yaml.safe_dump(value), "fuzz.yaml")
    except JacchainError:
        return
    widths = [layer if isinstance(layer, int) else layer["width"] for layer in value["layers"]]
    assert spec.sizes == (value["input"], *widths)
    assert spec.n_layers == len(spec.activations) == len(value["layers"])


def test_nested_aliases_are_refused_before_anything_is_built(tmp_path):
    # "Billion laughs": nine levels of nine aliases would expand to 9**9 strings.
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for previous, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\n")
    result = invoke("analyze", path, "--analytic")
    assert result.exit_code == 2
    assert result.output.strip().endswith("anchors and aliases (&name, *name) are not allowed in a jacchain config")
