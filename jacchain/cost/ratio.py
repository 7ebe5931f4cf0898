"""Ratios of exact counts that never overflow: counts are Python integers of any size (a
10^400-wide network is counted exactly), so their ratio is a float only where one holds it."""

from __future__ import annotations

import sys
from fractions import Fraction

FLOAT_MAX = sys.float_info.max


def count_ratio(numerator: int, denominator: int) -> float | int:
    """numerator / denominator as a float, or as the exact integer part where a float would
    overflow (a zero denominator counts as 1: a chain of one factor costs nothing).

    >>> count_ratio(3, 2), count_ratio(5, 0)
    (1.5, 5.0)
    >>> count_ratio(10**400, 1) == 10**400
    True
    """
    denominator = max(denominator, 1)
    exact = Fraction(numerator, denominator)
    if abs(exact) < FLOAT_MAX:
        return float(exact)
    return numerator // denominator


def ratio_text(ratio: float | int) -> str:
    """
    >>> ratio_text(195.83), ratio_text(1.234), ratio_text(10**400)
    ('195.8x', '1.23x', '1.00e+400x')
    """
    if isinstance(ratio, int) and abs(ratio) >= FLOAT_MAX:
        digits = str(abs(ratio))
        mantissa = Fraction(int(digits[:4]), 1000)
        return f"{'-' if ratio < 0 else ''}{float(mantissa):.2f}e+{len(digits) - 1}x"
    return f"{ratio:,.1f}x" if ratio >= 10 else f"{ratio:.2f}x"
