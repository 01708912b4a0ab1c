"""Keeping cached callables on an instance without changing what it is.

The in-place, mixin and decorator entry points put a per-instance cached
callable where attribute lookup finds it fastest: the instance's ``__dict__``
(for ``__slots__`` classes, a side table keyed by ``id`` and cleaned by a weak
reference). The callable holds its instance weakly, so no reference cycle
keeps the instance alive.

Pickling and copying must not carry those callables. Both ``pickle`` and
``copy`` look ``__reduce_ex__`` up on the *instance*, so a small shim stored
there filters our entries out of the state the class would otherwise produce.

A class's own ``__copy__`` often copies ``__dict__`` (``new.__dict__.update(
self.__dict__)``), and with it the original's callables and shim. Each
callable records its owner; one found in another instance's dict is not
used, and a class with its own ``__copy__``/``__deepcopy__`` gets them
wrapped once so the copy drops (or rebuilds) what belongs to the original.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
import types
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from ._make import _NEVER_CACHED, state_of

#: Prefix of instance-dict keys that hold cached callables reached through super().
SUPER_PREFIX = "_proxycache_super_"
_SHIM = "__reduce_ex__"  # the instance-level entry pickle and copy look up
#: What the instance's dict held under a name before cache_methods installed there: nothing.
#: (An installed callable's state keeps its instance, ``installed_for``, and what it replaced, ``replaced``.)
ABSENT = object()
_GUARD = "__proxycache_copy_guard__"

#: CPython 3.11 and 3.12 keep a plain instance's attributes inline, and read them with a specialized
#: instruction, until something reads its ``__dict__``: the interpreter then builds the dict object, and
#: every later ``obj.attr`` takes the generic path, about three times the instructions. There, cached
#: callables are set and looked for as attributes. (3.10 always has the dict; 3.13 keeps the values
#: inline either way, and its dict is the cheaper way in.)
DICT_UNREAD = (3, 11) <= sys.version_info < (3, 13)

_lock = threading.Lock()
#: ``cache_methods``, set when ``_inplace`` loads (it imports this module): what
#: ``disown`` caches again. Whatever it would recache was installed by it.
recache_with: Callable[..., Any] | None = None


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


def install(obj: Any, name: str, func: Any, d: dict[str, Any] | None = None, state: Any = None) -> None:
    """Put a cached callable on *obj* under *name*, with the pickling shim.

    Into *d*, the instance's dict, when the caller has it; else both are set as attributes,
    leaving the dict unread (see :data:`DICT_UNREAD`). *state* is the callable's
    CachedMethod, when the caller has it.
    """
    if state is None:
        state = state_of(func)
    try:
        ref: Any = weakref.ref(obj)
    except TypeError:  # no __weakref__: the id tells owners apart while the owner lives
        ref = None
        state.installed_for = id(obj)
    else:
        # On the state, not the function: an attribute more would grow the function's dict.
        state.installed_for = ref
    if d is None:
        cls = type(obj)
        # Where the class keeps object's own hooks, the builtins do the same for a third of the instructions.
        set_, get_ = (setattr, getattr) if cls.__setattr__ is _setattr and cls.__getattribute__ is _getattr else (
            _setattr, _getattr)
        try:
            set_(obj, name, func)
            shim = get_(obj, _SHIM)  # the instance's own shim, or the class's __reduce_ex__ bound
        except (AttributeError, TypeError):  # no instance dict, or a C type's own __setattr__
            d = instance_dict(obj)
            if d is None:
                raise TypeError(f"{type(obj).__qualname__} instances have no __dict__") from None
        else:
            # None yet (the class's method, bound), or one copied from another instance: set ours. A
            # __reduce_ex__ of the instance's own is left alone, as below.
            if shim.ref() is not obj if type(shim) is ReduceShim else type(shim) in _BOUND:
                set_(obj, _SHIM, _shim(obj, ref))
            guard_copies(cls)
            return
    d[name] = func
    shim = d.get(_SHIM)
    if shim is None or (type(shim) is ReduceShim and shim.ref() is not obj):
        d[_SHIM] = _shim(obj, ref)
    guard_copies(type(obj))


def _shim(obj: Any, ref: Any) -> ReduceShim:
    if ref is None:
        return ReduceShim(obj)
    # The same shim ReduceShim(obj) makes, without running __init__ (this runs for each instance).
    shim = _new(ReduceShim)
    shim.ref = ref
    return shim


_BOUND = (types.MethodType, types.BuiltinMethodType)
_setattr: Any = object.__setattr__
_getattr: Any = object.__getattribute__
_new = object.__new__


def belongs_to(func: Any, obj: Any) -> bool:
    """Whether the cached callable *func*, found in *obj*'s dict, was installed for *obj*."""
    state = state_of(func)
    owner = None if state is None else state.installed_for
    if owner is None:
        return True  # not installed by us in a dict (a class-level or shared callable)
    if type(owner) is int:
        return owner == id(obj)
    return owner() is obj


