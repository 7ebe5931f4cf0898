"""Load a network from SPEC: an inline size list or a YAML config file, with CLI overrides."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ..errors import JacchainError
from ..io import read_text
from ..types import Dtype
from .activations import ACTIVATIONS
from .losses import LOSSES
from .spec import NetworkSpec, make_spec, parse_sizes
from .validate import FLAG, POSITIVE_INT, SEED, TRAIN_RULES, check_dtype

TOP_KEYS = ("name", "description", "input", "layers", "loss", "dtype", "seed", "analytic", "train")
LAYER_KEYS = ("width", "activation")
TRAIN_KEYS = tuple(TRAIN_RULES)
T = TypeVar("T")


def is_config_path(text: str) -> bool:
    """A SPEC that names a file: a YAML name, a path (a size list holds neither `/` nor a
    separator), or anything that exists. The loaders then say what is wrong with the file.

    >>> [is_config_path(spec) for spec in ("784,512,10", "seed.yaml", "configs/seed", "C.YML")]
    [False, True, True, True]
    """
    return text.lower().endswith((".yaml", ".yml")) or "/" in text or os.sep in text or os.path.lexists(text)


@dataclass(frozen=True)
class Overrides:
    """Command-line options that, when given (not None), override what a config says."""

    activation: str | None = None
    output_activation: str | None = None
    loss: str | None = None
    dtype: Dtype | None = None
    seed: int | None = None

    def canonical(self) -> Overrides:
        """Names checked against their registries, even where no layer would use them."""
        return replace(
            self,
            activation=_registry_name(self.activation, "activation") if self.activation is not None else None,
            output_activation=(
                _registry_name(self.output_activation, "activation") if self.output_activation is not None else None
            ),
            loss=_registry_name(self.loss, "loss") if self.loss is not None else None,
        )


def load_network(
    text: str,
    activation: str | None = None,
    output_activation: str | None = None,
    loss: str | None = None,
    dtype: Dtype | None = None,
    seed: int | None = None,
) -> NetworkSpec:
    """SPEC -> NetworkSpec. Options that are not None override what a config file says."""
    given = Overrides(activation, output_activation, loss, dtype, seed).canonical()
    if is_config_path(text):
        return load_config(text, given)
    return make_spec(
        parse_sizes(text),
        activation=given.activation or "relu",
        output_activation=given.output_activation or "identity",
        loss=given.loss or "mse",
        dtype=given.dtype or "float64",
        seed=0 if given.seed is None else given.seed,
        where=f"spec {text!r}",
    )


def load_config(path: str, overrides: Overrides | None = None) -> NetworkSpec:
    glob = f"{path.rstrip('/') or path}/*.yaml"
    text = read_text(
        path,
        f"{path}: no such file; SPEC is a YAML file or a size list like 784,512,10",
        folder=f"{path}: is a folder; SPEC is one YAML config (for each in it: {glob})",
    )
    return parse_config(text, path, overrides)


def parse_config(text: str, path: str = "<config>", overrides: Overrides | None = None) -> NetworkSpec:
    """Parse YAML text into a NetworkSpec; every error names the file, line and key path."""
    given = overrides or Overrides()
    data, lines = load_yaml(text, path)
    where = Where(path, lines)
    if data is None:
        raise JacchainError(f"{path}: empty config; expected a mapping with keys {', '.join(TOP_KEYS)}")
    if not isinstance(data, dict):
        raise JacchainError(
            f"{where('')}: the config must be a mapping with keys {', '.join(TOP_KEYS)}, got {kind_of(data)}"
        )
    if "chain" in data:
        raise JacchainError(
            f"{where('chain')}: this config is a chain of elementals, not a network; "
            "`jacchain analyze` and `jacchain explain` take it"
        )
    refuse_unknown(data, TOP_KEYS, "", where)
    for key in ("input", "layers"):
        if key not in data:
            raise JacchainError(f"{where('')}: missing key {key!r}")
    sizes, activations = _layers(data, where, given)
    name = text_value(data, "name", Path(path).stem, where)
    text_value(data, "description", "", where)
    train = _train_section(data.get("train"), where)
    loss_name = _checked(partial(_registry_name, given.loss or data.get("loss", "mse"), "loss"), "loss", where)
    dtype_name = check_dtype(given.dtype or data.get("dtype", "float64"), where("dtype"))
    seed_value = int(SEED.check(given.seed if given.seed is not None else data.get("seed", 0), f"{where('seed')}:"))
    analytic = FLAG.check(data.get("analytic", False), f"{where('analytic')}:")
    return make_spec(
        sizes,
        activations=activations,
        loss=loss_name,
        dtype=dtype_name,
        seed=seed_value,
        name=name,
        train=train,
        where=path,
        analytic=analytic,
    )


def _layers(data: dict[str, Any], where: Where, given: Overrides) -> tuple[list[int], list[str]]:
    """The widths n_0..n_L and one activation per layer; an option overrides every hidden
    (or the output) layer's activation."""
    layers = data["layers"]
    if not isinstance(layers, list) or not layers:
        raise JacchainError(f"{where('layers')}: must be a non-empty list of {{width, activation}}, got {layers!r}")
    sizes = [_positive_int(data["input"], "input", where)]
    activations = []
    for index, layer in enumerate(layers):
        key = f"layers[{index}]"
        if isinstance(layer, int) and not isinstance(layer, bool):
            layer = {"width": layer}
        if not isinstance(layer, dict):
            raise JacchainError(
                f"{where(key)}: each layer must be a mapping like {{width: 128, activation: relu}}, got {layer!r}"
            )
        refuse_unknown(layer, LAYER_KEYS, key, where)
        if "width" not in layer:
            raise JacchainError(f"{where(key)}: missing key 'width'")
        sizes.append(_positive_int(layer["width"], f"{key}.width", where))
        option = given.output_activation if index == len(layers) - 1 else given.activation
        default = "identity" if index == len(layers) - 1 else "relu"
        chosen = option or layer.get("activation", default)
        activations.append(_checked(partial(_registry_name, chosen, "activation"), f"{key}.activation", where))
    return sizes, activations


