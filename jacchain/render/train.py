"""Render a training run: the summary table, JSON, Markdown and CSV."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from ..cost.ratio import count_ratio, ratio_text
from ..training.loop import TrainResult
from .base import Renderer, register
from .text import markdown_table, network_block, seconds_text


def to_dict(result: TrainResult) -> dict[str, Any]:
    t = result.step_time
    return {
        "network": network_block(result.spec),
        "dataset": result.dataset,
        "n_train": result.n_train,
        "n_test": result.n_test,
        "mode": result.settings.mode,
        "steps": result.steps,
        "epochs": result.epochs,
        "batch": result.settings.batch,
        "lr": result.settings.lr,
        "momentum": result.settings.momentum,
        "weight_decay": result.settings.weight_decay,
        "loss_history": list(result.loss_history),
        "train_loss": result.train_loss,
        "train_accuracy": result.train_accuracy,
        "test_loss": result.test_loss,
        "test_accuracy": result.test_accuracy,
        "step_time_s": {"median": t.median, "min": t.min, "max": t.max},
        "samples": result.samples,
        "samples_per_s": result.samples_per_s,
        "notes": list(result.notes),
        "flops_per_step": {
            "loss_first": result.flops.total,
            "loss_first_parts": {
                "forward": result.flops.forward,
                "backward": result.flops.backward,
                "update": result.flops.update,
            },
            "input_first": result.input_first_flops,
            "ratio": count_ratio(result.input_first_flops, result.flops.total),
        },
        "grad_check": (
            {
                "max_rel_error": result.grad_check.max_rel_error,
                "coordinates": result.grad_check.coordinates,
                "skipped_at_kinks": result.grad_check.skipped_at_kinks,
            }
            if result.grad_check
            else None
        ),
        "blas": result.blas.to_dict() if result.blas else None,
    }


def rows(result: TrainResult) -> list[tuple[str, str]]:
    t = result.step_time

    def percent(value: float | None) -> str:
        return "-" if value is None else f"{value * 100:.2f}%"

    lines = [
        ("dataset", f"{result.dataset} ({result.n_train} train / {result.n_test} held out)"),
        (
            "steps",
            f"{result.steps:,} ({result.epochs:.1f} epochs, batch {result.settings.batch}, "
            f"mode {result.settings.mode})",
        ),
        ("time per step", f"{seconds_text(t.median)} median ({seconds_text(t.min)} - {seconds_text(t.max)})"),
        ("samples per second", "-" if result.samples_per_s is None else f"{result.samples_per_s:,.0f}"),
        ("train loss / accuracy", f"{result.train_loss:.4f} / {percent(result.train_accuracy)}"),
        ("held-out loss / accuracy", f"{result.test_loss:.4f} / {percent(result.test_accuracy)}"),
        (
            "FLOPs per step, loss-first (counted)",
            f"{result.flops.total:,} (forward {result.flops.forward:,}, backward {result.flops.backward:,}, "
            f"update {result.flops.update:,})",
        ),
        (
            "FLOPs per step, input-first (modelled)",
            f"{result.input_first_flops:,} "
            f"({ratio_text(count_ratio(result.input_first_flops, result.flops.total))} loss-first)",
        ),
    ]
    if result.grad_check:
        check = result.grad_check
        lines.append(
            (
                "gradient check (float64)",
                f"max relative error {check.max_rel_error:.2e} over "
                f"{check.coordinates} coordinates"
                + (f", {check.skipped_at_kinks} skipped at relu kinks" if check.skipped_at_kinks else ""),
            )
        )
    if result.blas:
        lines.append(("BLAS", f"{result.blas.library}, {result.blas.threads} thread(s)"))
    lines += [("note", note) for note in result.notes]
    return lines


def csv_rows(result: TrainResult) -> list[dict[str, Any]]:
    """The loss history."""
    return [{"step": i, "loss": value} for i, value in enumerate(result.loss_history, start=1)]


def markdown(result: TrainResult) -> str:
    title = f"### jacchain train {result.spec.label}\n\n"
    return title + markdown_table(["figure", "value"], rows(result), [False, False])


def table(result: TrainResult) -> list[Any]:
    grid = Table(title=f"jacchain train {result.spec.label}", title_justify="left", show_header=False)
    grid.add_column(style="bold")
    grid.add_column()
    for name, value in rows(result):
        grid.add_row(name, value)
    return [grid]


register(TrainResult, Renderer(to_dict, ("step", "loss"), csv_rows, markdown, table))
