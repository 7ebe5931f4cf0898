"""JSON Schemas of the JSON documents the commands write (`jacchain schema analyze|check|train`),
and of a config (`jacchain schema config`, built in model/schema.py from the loader's rules).
The tests validate every JSON output against these."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..model.schema import DRAFT, config_schema
from ..registry import Registry
from ..types import DTYPES, GRANULARITIES, OF_CHOICES, TRAIN_MODES, WRT_CHOICES
from .text import SCHEMA_VERSION

Schema = dict[str, Any]

COUNT: Schema = {"type": "integer", "minimum": 0}  # exact integers of any size
DIFFERENCE: Schema = {"type": "integer"}  # an exact signed difference of two counts
NUMBER: Schema = {"type": "number"}
TEXT: Schema = {"type": "string"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def record(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    """An object with exactly these keys (the optional ones may be missing)."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(required),
        "properties": {**required, **(optional or {})},
    }


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def document(title: str, body: Schema) -> Schema:
    """A top-level JSON document: the body plus schema_version."""
    body = dict(body, required=["schema_version", *body["required"]])
    body["properties"] = {"schema_version": {"const": SCHEMA_VERSION}, **body["properties"]}
    return {"$schema": DRAFT, "title": title, **body}


NETWORK = record(
    {
        "name": nullable(TEXT),
        "sizes": array({"type": "integer", "minimum": 1}),
        "activations": array(TEXT),
        "loss": TEXT,
        "dtype": {"enum": list(DTYPES)},
        "seed": COUNT,
    }
)
TIMING = record({"median": NUMBER, "min": NUMBER, "max": NUMBER, "repeats": COUNT})
BLAS = record({"library": TEXT, "threads": COUNT})
CALIBRATION = {"type": "object", "required": ["blas", "dtype", "threads", "gemm_gflops", "stream_gbps"]}
FIXED_COSTS = record({"call_s": NUMBER, "run_s": NUMBER})
PRODUCT = record(
    {
        "left": array(COUNT),
        "right": array(COUNT),
        "left_structure": TEXT,
        "right_structure": TEXT,
        "macs": COUNT,
        "flops": COUNT,
    }
)
ORDER = record(
    {
        "name": TEXT,
        "article_word": TEXT,
        "ad_name": TEXT,
        "bracketing": TEXT,
        "macs": COUNT,
        "flops": COUNT,
        "peak_bytes": COUNT,
        "products": array(PRODUCT),
        "time_s": nullable(TIMING),
        "gflops_per_s": nullable(NUMBER),
        "measured_peak_bytes": nullable(COUNT),
        "predicted_time_s": nullable(NUMBER),
        "fraction_of_limit": nullable(NUMBER),
    }
)
ANALYSIS = record(
    {
        "network": NETWORK,
        "of": {"enum": list(OF_CHOICES)},
        "wrt": {"enum": list(WRT_CHOICES)},
        "granularity": {"enum": list(GRANULARITIES)},
        "analytic": {"type": "boolean"},
        "factors": array(record({"name": TEXT, "shape": array(COUNT), "structure": TEXT})),
        "factor_bytes": COUNT,
        "memory_bytes": COUNT,
        "orders": {"type": "object", "additionalProperties": ORDER},
        "max_abs_diff": nullable(NUMBER),
        "jacobian_build_time_s": nullable(TIMING),
        "blas": nullable(BLAS),
        "calibration": nullable(CALIBRATION),
        "fixed_costs": nullable(FIXED_COSTS),
        "cost": {"enum": ["flops", "time"]},
        "note": nullable(TEXT),
    }
)