def _registry_name(name: Any, kind: str) -> str:
    registry = ACTIVATIONS if kind == "activation" else LOSSES
    if not isinstance(name, str):
        raise JacchainError(f"{kind} must be a name; valid options are: {', '.join(registry.names())}, got {name!r}")
    return registry.canonical(name)


class Where:
    """Formats "file:line: key.path" for error messages."""

    def __init__(self, path: str, lines: Mapping[str, int]) -> None:
        self.path, self.lines = path, lines

    def __call__(self, key: str) -> str:
        line = self.lines.get(key)
        location = f"{self.path}:{line}" if line else self.path
        return f"{location}: {key}" if key else location


def _checked(make: Callable[[], T], key: str, where: Where) -> T:
    """Run a validator and prefix its error with the file, line and key path."""
    try:
        return make()
    except JacchainError as error:
        raise JacchainError(f"{where(key)}: {error}") from None


def _positive_int(value: Any, key: str, where: Where) -> int:
    return int(POSITIVE_INT.check(value, f"{where(key)}:"))


def refuse_unknown(mapping: dict[Any, Any], known: tuple[str, ...], prefix: str, where: Where) -> None:
    for key in mapping:
        if key not in known:
            path = f"{prefix}.{key}" if prefix else str(key)
            raise JacchainError(f"{where(path)}: unknown key {key!r}; known keys are: {', '.join(known)}")


def text_value(mapping: dict[str, Any], key: str, default: str, where: Where, prefix: str = "") -> str:
    """`mapping[key]` (else `default`), which must be a string: a name or a description."""
    value = mapping.get(key, default)
    if not isinstance(value, str):
        raise JacchainError(f"{where(f'{prefix}{key}')}: must be a string, got {value!r}")
    return value


def _train_section(section: Any, where: Where) -> dict[str, Any] | None:
    if section is None:
        return None
    if not isinstance(section, dict):
        raise JacchainError(f"{where('train')}: must be a mapping with keys {', '.join(TRAIN_KEYS)}")
    refuse_unknown(section, TRAIN_KEYS, "train", where)
    for key, value in section.items():
        TRAIN_RULES[key].check(value, f"{where('train.' + key)}:")
    return dict(section)


def kind_of(value: Any) -> str:
    return type(value).__name__


MAX_DEPTH = 32


class _StrictLoader(yaml.SafeLoader):
    """safe_load without anchors and aliases: a config never needs them, and nested aliases
    ("billion laughs") would grow memory without end while the document is built."""

    depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases (&name, *name) are not allowed in a jacchain config", event.start_mark
            )
        if self.depth >= MAX_DEPTH:  # a config is three levels deep; stop long before recursion does
            raise yaml.composer.ComposerError(
                None, None, f"nested deeper than {MAX_DEPTH} levels; a jacchain config needs three", event.start_mark
            )
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def load_yaml(text: str, path: str) -> tuple[Any, dict[str, int]]:
    """safe_load, plus the line of every key path (from the composed node tree)."""
    try:
        loader = _StrictLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = error.problem or error.context or "syntax error"
        raise JacchainError(f"{path}{line}: invalid YAML: {problem}") from None
    except (yaml.YAMLError, RecursionError) as error:
        first_line = str(error).splitlines()[0] if str(error) else "too deeply nested"
        raise JacchainError(f"{path}: invalid YAML: {first_line}") from None
    lines: dict[str, int] = {}
    if node is not None:
        _record_lines(node, "", lines, file=path)
    return data, lines


def _record_lines(node: yaml.Node, path: str, lines: dict[str, int], file: str) -> None:
    """The line of every key path; a key given twice in one mapping is an error (YAML would
    keep the last silently)."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = f"{path}.{key}" if path else key
            if key in seen:
                raise JacchainError(f"{file}:{key_node.start_mark.line + 1}: {child}: duplicate key {key!r}")
            seen.add(key)
            lines[child] = key_node.start_mark.line + 1
            _record_lines(value_node, child, lines, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, f"{path}[{index}]", lines, file)
