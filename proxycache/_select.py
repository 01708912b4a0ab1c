"""Which attributes get cached: ``include`` / ``exclude`` as names, globs, dotted paths or predicates."""

from __future__ import annotations

import abc
import fnmatch
import inspect
import types
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
        self._wanted: dict[str, bool] = {}

    def wants(self, name: str) -> bool:
        """Whether a callable attribute *name* is to be cached."""
        if self.include_fn is None and self.exclude_fn is None:
            # Names and globs only: the answer per name never changes, and
            # every new proxy of a class asks again for each method.
            known = self._wanted.get(name)
            if known is None:
                if len(self._wanted) >= 4096:  # objects that answer any name (xmlrpc) must not grow it for ever
                    self._wanted.clear()
                known = self._wanted[name] = self._wants(name)
            return known
        return self._wants(name)

    def _wants(self, name: str) -> bool:
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
        if not self.nested:
            return None
        if self._excluded(name):
            return None
        return self.nested.get(name)

    def _excluded(self, name: str) -> bool:
        if self.exclude_fn is not None and self.exclude_fn(name):
            return True
        return bool(self.exclude) and any(_match(pattern, name) for pattern in self.exclude)


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


_NOT_FOUND: Any = object()
#: Metaclasses that do not shadow a class's __dict__ (what getattr_static guards against).
_PLAIN_METACLASSES = frozenset({type, abc.ABCMeta})
#: What methods are in a class body: no __set__, no __delete__.
_NOT_DATA_DESCRIPTORS = frozenset({types.FunctionType, staticmethod, classmethod, types.BuiltinFunctionType,
                                   types.WrapperDescriptorType, types.MethodDescriptorType})


def is_property(owner_type: type, name: str) -> bool:
    """True when *name* is a data descriptor (property and the like) on the type."""
    # The class's own MRO first, as inspect.getattr_static looks (it costs
    # ten times more, on every first access of a method); a name found only
    # on the metaclass, or a class whose metaclass shadows __dict__, goes to
    # getattr_static itself.
    attr: Any = _NOT_FOUND
    if type(owner_type) in _PLAIN_METACLASSES:
        for klass in owner_type.__mro__:
            found = klass.__dict__.get(name, _NOT_FOUND)
            if found is not _NOT_FOUND:
                attr = found
                break
    if attr is _NOT_FOUND:
        try:
            attr = inspect.getattr_static(owner_type, name)
        except AttributeError:
            return False
    kind = type(attr)
    if kind in _NOT_DATA_DESCRIPTORS:
        return False  # hasattr on a type that lacks the name formats an AttributeError: twice per method
    return hasattr(kind, "__set__") or hasattr(kind, "__delete__") or isinstance(attr, property)
