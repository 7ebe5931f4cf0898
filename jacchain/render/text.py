"""Pieces shared by every renderer: JSON, CSV, Markdown tables, readable numbers, the
schema version and the network block every command's JSON carries."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from typing import Any

from ..model.spec import NetworkSpec

SCHEMA_VERSION = 1


def to_json(payload: Any) -> str:
    """JSON text; a NaN or infinite float (not JSON) becomes null.

    >>> print(to_json({"ratio": float("nan"), "times": [1.5, float("inf")]}), end="")
    {
      "ratio": null,
      "times": [
        1.5,
        null
      ]
    }
    """
    return json.dumps(finite(payload), indent=2, allow_nan=False) + "\n"


def finite(value: Any) -> Any:
    """`value` with every non-finite float inside it replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value


def to_csv(rows: Sequence[dict[str, Any]], fields: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def markdown_table(headings: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[bool]) -> str:
    """A GitHub Markdown table; `right` marks the right-aligned (numeric) columns."""

    def line(cells: Sequence[Any]) -> str:
        return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"

    lines = [line(headings), "|" + "|".join("---:" if r else "---" for r in right) + "|"]
    lines += [line(row) for row in rows]
    return "\n".join(lines) + "\n"


def seconds_text(seconds: float) -> str:
    """A duration with a sensible unit.

    >>> seconds_text(0.000123), seconds_text(2.5), seconds_text(0.0456)
    ('123 µs', '2.50 s', '45.6 ms')
    """
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    if seconds >= 1e-6:
        return f"{seconds * 1e6:.3g} µs"
    return f"{seconds * 1e9:.3g} ns"


def network_block(spec: NetworkSpec) -> dict[str, Any]:
    """The same `network` object in every command's JSON."""
    return {
        "name": spec.name,
        "sizes": list(spec.sizes),
        "activations": list(spec.activations),
        "loss": spec.loss,
        "dtype": spec.dtype,
        "seed": spec.seed,
    }
