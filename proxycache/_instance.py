"""Keeping cached callables on an instance without changing what it is.

The in-place, mixin and decorator entry points put a per-instance cached
callable where attribute lookup finds it fastest: the instance's ``__dict__``
(for ``__slots__`` classes, a side table keyed by ``id`` and cleaned by a weak
reference). The callable holds its instance weakly, so no reference cycle
keeps the instance alive.

Pickling and copying must not carry those callables. Both ``pickle`` and
``copy`` look ``__reduce_ex__`` up on the *instance*, so a small shim stored
there filters our entries out of the state the class would otherwise produce.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from typing import Any

from ._method import state_of

#: Prefix of instance-dict keys that hold cached callables reached through super().
SUPER_PREFIX = "_proxycache_super_"
_SHIM = "__reduce_ex__"

_lock = threading.Lock()


def is_ours(value: Any) -> bool:
    return state_of(value) is not None or type(value) is ReduceShim


class ReduceShim:
    """Instance-level ``__reduce_ex__`` that drops proxycache's entries from the state."""

    __slots__ = ("__weakref__", "ref")

    def __init__(self, obj: Any) -> None:
        self.ref = weakref.ref(obj)

    def __call__(self, protocol: int) -> Any:
        obj = self.ref()
        if obj is None:  # pragma: no cover - the shim lives in the object's own dict
            raise ReferenceError("object already collected")
        cls: Any = type(obj)
        reduced = cls.__reduce_ex__(obj, protocol)
        if not isinstance(reduced, tuple) or len(reduced) < 3:
            return reduced
        return (*reduced[:2], _filtered(reduced[2]), *reduced[3:])


def _filtered(state: Any) -> Any:
    if isinstance(state, dict):
        return {k: v for k, v in state.items() if not is_ours(v)}
    if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], dict):
        return (_filtered(state[0]), state[1])
    return state


def instance_dict(obj: Any) -> dict[str, Any] | None:
    """The instance's own ``__dict__``, or None (``__slots__``, C types)."""
    try:
        d = object.__getattribute__(obj, "__dict__")
    except (AttributeError, TypeError):
        return None
    return d if type(d) is dict else None


def install(obj: Any, name: str, func: Any) -> None:
    """Put a cached callable in *obj*'s dict under *name*, with the pickling shim."""
    d = instance_dict(obj)
    if d is None:
        raise TypeError(f"{type(obj).__qualname__} instances have no __dict__")
    d[name] = func
    if _SHIM not in d:
        d[_SHIM] = ReduceShim(obj)


def remove_shim_if_unused(obj: Any) -> None:
    d = instance_dict(obj)
    if d is not None and type(d.get(_SHIM)) is ReduceShim and not any(
        state_of(v) is not None for v in d.values()
    ):
        del d[_SHIM]


def require_weakref(obj: Any) -> None:
    """Fail clearly when *obj* can hold neither a cache (no ``__dict__``) nor a weak reference."""
    try:
        weakref.ref(obj)
    except TypeError:
        raise TypeError(
            f"{type(obj).__qualname__} has neither __dict__ nor __weakref__, so a per-instance "
            "cache cannot be kept for it without keeping it alive; add '__weakref__' to its "
            "__slots__, or wrap the object in CachedProxy"
        ) from None


class SideTable:
    """Per-instance values for objects without a ``__dict__``, freed with the object."""

    def __init__(self) -> None:
        self._values: dict[int, tuple[weakref.ref[Any], Any]] = {}

    def get(self, obj: Any) -> Any:
        entry = self._values.get(id(obj))
        if entry is not None and entry[0]() is obj:
            return entry[1]
        return None

    def setdefault(self, obj: Any, value: Any) -> Any:
        key = id(obj)
        with _lock:
            entry = self._values.get(key)
            if entry is not None and entry[0]() is obj:
                return entry[1]
            require_weakref(obj)
            ref = weakref.ref(obj, lambda _r, k=key: self._values.pop(k, None))  # type: ignore[misc]
            self._values[key] = (ref, value)
            return value


def cached_in_dict(obj: Any) -> Iterator[tuple[str, Any]]:
    """(name, cached callable) pairs stored in *obj*'s dict."""
    d = instance_dict(obj)
    if d is None:
        return
    for key, value in list(d.items()):
        if isinstance(key, str) and state_of(value) is not None:
            if key.startswith(SUPER_PREFIX):
                rest = key[len(SUPER_PREFIX):]
                key = rest.partition(":")[2] or rest
            yield key, value

