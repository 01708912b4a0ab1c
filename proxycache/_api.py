"""Module-level helpers that work on anything the entry points produced."""

from __future__ import annotations

from typing import Any

from ._method import CacheInfo, state_of


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


def cache_info(obj: Any) -> dict[str, CacheInfo]:
    """Statistics of every cached method of *obj*, by (dotted) method name."""
    return {name: func.cache_info() for name, func in cached_methods(obj).items()}


def cache_clear(obj: Any, *names: str) -> None:
    """Clear the caches of *obj*: all of them, or only the methods named."""
    methods = cached_methods(obj)
    unknown = [n for n in names if n not in methods]
    if unknown:
        raise KeyError(
            # obj.__class__: for a proxy, the wrapped object's class, which the user knows.
            f"no cached method {unknown[0]!r} on {obj.__class__.__qualname__}; "
            f"cached so far: {', '.join(sorted(methods)) or '(none)'}"
        )
    for name, func in methods.items():
        if not names or name in names:
            func.cache_clear()
