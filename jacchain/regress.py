"""FLOP-count baselines for CI: compute exact counts, compare with a stored file, rewrite it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .analysis import analyze
from .errors import JacchainError, read_text
from .output import write_atomic
from .spec import NetworkSpec

BASELINE_SCHEMA = 1
FIELDS = ("macs", "flops", "peak_bytes")
DEFAULT_SETTINGS = (
    {"of": "loss", "wrt": "input", "granularity": "layer"},
    {"of": "loss", "wrt": "input", "granularity": "op"},
    {"of": "output", "wrt": "input", "granularity": "layer"},
    {"of": "loss", "wrt": "params", "granularity": "op"},
)

Counts = dict[str, dict[str, dict[str, int]]]  # setting key -> order key -> field -> value


def setting_key(setting: dict[str, str]) -> str:
    """of=loss,wrt=input,granularity=layer"""
    return ",".join(f"{name}={setting[name]}" for name in ("of", "wrt", "granularity"))


def parse_setting_key(key: str) -> dict[str, str]:
    try:
        setting = dict(part.split("=", 1) for part in key.split(","))
    except ValueError:
        raise JacchainError(f"baseline setting {key!r} is not of the form of=...,wrt=...,granularity=...") from None
    if set(setting) != {"of", "wrt", "granularity"}:
        raise JacchainError(f"baseline setting {key!r} must name of, wrt and granularity")
    return setting


def count_config(spec: NetworkSpec, settings: Sequence[dict[str, str]]) -> Counts:
    """Exact modelled counts of every order under every setting (nothing is built)."""
    counts: Counts = {}
    for setting in settings:
        result = analyze(spec, analytic=True, **setting)
        counts[setting_key(setting)] = {
            r.order.key: {"macs": r.macs, "flops": r.flops, "peak_bytes": r.peak_bytes} for r in result.orders
        }
    return counts


@dataclass(frozen=True)
class Change:
    config: str
    setting: str
    order: str
    field: str
    baseline: int | None
    now: int | None

    @property
    def percent(self) -> float | None:
        if self.baseline in (None, 0) or self.now is None:
            return None
        return (self.now - self.baseline) / self.baseline * 100


@dataclass(frozen=True)
class CheckResult:
    baseline_path: str
    configs: tuple[str, ...]
    changes: tuple[Change, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]
    compared: int
    updated: bool = False
    current: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return not (self.changes or self.added or self.removed)


def read_baseline(path: str) -> dict[str, Any]:
    """Load and validate a baseline file; any problem is a JacchainError naming the file."""
    text = read_text(path, f"baseline {path} not found; create it with --update")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise JacchainError(f"baseline {path} is corrupt: {error.msg} at line {error.lineno}; "
                            "restore it from version control or rewrite it with --update after deleting it") from None
    _validate_baseline(data, path)
    return data


def _validate_baseline(data: Any, path: str) -> None:
    def bad(why: str) -> JacchainError:
        return JacchainError(f"baseline {path} is corrupt: {why}")

    if not isinstance(data, dict) or data.get("schema_version") != BASELINE_SCHEMA:
        raise bad(f"expected an object with schema_version {BASELINE_SCHEMA}")
    if not isinstance(data.get("settings"), list) or not isinstance(data.get("configs"), dict):
        raise bad("expected keys 'settings' (a list) and 'configs' (an object)")
    for key in data["settings"]:
        if not isinstance(key, str):
            raise bad(f"setting {key!r} is not a string")
        parse_setting_key(key)
    for config, counts in data["configs"].items():
        if not isinstance(counts, dict):
            raise bad(f"config {config!r} is not an object")
        for setting, orders in counts.items():
            if not isinstance(orders, dict):
                raise bad(f"{config} / {setting} is not an object")
            for order, fields in orders.items():
                if not isinstance(fields, dict) or not all(
                    isinstance(v, int) and not isinstance(v, bool) for v in fields.values()
                ):
                    raise bad(f"{config} / {setting} / {order}: counts must be integers")


def baseline_text(settings: Sequence[str], configs: dict[str, Counts]) -> str:
    """Stable formatting (sorted keys, fixed indent) so that diffs of the file stay small."""
    payload = {"schema_version": BASELINE_SCHEMA, "settings": list(settings), "configs": configs}
    return json.dumps(payload, indent=2, sort_keys=True) + "\n"


def check(named_specs: Sequence[tuple[str, NetworkSpec]], baseline_path: str, update: bool = False) -> CheckResult:
    """Compare exact counts of `named_specs` with the baseline; with `update`, rewrite it."""
    path = Path(baseline_path)
    if update and not path.exists():
        baseline = {"settings": [setting_key(s) for s in DEFAULT_SETTINGS], "configs": {}}
    else:
        baseline = read_baseline(baseline_path)
    settings = [parse_setting_key(key) for key in baseline["settings"]]
    current = {name: count_config(spec, settings) for name, spec in named_specs}
    stored = baseline["configs"]
    changes, compared = [], 0
    for name, counts in current.items():
        if name not in stored:
            continue
        compared += 1
        changes.extend(_differences(name, stored[name], counts))
    added = tuple(sorted(set(current) - set(stored)))
    removed = tuple(sorted(set(stored) - set(current)))
    if update:
        write_atomic(baseline_path, baseline_text(baseline["settings"], current))
    return CheckResult(str(baseline_path), tuple(current), tuple(changes), added, removed, compared, update, current)


def _differences(config: str, before: dict, after: Counts) -> list[Change]:
    changes = []
    for setting in sorted(set(before) | set(after)):
        old_orders, new_orders = before.get(setting, {}), after.get(setting, {})
        for order in sorted(set(old_orders) | set(new_orders)):
            old, new = old_orders.get(order, {}), new_orders.get(order, {})
            for name in sorted(set(old) | set(new)):
                if old.get(name) != new.get(name):
                    changes.append(Change(config, setting, order, name, old.get(name), new.get(name)))
    return changes
