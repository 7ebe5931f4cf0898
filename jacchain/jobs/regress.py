"""FLOP-count baselines for CI: compute exact counts, compare with a stored file, rewrite it."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from ..chain.elementals import ElementalChain
from ..errors import JacchainError, choice_error
from ..io import check_writable, is_file, locked, read_text, write_atomic
from ..model.spec import NetworkSpec
from ..types import GRANULARITIES, OF_CHOICES, WRT_CHOICES, Granularity, Of, Wrt
from .analyze import count_only, plan_orders

BASELINE_SCHEMA = 1
FIELDS = ("macs", "flops", "peak_bytes")
Counts = dict[str, dict[str, dict[str, int]]]  # setting key -> order key -> field -> value


@dataclass(frozen=True)
class Setting:
    """What is differentiated, with respect to what, at which granularity: one column set
    of a baseline."""

    of: Of
    wrt: Wrt
    granularity: Granularity

    @property
    def key(self) -> str:
        """
        >>> Setting("loss", "input", "layer").key
        'of=loss,wrt=input,granularity=layer'
        """
        return f"of={self.of},wrt={self.wrt},granularity={self.granularity}"


DEFAULT_SETTINGS = (
    Setting("loss", "input", "layer"),
    Setting("loss", "input", "op"),
    Setting("output", "input", "layer"),
    Setting("loss", "params", "op"),
)


def parse_setting_key(key: str) -> Setting:
    """The Setting of a key like of=loss,wrt=input,granularity=layer."""
    try:
        parts = dict(part.split("=", 1) for part in key.split(","))
    except ValueError:
        raise JacchainError(f"baseline setting {key!r} is not of the form of=...,wrt=...,granularity=...") from None
    if set(parts) != {"of", "wrt", "granularity"}:
        raise JacchainError(f"baseline setting {key!r} must name of, wrt and granularity")
    for name, allowed in (("of", OF_CHOICES), ("wrt", WRT_CHOICES), ("granularity", GRANULARITIES)):
        if parts[name] not in allowed:
            raise JacchainError(f"baseline setting {key!r}: {choice_error(name, parts[name], allowed)}")
    return Setting(cast(Of, parts["of"]), cast(Wrt, parts["wrt"]), cast(Granularity, parts["granularity"]))


def load_named(specs: Sequence[str], baseline_path: str) -> list[tuple[str, NetworkSpec | ElementalChain]]:
    """Each SPEC with its key in the baseline: a config's path relative to the baseline's
    folder (two configs of one name in different folders stay apart), or the size list. A
    chain config gives its chain of elementals."""
    from ..chain.config import is_chain_config, load_chain
    from ..model.config import load_network

    return [
        (baseline_key(spec, baseline_path), load_chain(spec) if is_chain_config(spec) else load_network(spec))
        for spec in specs
    ]


def baseline_key(spec: str, baseline_path: str) -> str:
    """
    >>> baseline_key("784,512,10", "configs/flops-baseline.json")
    '784,512,10'
    >>> baseline_key("configs/seed.yaml", "configs/flops-baseline.json")
    'seed.yaml'
    """
    from ..model.config import is_config_path

    if not is_config_path(spec):
        return spec
    folder = os.path.realpath(Path(baseline_path).parent)
    return Path(os.path.relpath(os.path.realpath(spec), folder)).as_posix()


def _gone(key: str, baseline_path: str) -> bool:
    """A stored entry whose config file no longer exists beside the baseline."""
    from ..model.config import is_config_path

    return is_config_path(key) and not is_file(str(Path(baseline_path).parent / key))


ELEMENTALS = "elementals"  # the one setting of a chain config: its orders' exact MACs and FLOPs


def count_config(spec: NetworkSpec | ElementalChain, settings: Sequence[Setting]) -> Counts:
    """Exact modelled counts of every order under every setting (nothing is built); a chain
    of elementals has one setting of its own."""
    if isinstance(spec, ElementalChain):
        from .chain import analyze_chain

        orders = analyze_chain(spec).orders
        return {ELEMENTALS: {r.order.key: {"macs": r.macs, "flops": 2 * r.macs} for r in orders if r.macs is not None}}
    counts: Counts = {}
    for setting in settings:
        result = count_only(plan_orders(spec, of=setting.of, wrt=setting.wrt, granularity=setting.granularity))
        counts[setting.key] = {r.order.key: {field: getattr(r, field) for field in FIELDS} for r in result.orders}
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
    def difference(self) -> int | None:
        """now - baseline, exactly (a count either side is an integer)."""
        if self.baseline is None or self.now is None:
            return None
        return self.now - self.baseline

    @property
    def percent(self) -> float | None:
        difference = self.difference
        if difference is None or not self.baseline:
            return None
        return difference / self.baseline * 100


@dataclass(frozen=True)
class CheckResult:
    baseline_path: str
    configs: tuple[str, ...]
    changes: tuple[Change, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]
    compared: int
    updated: bool = False
    kept: tuple[str, ...] = ()
    pruned: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not (self.changes or self.added or self.removed)


def read_baseline(path: str) -> dict[str, Any]:
    """Load and validate a baseline file; any problem is a JacchainError naming the file."""
    text = read_text(path, f"baseline {path} not found; create it with --update")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise JacchainError(
            f"baseline {path} is corrupt: {error.msg} at line {error.lineno}; "
            "restore it from version control or rewrite it with --update after deleting it"
        ) from None
    except RecursionError:
        raise JacchainError(f"baseline {path} is corrupt: nested too deeply") from None
    _validate_baseline(data, path)
    return data


def _validate_baseline(data: Any, path: str) -> None:
    def bad(why: str) -> JacchainError:
        return JacchainError(f"baseline {path} is corrupt: {why}")

    if not isinstance(data, dict) or data.get("schema_version") != BASELINE_SCHEMA:
        raise bad(f"expected an object with schema_version {BASELINE_SCHEMA}")
    if not isinstance(data.get("settings"), list) or not isinstance(data.get("configs"), dict):
        raise bad("expected keys 'settings' (a list) and 'configs' (an object)")
    if not data["settings"]:
        raise bad("its settings list is empty, so it guards nothing")
    if len(set(map(str, data["settings"]))) != len(data["settings"]):
        raise bad("a setting is listed twice")
    for key in data["settings"]:
        if not isinstance(key, str):
            raise bad(f"setting {key!r} is not a string")
        try:
            parse_setting_key(key)
        except JacchainError as error:
            raise bad(str(error)) from None
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


def check(
    named_specs: Sequence[tuple[str, NetworkSpec | ElementalChain]],
    baseline_path: str,
    update: bool = False,
    prune: bool = False,
) -> CheckResult:
    """Compare exact counts of `named_specs` with the baseline. With `update`, rewrite the
    entries of these configs and keep every other one (`prune` also drops the entries whose
    config file no longer exists), under a lock so that concurrent updates lose nothing."""
    if prune and not update:
        raise JacchainError("--prune rewrites the baseline: give it together with --update")
    if not update:
        return _compare(named_specs, baseline_path, update=False, prune=False)
    check_writable(baseline_path)
    with locked(os.path.realpath(Path(baseline_path).parent)):
        return _compare(named_specs, baseline_path, update=True, prune=prune)


def _compare(
    named_specs: Sequence[tuple[str, NetworkSpec | ElementalChain]], baseline_path: str, update: bool, prune: bool
) -> CheckResult:
    baseline: dict[str, Any]
    if update and not Path(baseline_path).exists():
        baseline = {"settings": [s.key for s in DEFAULT_SETTINGS], "configs": {}}
    else:
        baseline = read_baseline(baseline_path)
    settings = [parse_setting_key(key) for key in baseline["settings"]]
    current = {name: count_config(spec, settings) for name, spec in named_specs}
    stored: dict[str, Any] = baseline["configs"]
    changes, compared = [], 0
    for name, counts in current.items():
        if name not in stored:
            continue
        compared += 1
        changes.extend(_differences(name, stored[name], counts))
    added = tuple(sorted(set(current) - set(stored)))
    removed = tuple(sorted(key for key in set(stored) - set(current) if _gone(key, baseline_path)))
    kept: tuple[str, ...] = ()
    pruned: tuple[str, ...] = ()
    if update:
        pruned = removed if prune else ()
        merged = {key: value for key, value in stored.items() if key not in pruned} | current
        kept = tuple(sorted(set(merged) - set(current)))
        write_atomic(baseline_path, baseline_text(baseline["settings"], merged))
    return CheckResult(
        str(baseline_path), tuple(current), tuple(changes), added, removed, compared, update, kept, pruned
    )


def _differences(config: str, before: dict[str, Any], after: Counts) -> list[Change]:
    changes = []
    for setting in sorted(set(before) | set(after)):
        old_orders, new_orders = before.get(setting, {}), after.get(setting, {})
        for order in sorted(set(old_orders) | set(new_orders)):
            old, new = old_orders.get(order, {}), new_orders.get(order, {})
            for name in sorted(set(old) | set(new)):
                if old.get(name) != new.get(name):
                    changes.append(Change(config, setting, order, name, old.get(name), new.get(name)))
    return changes
