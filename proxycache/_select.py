"""Which attributes get cached: ``include`` / ``exclude`` as names, globs, dotted paths or predicates."""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Callable
from typing import Any

from ._options import Selector


def is_public(name: str) -> bool:
    return not name.startswith("_")


def is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


class Selection:
    """A compiled include/exclude pair."""

    def __init__(self, include: Selector | None, exclude: Selector | None) -> None:
        self.include_fn: Callable[[str], bool] | None = None
        self.include: tuple[str, ...] | None = None
        self.nested: dict[str, list[str]] = {}
        if callable(include):
            self.include_fn = include
        elif include is not None:
            top: list[str] = []
            for entry in include:
                head, dot, rest = entry.partition(".")
                if dot:
                    self.nested.setdefault(head, []).append(rest)
                else:
                    top.append(entry)
            self.include = tuple(top)
        self.exclude_fn: Callable[[str], bool] | None = exclude if callable(exclude) else None
        self.exclude: tuple[str, ...] = () if exclude is None or callable(exclude) else tuple(exclude)

    def wants(self, name: str) -> bool:
        """Whether a callable attribute *name* is to be cached."""
        if is_dunder(name):
            return False
        if self._excluded(name):
            return False
        if self.include_fn is not None:
            return bool(self.include_fn(name))
        if self.include is None:
            return is_public(name) and not self.nested
        return any(_match(pattern, name) for pattern in self.include)

    def nested_paths(self, name: str) -> list[str] | None:
        """Dotted paths below attribute *name*, when the include list reaches into it."""
        if self._excluded(name):
            return None
        return self.nested.get(name)

    def _excluded(self, name: str) -> bool:
        if self.exclude_fn is not None and self.exclude_fn(name):
            return True
        return any(_match(pattern, name) for pattern in self.exclude)


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def _match(pattern: str, name: str) -> bool:
    if _is_glob(pattern):
        # Globs select public names only; name a private method exactly to cache it.
        return is_public(name) and fnmatch.fnmatchcase(name, pattern)
    return pattern == name


def is_cacheable_value(value: Any) -> bool:
    """Callables worth caching: not classes (a call builds a new object each time)."""
    return callable(value) and not isinstance(value, type)


def is_property(owner_type: type, name: str) -> bool:
    """True when *name* is a data descriptor (property and the like) on the type."""
    try:
        attr = inspect.getattr_static(owner_type, name)
    except AttributeError:
        return False
    return hasattr(type(attr), "__set__") or hasattr(type(attr), "__delete__") or isinstance(attr, property)
