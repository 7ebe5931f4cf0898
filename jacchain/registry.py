"""A name -> object registry whose error message lists the valid names."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from .errors import JacchainError, choice_error

T = TypeVar("T")


class Registry(Generic[T]):
    """Objects looked up by name; CLI choices, tests and error messages all come from here.

    >>> r = Registry("colour"); _ = r.add("red", 1); r.get("red")
    1
    >>> r.get("blue")
    Traceback (most recent call last):
    ...
    jacchain.errors.JacchainError: unknown colour 'blue'; valid options are: red
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def add(self, name: str, item: T, aliases: tuple[str, ...] = ()) -> T:
        self._items[name] = item
        for alias in aliases:
            self._aliases[alias] = name
        return item

    def canonical(self, name: str) -> str:
        key = name.strip().lower().replace("_", "-") if isinstance(name, str) else name
        for candidate in (name, key):
            if candidate in self._items:
                return candidate
            if candidate in self._aliases:
                return self._aliases[candidate]
        # Registry names may themselves use underscores (cross_entropy); try that spelling.
        if isinstance(key, str) and key.replace("-", "_") in self._items:
            return key.replace("-", "_")
        raise choice_error(self.kind, name, self.names())

    def get(self, name: str) -> T:
        return self._items[self.canonical(name)]

    def names(self) -> list[str]:
        return list(self._items)

    def spellings(self) -> list[str]:
        """The names and their aliases, as written (canonical() also folds case and - / _)."""
        return [*self._items, *self._aliases]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __contains__(self, name: object) -> bool:
        try:
            self.canonical(name)  # type: ignore[arg-type]  # any object may be asked about
        except JacchainError:
            return False
        return True
