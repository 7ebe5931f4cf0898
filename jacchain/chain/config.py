"""Chain configs: a YAML file that gives a chain of elementals instead of layers.

    name: example
    chain:            # evaluation order: the first elemental is applied to the input
      - {inputs: 5, outputs: 1, tangent_cost: 6, adjoint_cost: 6, tape: 20}
      - {inputs: 1, outputs: 4, tangent_cost: 5, adjoint_cost: 8, tape: 30}

Errors name the file, line and key path, like layer configs (model/config.py)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from ..errors import JacchainError
from ..io import read_text
from ..model.config import Where, is_config_path, kind_of, load_yaml, refuse_unknown, text_value
from ..model.schema import DRAFT
from ..model.validate import POSITIVE_INT, SEED
from .elementals import Elemental, ElementalChain

CHAIN_KEYS = ("name", "description", "chain")
ELEMENTAL_KEYS = ("inputs", "outputs", "tangent_cost", "adjoint_cost", "tape", "name")
COST_KEYS = ("tangent_cost", "adjoint_cost", "tape")


def is_chain_config(spec: str) -> bool:
    """A YAML file whose top level has a `chain` key (unreadable files are left to the loaders)."""
    if not is_config_path(spec):
        return False
    try:
        data, _ = load_yaml(read_text(spec, ""), spec)
    except JacchainError:
        return False
    return isinstance(data, dict) and "chain" in data


def load_chain(path: str) -> ElementalChain:
    text = read_text(path, f"{path}: no such file")
    return parse_chain(text, path)


def parse_chain(text: str, path: str = "<chain>") -> ElementalChain:
    data, lines = load_yaml(text, path)
    where = Where(path, lines)
    if not isinstance(data, dict):
        raise JacchainError(f"{where('')}: a chain config must be a mapping with keys {', '.join(CHAIN_KEYS)}")
    refuse_unknown(data, CHAIN_KEYS, "", where)
    items = data.get("chain")
    if not isinstance(items, list) or not items:
        raise JacchainError(f"{where('chain')}: must be a non-empty list of elementals, got {items!r}")
    elementals = []
    for index, item in enumerate(items):
        key = f"chain[{index}]"
        if not isinstance(item, dict):
            raise JacchainError(
                f"{where(key)}: each elemental must be a mapping like "
                f"{{inputs: 5, outputs: 1, tangent_cost: 6, adjoint_cost: 6, tape: 20}}, got {kind_of(item)}"
            )
        refuse_unknown(item, ELEMENTAL_KEYS, key, where)
        values: dict[str, Any] = {}
        for field in ELEMENTAL_KEYS[:-1]:
            if field not in item:
                raise JacchainError(f"{where(key)}: missing key {field!r}")
            rule = SEED if field in COST_KEYS else POSITIVE_INT
            values[field] = int(rule.check(item[field], f"{where(f'{key}.{field}')}:"))
        elementals.append(Elemental(**values, name=text_value(item, "name", "", where, prefix=f"{key}.")))
    for index, (lower, upper) in enumerate(itertools.pairwise(elementals), start=1):
        if upper.inputs != lower.outputs:
            raise JacchainError(
                f"{where(f'chain[{index}].inputs')}: must equal the outputs of the elemental before "
                f"it ({lower.outputs}), got {upper.inputs}"
            )
    text_value(data, "description", "", where)
    return ElementalChain(tuple(elementals), text_value(data, "name", Path(path).stem, where))


def chain_schema() -> dict[str, Any]:
    """The JSON Schema of a chain config, from the same keys and rules."""
    elemental = {
        "type": "object",
        "additionalProperties": False,
        "required": list(ELEMENTAL_KEYS[:-1]),
        "properties": {
            **{key: (SEED if key in COST_KEYS else POSITIVE_INT).schema for key in ELEMENTAL_KEYS[:-1]},
            "name": {"type": "string"},
        },
    }
    return {
        "$schema": DRAFT,
        "title": "jacchain chain config",
        "type": "object",
        "additionalProperties": False,
        "required": ["chain"],
        "properties": {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "chain": {"type": "array", "minItems": 1, "items": elemental},
        },
    }
