"""Render `jacchain calibrate`: the measured figures and where they were cached."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from rich.text import Text

from ..cost.machine import Calibration
from ..run.calibrate import CalibrationRun
from .base import Renderer, renders


def lines(run: CalibrationRun) -> list[str]:
    c = run.calibration
    return [
        f"BLAS {c.blas}, {c.dtype}, {c.threads} thread(s)",
        f"matrix multiply ({c.gemm_size}^3): {c.gemm_gflops:.1f} GFLOP/s",
        f"vector-matrix streaming from memory ({c.stream_bytes / 2**20:.0f} MiB matrix): {c.stream_gbps:.1f} GB/s",
        f"vector-matrix streaming from cache (up to {c.cache_bytes / 2**20:.0f} MiB): {c.cache_gbps:.1f} GB/s",
        f"fixed cost of one tiny product: {c.call_s * 1e6:.2f} us",
        f"cached in {run.cache}",
    ]


@renders(CalibrationRun)
class CalibrationRenderer(Renderer[CalibrationRun]):
    csv_fields = tuple(field.name for field in fields(Calibration))

    def to_dict(self, result: CalibrationRun) -> dict[str, Any]:
        return {**result.calibration.to_dict(), "cache": str(result.cache)}

    def csv_rows(self, result: CalibrationRun) -> list[dict[str, Any]]:
        return [result.calibration.to_dict()]

    def markdown(self, result: CalibrationRun) -> str:
        return "".join(f"- {line}\n" for line in lines(result))

    def table(self, result: CalibrationRun) -> list[Any]:
        return [Text(line) for line in lines(result)]
