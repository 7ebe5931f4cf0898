"""The JSON Schema of a YAML network config, built from the same keys and rules the loader
checks (config.py, validate.py), so that an editor can validate a config as it is typed."""

from __future__ import annotations

from typing import Any

from ..types import DTYPES
from .activations import ACTIVATIONS
from .config import LAYER_KEYS, TOP_KEYS, TRAIN_KEYS
from .losses import LOSSES
from .validate import FLAG, POSITIVE_INT, SEED, TRAIN_RULES

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def config_schema() -> dict[str, Any]:
    """
    >>> schema = config_schema()
    >>> sorted(schema["required"]), schema["properties"]["input"]
    (['input', 'layers'], {'type': 'integer', 'minimum': 1})
    """
    layer_properties = {"width": POSITIVE_INT.schema, "activation": {"enum": ACTIVATIONS.spellings()}}
    layer = {"type": "object", "additionalProperties": False, "required": ["width"], "properties": layer_properties}
    properties: dict[str, Any] = {
        "name": {"type": "string"},
        "description": {"type": "string"},
        "input": POSITIVE_INT.schema,
        "layers": {"type": "array", "minItems": 1, "items": {"oneOf": [POSITIVE_INT.schema, layer]}},
        "loss": {"enum": LOSSES.spellings()},
        "dtype": {"enum": list(DTYPES)},
        "seed": SEED.schema,
        "analytic": FLAG.schema,
        "train": {
            "type": "object",
            "additionalProperties": False,
            "properties": {key: TRAIN_RULES[key].schema for key in TRAIN_KEYS},
        },
    }
    assert tuple(properties) == TOP_KEYS and tuple(layer_properties) == LAYER_KEYS  # one list of keys
    return {
        "$schema": DRAFT,
        "title": "jacchain network config",
        "type": "object",
        "additionalProperties": False,
        "required": ["input", "layers"],
        "properties": properties,
    }