OPERATION = record(
    {"kind": TEXT, "mode": TEXT, "segment": array(COUNT), "cost": COUNT},
    {"split": COUNT, "through": array(TEXT)},
)
TASK = record(
    {
        "operation": TEXT,
        "mode": TEXT,
        "segment": array(COUNT),
        "cost": COUNT,
        "machine": COUNT,
        "start": COUNT,
        "end": COUNT,
    }
)
CHAIN_ORDER = record(
    {
        "name": TEXT,
        "article_word": TEXT,
        "ad_name": TEXT,
        "allowed": {"type": "boolean"},
        "macs": nullable(COUNT),
        "flops": nullable(COUNT),
        "bracketing": nullable(TEXT),
        "plan": nullable(array(OPERATION)),
        "schedule": nullable(
            record(
                {
                    "machines": COUNT,
                    "makespan": COUNT,
                    "exact": {"type": "boolean"},
                    "lower_bound": COUNT,
                    "work": COUNT,
                    "dp_heuristic": nullable(COUNT),
                    "tasks": array(TASK),
                }
            )
        ),
        "measured": nullable(
            record(
                {
                    "time_s": TIMING,
                    "predicted_time_s": nullable(NUMBER),
                    "max_abs_diff": NUMBER,
                    "makespan_s": nullable(TIMING),
                    "one_thread_s": nullable(TIMING),
                    "predicted_makespan_s": nullable(NUMBER),
                    "speedup": nullable(NUMBER),
                }
            )
        ),
    }
)
ELEMENTAL = record(
    {"name": TEXT, "inputs": COUNT, "outputs": COUNT, "tangent_cost": COUNT, "adjoint_cost": COUNT, "tape": COUNT}
)
CHAIN_ANALYSIS = record(
    {
        "chain": record({"name": nullable(TEXT), "widths": array(COUNT), "elementals": array(ELEMENTAL)}),
        "source": TEXT,
        "memory": nullable(COUNT),
        "machines": nullable(COUNT),
        "critical_path": nullable(COUNT),
        "blas": nullable(BLAS),
        "fixed_costs": nullable(FIXED_COSTS),
        "orders": {"type": "object", "additionalProperties": CHAIN_ORDER},
    }
)


def analyze_schema() -> Schema:
    """One document per SPEC (a network's analysis, or a chain of elementals'): a single
    object, or a list of them for several SPECs."""
    bodies = []
    for body in (ANALYSIS, CHAIN_ANALYSIS):
        one = document("jacchain analyze", body)
        bodies.append({key: value for key, value in one.items() if key not in ("$schema", "title")})
    return {"$schema": DRAFT, "title": "jacchain analyze", "anyOf": [*bodies, array({"anyOf": bodies})]}


def check_schema() -> Schema:
    change = record(
        {
            "config": TEXT,
            "setting": TEXT,
            "order": TEXT,
            "field": TEXT,
            "baseline": nullable(COUNT),
            "now": nullable(COUNT),
            "difference": nullable(DIFFERENCE),
            "change_percent": nullable(NUMBER),
        }
    )
    names = array(TEXT)
    return document(
        "jacchain check",
        record(
            {
                "baseline": TEXT,
                "ok": {"type": "boolean"},
                "updated": {"type": "boolean"},
                "configs": names,
                "compared": COUNT,
                "changes": array(change),
                "added": names,
                "removed": names,
                "kept": names,
                "pruned": names,
            }
        ),
    )


def train_schema() -> Schema:
    flops = record(
        {
            "loss_first": COUNT,
            "loss_first_parts": record({"forward": COUNT, "backward": COUNT, "update": COUNT}),
            "input_first": COUNT,
            "ratio": NUMBER,
        }
    )
    grad_check = record({"max_rel_error": NUMBER, "coordinates": COUNT, "skipped_at_kinks": COUNT})
    return document(
        "jacchain train",
        record(
            {
                "network": NETWORK,
                "dataset": TEXT,
                "n_train": COUNT,
                "n_test": COUNT,
                "mode": {"enum": list(TRAIN_MODES)},
                "steps": COUNT,
                "epochs": NUMBER,
                "batch": COUNT,
                "lr": NUMBER,
                "momentum": NUMBER,
                "weight_decay": NUMBER,
                "loss_history": array(nullable(NUMBER)),
                "train_loss": nullable(NUMBER),
                "train_accuracy": nullable(NUMBER),
                "test_loss": nullable(NUMBER),
                "test_accuracy": nullable(NUMBER),
                "step_time_s": record({"median": NUMBER, "min": NUMBER, "max": NUMBER}),
                "samples": COUNT,
                "samples_per_s": nullable(NUMBER),
                "notes": array(TEXT),
                "flops_per_step": flops,
                "grad_check": nullable(grad_check),
                "blas": nullable(BLAS),
            }
        ),
    )


SCHEMAS: Registry[Callable[[], Schema]] = Registry("schema")


def any_config_schema() -> Schema:
    """A network config or a chain config."""
    from ..chain.config import chain_schema

    network, chain = config_schema(), chain_schema()
    strip = ("$schema", "title")
    return {
        "$schema": DRAFT,
        "title": "jacchain config (a network, or a chain of elementals)",
        "oneOf": [
            {k: v for k, v in network.items() if k not in strip},
            {k: v for k, v in chain.items() if k not in strip},
        ],
    }


SCHEMAS.add("config", any_config_schema)
SCHEMAS.add("analyze", analyze_schema)
SCHEMAS.add("check", check_schema)
SCHEMAS.add("train", train_schema)
