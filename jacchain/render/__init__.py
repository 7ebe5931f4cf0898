"""Rendering results: one `render(result, fmt)` over a format registry and one renderer per
result type. Everything the user reads is worded here; the library returns plain data."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..registry import Registry
from ..types import FORMATS
from . import analysis, calibration, chain, check, explain, sweep, train  # noqa: F401  (they register)
from .base import RENDERERS, Renderer
from .text import SCHEMA_VERSION, to_csv, to_json

Rendered = str | list[Any]  # text, or rich renderables for a terminal


def _json(renderer: Renderer[Any], results: list[Any]) -> Rendered:
    payloads = [{"schema_version": SCHEMA_VERSION, **renderer.to_dict(result)} for result in results]
    return to_json(payloads[0] if len(payloads) == 1 else payloads)


def _csv(renderer: Renderer[Any], results: list[Any]) -> Rendered:
    return to_csv([row for result in results for row in renderer.csv_rows(result)], renderer.csv_fields)


def _markdown(renderer: Renderer[Any], results: list[Any]) -> Rendered:
    return "\n".join(renderer.markdown(result) for result in results)


def _table(renderer: Renderer[Any], results: list[Any]) -> Rendered:
    return [renderable for result in results for renderable in renderer.table(result)]


WRITERS: Registry[Callable[[Renderer[Any], list[Any]], Rendered]] = Registry("format")
for _name, _writer in zip(FORMATS, (_table, _json, _markdown, _csv)):
    WRITERS.add(_name, _writer)


def render(results: Any, fmt: str) -> Rendered:
    """Text (or rich renderables for `table`) of one result or a sequence of results of one
    type. An unknown format or result type is an error, never a silent table."""
    writer = WRITERS.get(fmt)
    items = list(results) if isinstance(results, Sequence) and not isinstance(results, str) else [results]
    if not items:
        raise ValueError("nothing to render")
    renderer = RENDERERS.get(type(items[0]))
    if renderer is None:
        raise TypeError(f"no renderer for {type(items[0]).__name__}")
    return writer(renderer, items)
