"""The renderer interface: each result type has one renderer, looked up by the result's type."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

R = TypeVar("R")


class Renderer(ABC, Generic[R]):
    """How one type of result is shown in every format."""

    csv_fields: Sequence[str] = ()

    @abstractmethod
    def to_dict(self, result: R) -> dict[str, Any]:
        """The JSON document (without schema_version, which render() adds)."""

    @abstractmethod
    def csv_rows(self, result: R) -> list[dict[str, Any]]:
        """Flat rows with the keys of `csv_fields`."""

    @abstractmethod
    def markdown(self, result: R) -> str:
        """GitHub Markdown."""

    @abstractmethod
    def table(self, result: R) -> list[Any]:
        """Rich renderables for a terminal."""


RENDERERS: dict[type, Renderer[Any]] = {}


def renders(result_type: type) -> Any:
    """Class decorator: register a renderer for `result_type`."""

    def register(renderer: type[Renderer[Any]]) -> type[Renderer[Any]]:
        RENDERERS[result_type] = renderer()
        return renderer

    return register
