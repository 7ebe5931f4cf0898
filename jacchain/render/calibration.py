"""Render `jacchain calibrate`: the measured figures and where they were cached."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import fields

from rich.text import Text

from ..cost.machine import SMALL_MACS, SMALL_SIDE, Calibration
from ..cost.memory import human_bytes as human
from ..run.calibrate import CACHE_GAIN, CalibrationRun
from .base import Renderer, register


def curve_line(label: str, points: tuple[tuple[int, float], ...], size: Callable[[int], str] = human) -> list[str]:
    """One line of a measured curve's points (size, rate); none when it was not measured."""
    return [f"{label}: " + ", ".join(f"{size(at)} {rate:.1f}" for at, rate in points)] if points else []


def small_lines(c: Calibration) -> list[str]:
    """The small-product curves' lines; none when they were not measured."""
    side, label = SMALL_SIDE, f"small products, up to {SMALL_MACS:,} multiply-adds"
    rates = "GFLOP/s by s (the call's time taken out)"
    return [
        *curve_line(f"{label}: (s x {side})({side} x {side}), {rates}", c.small_curve, str),
        *curve_line(f"{label}: ({side} x {side})({side} x s), {rates}", c.small_curve_narrow, str),
    ]


def lines(run: CalibrationRun) -> list[str]:
    c = run.calibration
    return [
        f"BLAS {c.blas}, {c.dtype}, {c.threads} thread(s)",
        f"matrix multiply ({c.gemm_size}^3): {c.gemm_gflops:.1f} GFLOP/s",
        *curve_line(f"(s x {c.gemm_size})({c.gemm_size} x {c.gemm_size}), GFLOP/s by s", c.gemm_curve, str),
        *curve_line(f"({c.gemm_size} x {c.gemm_size})({c.gemm_size} x s), GFLOP/s by s", c.gemm_curve_narrow, str),
        *small_lines(c),
        f"vector-matrix streaming from memory ({c.stream_bytes / 2**20:.0f} MiB matrix): {c.stream_gbps:.1f} GB/s",
        f"vector-matrix streaming from cache: {c.cache_gbps:.1f} GB/s, up to {human(c.cache_bytes)} "
        f"(the largest matrix streaming {CACHE_GAIN}x faster than from memory)",
        *curve_line("vector-matrix streaming, GB/s by matrix size (the call's time taken out)", c.stream_curve),
        *curve_line(
            f"the same on one thread (the BLAS's below {c.threaded_from:,} matrix entries)", c.stream_curve_one
        ),
        f"fixed cost per product, as the executor runs them: {c.call_s * 1e6:.2f} us; per run: {c.run_s * 1e6:.2f} us",
        *curve_line("numpy scaling rows (structured products), GB/s by bytes moved", c.elementwise_curve),
        f"cached in {run.cache}",
        *(f"note: {note}" for note in c.notes(time.time())),
    ]


register(
    CalibrationRun,
    Renderer(
        to_dict=lambda run: {**run.calibration.to_dict(), "cache": str(run.cache)},
        csv_fields=tuple(field.name for field in fields(Calibration)),
        csv_rows=lambda run: [run.calibration.to_dict()],
        markdown=lambda run: "".join(f"- {line}\n" for line in lines(run)),
        table=lambda run: [Text(line) for line in lines(run)],
    ),
)
