"""``CachedProxy``: a ``wrapt.ObjectProxy`` that caches the wrapped object's methods."""

from __future__ import annotations

import copy
from typing import Any, Generic, TypeVar

import wrapt

from ._method import make_cached, state_of, uncacheable_reason
from ._options import Options, make_options
from ._select import Selection, is_cacheable_value, is_property

T = TypeVar("T")

# Names the proxy itself keeps fresh copies of in its own dict (see __init__).
_FORWARDED = ("__doc__", "__module__")


class CachedProxy(wrapt.ObjectProxy, Generic[T]):  # type: ignore[misc]
    """Wraps *obj*; its public methods are cached per proxy, each on first access.

    Everything else (attributes, properties, special methods, ``isinstance``,
    ``dir()``, equality, setting attributes) behaves as on *obj*. Calls that
    *obj* makes to its own methods do not pass through the proxy.
    """

    # Why: a Python subclass of wrapt's C proxy gets CPython's generic
    # attribute hook, which calls the C __getattribute__ through a slot
    # wrapper (~50 ns per read). object.__getattribute__ finds the cached
    # callables in the proxy's own dict directly; misses still reach
    # __getattr__ below, which forwards to the wrapped object.
    __getattribute__ = object.__getattribute__

    def __init__(self, wrapped: T, **options: Any) -> None:
        opts = options.pop("_options", None)
        if opts is None:
            opts = make_options(**options)
        else:
            options = opts.parameters()
        super().__init__(wrapped)
        self._self_options: Options = opts
        self._self_given = options
        self._self_selection = Selection(opts.include, opts.exclude)
        self._self_prefix = ""
        self._self_methods: dict[str, Any] = {}
        self._self_children: dict[str, CachedProxy[Any]] = {}
        self._self_refresh_forwarded()

    def _self_refresh_forwarded(self) -> None:
        # __doc__ and __module__ live as plain strings on the proxy's class;
        # a copy in the proxy's own dict takes precedence and reports the
        # wrapped object's values, as wrapt does.
        wrapped = self.__wrapped__
        for name in _FORWARDED:
            self.__self_setattr__(name, getattr(wrapped, name, None))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_self_"):
            raise AttributeError(name)
        wrapped = self.__wrapped__
        value = getattr(wrapped, name)
        selection: Selection = self._self_selection
        paths = selection.nested_paths(name)
        if paths is not None and not is_property(type(wrapped), name):
            return self._self_child(name, value, paths)
        if (
            selection.wants(name)
            and is_cacheable_value(value)
            and not is_property(type(wrapped), name)
            and uncacheable_reason(value) is None
        ):
            return self._self_cache(name, value)
        return value

    def _self_cache(self, name: str, method: Any) -> Any:
        owner = type(self.__wrapped__).__qualname__
        qualname = f"{owner}.{self._self_prefix}{name}"
        cached = make_cached(
            method,
            self._self_options,
            name=name,
            qualname=qualname,
            attrs_of=lambda: self.__wrapped__,
        )
        # setdefault: when two threads race on first access, both get one callable.
        cached = self._self_methods.setdefault(name, cached)
        self.__self_setattr__(name, cached)
        return cached

    def _self_child(self, name: str, value: Any, paths: list[str]) -> CachedProxy[Any]:
        opts = self._self_options.replace(include=tuple(paths), exclude=None)
        child = CachedProxy(value, _options=opts)
        child._self_prefix = f"{self._self_prefix}{name}."
        child = self._self_children.setdefault(name, child)
        self.__self_setattr__(name, child)
        return child

    # -- attribute writes reach the wrapped object; drop what they make stale --

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if not name.startswith("_self_"):
            self._self_forget(name)

    def __delattr__(self, name: str) -> None:
        super().__delattr__(name)
        if not name.startswith("_self_"):
            self._self_forget(name)

    def _self_forget(self, name: str) -> None:
        if name in _FORWARDED:
            self._self_refresh_forwarded()
            return
        own = self.__self_dict__
        own.pop(name, None)
        self._self_methods.pop(name, None)
        self._self_children.pop(name, None)

    # -- statistics over everything this proxy cached --

    def _self_cached_methods(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name, func in list(self._self_methods.items()):
            found[f"{self._self_prefix}{name}"] = func
        for child in list(self._self_children.values()):
            found.update(child._self_cached_methods())
        return found

    # -- copying and pickling carry the wrapped object and options, not entries --

    def __copy__(self) -> CachedProxy[T]:
        return type(self)(copy.copy(self.__wrapped__), **self._self_given)

    def __deepcopy__(self, memo: dict[int, Any]) -> CachedProxy[T]:
        return type(self)(copy.deepcopy(self.__wrapped__, memo), **copy.deepcopy(self._self_given, memo))

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.__wrapped__, self._self_given))

    def __reduce__(self) -> tuple[Any, ...]:
        return self.__reduce_ex__(None)


def _rebuild(cls: type[CachedProxy[Any]], wrapped: Any, given: dict[str, Any]) -> CachedProxy[Any]:
    return cls(wrapped, **given)


def proxy_methods(proxy: CachedProxy[Any]) -> dict[str, Any]:
    """The cached callables a proxy has made so far, by (dotted) name."""
    return proxy._self_cached_methods()  # type: ignore[no-any-return]


__all__ = ["CachedProxy", "proxy_methods", "state_of"]
