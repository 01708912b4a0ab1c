"""Module-level helpers that work on anything the entry points produced."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from ._make import state_of
from ._stats import CacheInfo

if TYPE_CHECKING:
    from .typing import BoundCachedMethod, CachedCallable

P = ParamSpec("P")
R = TypeVar("R")


def cached_methods(obj: Any) -> dict[str, Any]:
    """The cached callables of *obj* (a proxy, an instance or a cached function), by name."""
    from ._proxy import CachedProxy

    # A subclass may override __getattribute__; it is then searched like any object.
    if isinstance(obj, CachedProxy) and type(obj).__getattribute__ is object.__getattribute__:  # type: ignore[comparison-overlap]
        return obj._self_cached_methods()
    if state_of(obj) is not None:
        return {obj.__name__: obj}
    from ._decorator import find_cached

    return find_cached(obj)


def cached_method_of(obj: Any, name: str) -> Any:
    """The cached callable of *obj*'s method *name* (dotted for nested objects), built if need be."""
    found = cached_methods(obj).get(name)
    if found is not None:
        return found
    # A proxy builds a method's cache on first access: reach it as a call would.
    target = obj
    try:
        for part in name.split("."):
            target = getattr(target, part)
    except AttributeError:
        raise AttributeError(f"{_owner_name(obj)} has no attribute {name!r}") from None
    if state_of(target) is None:
        known = ", ".join(sorted(cached_methods(obj))) or "(none so far)"
        raise TypeError(
            f"{_owner_name(obj)}.{name} is not cached (include= or exclude= leave it out, or it is not "
            f"wrapped by proxycache); cached: {known}"
        )
    return target


def _owner_name(obj: Any) -> str:
    # obj.__class__: for a proxy, the wrapped object's class, which the user knows.
    return obj.__qualname__ if isinstance(obj, type) else obj.__class__.__qualname__


@overload
def cache_info(obj: object, /) -> dict[str, CacheInfo]: ...


@overload
def cache_info(obj: object, name: str, /) -> CacheInfo: ...


def cache_info(obj: object, name: str | None = None, /) -> dict[str, CacheInfo] | CacheInfo:
    """Statistics of *obj*'s cached methods.

    ``cache_info(obj)``: every method cached so far, by (dotted) name; ``{}``
    for an object no entry point produced. ``cache_info(obj, "method")``: that
    method's :class:`CacheInfo` (``"chat.completions.create"`` for a nested
    one), typed for every entry point; raises ``TypeError`` when the method
    is not cached.
    """
    if name is not None:
        info: CacheInfo = cached_method_of(obj, name).cache_info()
        return info
    return {method: func.cache_info() for method, func in cached_methods(obj).items()}


@overload
def cache_stats(obj: object, /) -> dict[str, dict[str, Any]]: ...


@overload
def cache_stats(obj: object, name: str, /) -> dict[str, Any]: ...


def cache_stats(obj: object, name: str | None = None, /) -> dict[str, dict[str, Any]] | dict[str, Any]:
    """``cache_stats()`` of *obj*'s cached methods, as :func:`cache_info` gives their ``cache_info()``.

    ``cache_stats(obj)``: every method cached so far, by (dotted) name;
    ``cache_stats(obj, "method")``: that method's. Beside ``cache_info()``'s
    counts they hold ``coalesced`` (callers handed another caller's
    result), ``saved_seconds`` (hits times the mean measured miss),
    ``faults``, ``uncached`` and ``policy``.
    """
    if name is not None:
        stats: dict[str, Any] = cached_method_of(obj, name).cache_stats()
        return stats
    return {method: func.cache_stats() for method, func in cached_methods(obj).items()}


# A @cached_method read through an instance keeps its exact type (its __wrapped__ takes the instance).
@overload
def cache_of(method: BoundCachedMethod[P, R], /) -> BoundCachedMethod[P, R]: ...


@overload
def cache_of(method: Callable[P, R], /) -> CachedCallable[P, R]: ...


def cache_of(method: Callable[P, R], /) -> CachedCallable[P, R]:
    """The cache controls of a cached method, typed: ``cache_of(proxy.get).cache_info()``.

    Works on a method reached through any entry point (a proxy, ``cache_methods``,
    ``CachingMixin``, ``@cached_method``) and hands back the same object,
    seen by type checkers as a :class:`proxycache.typing.CachedCallable` with
    the method's parameters. Raises ``TypeError`` for a method that is not cached.
    """
    if state_of(method) is None:
        raise TypeError(
            f"{method!r} is not a cached method: its object was not wrapped by proxycache, or include=/exclude= "
            "leave it out (proxycache.cache_info(obj) lists what is cached)"
        )
    return method  # type: ignore[return-value]


def cache_clear(obj: Any, *names: str) -> None:
    """Clear the caches of *obj*: all of them, or only the methods named."""
    methods = cached_methods(obj)
    unknown = [n for n in names if n not in methods]
    if unknown:
        raise KeyError(
            f"no cached method {unknown[0]!r} on {_owner_name(obj)}; "
            f"cached so far: {', '.join(sorted(methods)) or '(none)'}"
        )
    for name, func in methods.items():
        if not names or name in names:
            func.cache_clear()
