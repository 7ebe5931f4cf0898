"""The memory model of an explicit run, memory sizes ("4GiB"), what is available, and the
refusal of runs that would not fit."""

from __future__ import annotations

import os
import re

from ..chain.factors import Chain
from ..errors import JacchainError, MemoryLimitError
from ..model.spec import NetworkSpec
from .plan_cost import PlanCost, stored_bytes

_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")


def parse_bytes(text: str, what: str = "memory size") -> int:
    """Parse a memory size: plain bytes or with a unit (kB/MB/GB decimal, KiB/MiB/GiB binary);
    an error names it as `what` (the option it came from).

    >>> parse_bytes("1.5GiB"), parse_bytes("512MB"), parse_bytes("1000")
    (1610612736, 512000000, 1000)
    """
    match = _SIZE.fullmatch(str(text))
    unit = match.group(2).lower() if match else None
    if not match or unit not in _UNITS:
        raise JacchainError(
            f"{what} must be a number with an optional unit (B, kB, MB, GB, KiB, MiB, GiB), got {text!r}"
        )
    value = int(float(match.group(1)) * _UNITS[unit])
    if value <= 0:
        raise JacchainError(f"{what} must be positive, got {text!r}")
    return value


def available_bytes() -> int:
    """Memory available to a new allocation now (MemAvailable on Linux)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - exotic platforms
        return 8 * 2**30


def default_limit() -> int:
    """Half of the memory available now."""
    return available_bytes() // 2


def human_bytes(n_bytes: int) -> str:
    """Binary units, three significant figures.

    >>> human_bytes(1536), human_bytes(3 * 2**30), human_bytes(12)
    ('1.50 KiB', '3.00 GiB', '12 B')
    """
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    power = 0
    while power < len(units) - 1 and n_bytes >= 1024 ** (power + 1):
        power += 1
    if power == 0:
        return f"{n_bytes} B"
    whole, rest = divmod(n_bytes * 100 // 1024**power, 100)  # exact: no float of a huge count
    return f"{whole:,}.{rest:02d} {units[power]}"


def sizes_apart(needed: int, limit: int) -> tuple[str, str]:
    """A need and its limit in binary units, or in exact bytes where the two would read the
    same (a need a few bytes over its limit).

    >>> sizes_apart(3 * 2**20, 2**20), sizes_apart(22240, 22239)
    (('3.00 MiB', '1.00 MiB'), ('22,240 B', '22,239 B'))
    """
    needs, allows = human_bytes(needed), human_bytes(limit)
    return (needs, allows) if needs != allows else (f"{needed:,} B", f"{limit:,} B")


ANALYTIC_ADVICE = "use --analytic to count without building anything, or raise --max-memory"


def over_limit_message(
    what: str, needed: int, limit: int, advice: str = ANALYTIC_ADVICE, limit_name: str = "--max-memory limit"
) -> str:
    needs, allows = sizes_apart(needed, limit)
    return f"{what} needs about {needs} of memory, over the {limit_name} of {allows}; {advice}"


def check_fits(
    needed: int, limit: int, what: str, advice: str = ANALYTIC_ADVICE, limit_name: str = "--max-memory limit"
) -> None:
    """Refuse, before allocating, work whose modelled memory exceeds the limit."""
    if needed > limit:
        raise MemoryLimitError(over_limit_message(what, needed, limit, advice, limit_name), needed, limit)


def base_memory(spec: NetworkSpec, chain: Chain) -> int:
    """Modelled bytes every explicit run holds: parameters, forward cache, the factors, and
    the largest factor once more while it is being built."""
    itemsize = spec.itemsize
    largest = max(stored_bytes(f.rows, f.cols, f.structure, itemsize) for f in chain.factors)
    return spec.n_params * itemsize + 2 * sum(spec.sizes) * itemsize + chain.factor_bytes + largest


def order_memory(cost: PlanCost) -> int:
    """What one order adds while it runs: its peak of intermediates and its kept results."""
    return cost.peak_bytes + cost.result_bytes