def disown(obj: Any, d: dict[str, Any] | None = None) -> None:
    """Drop the cached callables and shim that *obj*'s dict (*d*, when the caller has it) holds for another instance.

    What ``cache_methods`` installed is cached again for *obj*, with the
    same options; what a descriptor built is rebuilt on next access.
    """
    if d is None:
        d = instance_dict(obj)
        if d is None:
            return
    never = _NEVER_CACHED
    for value in d.values():
        if type(value) not in never:
            break
    else:
        return  # plain data only (most dicts, on every cache_methods): no callable of ours, no shim
    recache: list[tuple[str, Any]] = []
    for key, value in list(d.items()):
        if type(value) in never or not isinstance(key, str):
            continue
        state = state_of(value)
        if state is None or belongs_to(value, obj):
            continue
        previous = state.replaced
        if previous is None:
            del d[key]
            continue
        if previous is ABSENT:
            del d[key]
        else:
            d[key] = previous
        recache.append((key, state))
    shim = d.get(_SHIM)
    if type(shim) is ReduceShim and shim.ref() is not obj:
        d[_SHIM] = ReduceShim(obj)
        remove_shim_if_unused(obj)
    if recache and recache_with is not None:
        for key, state in recache:
            recache_with(obj, key, _options=state.options)


def guard_copies(cls: type) -> None:
    """Wrap *cls*'s own ``__copy__``/``__deepcopy__`` so a copy keeps none of the original's callables."""
    if type(cls) is type:
        # Whether either is defined, told without getattr, whose AttributeError (formatted,
        # then dropped) costs more than the rest of an install (this runs for each).
        for klass in cls.__mro__:
            if klass is object:
                return  # which has neither, and cannot be given one
            own = klass.__dict__
            if "__copy__" in own or "__deepcopy__" in own:
                break
        else:
            return
    for name in ("__copy__", "__deepcopy__"):
        original = getattr(cls, name, None)
        if original is None or getattr(original, _GUARD, False):
            continue
        wrapper = _copy_guard(original)
        # A type that cannot be changed (a C type): its copies carry entries.
        with contextlib.suppress(TypeError, AttributeError):
            setattr(cls, name, wrapper)


def _copy_guard(original: Any) -> Any:
    @functools.wraps(original)
    def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
        new = original(self, *args, **kwargs)
        if new is not self:
            disown(new)
        return new

    setattr(guarded, _GUARD, True)
    return guarded


def remove_shim_if_unused(obj: Any) -> None:
    d = instance_dict(obj)
    if d is not None and type(d.get(_SHIM)) is ReduceShim and not any(
        state_of(v) is not None and belongs_to(v, obj) for v in d.values()
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
    """(name, cached callable) pairs stored in *obj*'s dict for *obj*."""
    d = instance_dict(obj)
    if d is None:
        return
    for key, value in list(d.items()):
        if isinstance(key, str) and state_of(value) is not None and belongs_to(value, obj):
            if key.startswith(SUPER_PREFIX):
                rest = key[len(SUPER_PREFIX):]
                key = rest.partition(":")[2] or rest
            yield key, value

