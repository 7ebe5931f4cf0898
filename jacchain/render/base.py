"""The renderer of a result type: how it is shown in every format, looked up by its type."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

R = TypeVar("R")


@dataclass(frozen=True)
class Renderer(Generic[R]):
    """The JSON document (render() adds schema_version), flat CSV rows with the keys of
    `csv_fields`, GitHub Markdown, and rich renderables for a terminal."""

    to_dict: Callable[[R], dict[str, Any]]
    csv_fields: Sequence[str]
    csv_rows: Callable[[R], list[dict[str, Any]]]
    markdown: Callable[[R], str]
    table: Callable[[R], list[Any]]


RENDERERS: dict[type, Renderer[Any]] = {}


def register(result_type: type[R], renderer: Renderer[R]) -> None:
    RENDERERS[result_type] = renderer
