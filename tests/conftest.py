"""Shared fixtures. Area-specific fixtures live beside their tests."""

from __future__ import annotations

import operator
from typing import Any

import pytest

from proxycache import Event, add_listener, cache_info, cache_of


class CountingClient:
    """A client nobody here 'owns': counts every real call."""

    def __init__(self, base: str = "https://api.example") -> None:
        self.base = base
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def get(self, item: Any, page: int = 1) -> tuple[Any, int]:
        self.calls.append(("get", (item, page), {}))
        return (item, page)

    def echo(self, value: Any) -> Any:
        self.calls.append(("echo", (value,), {}))
        return value

    def nothing(self) -> None:
        self.calls.append(("nothing", (), {}))
        return None

    def fail(self, value: Any) -> Any:
        self.calls.append(("fail", (value,), {}))
        raise ValueError(value)

    async def aget(self, item: Any) -> Any:
        self.calls.append(("aget", (item,), {}))
        return item

    @property
    def name(self) -> str:
        return "counting"

    def count(self, method: str) -> int:
        return sum(1 for c in self.calls if c[0] == method)


@pytest.fixture
def client() -> CountingClient:
    return CountingClient()


# -- reading caches through the public API ----------------------------------------------


def is_cached(method: Any) -> bool:
    """Whether *method* is a cached callable (what ``proxycache.cache_of`` accepts)."""
    try:
        cache_of(method)
    except TypeError:
        return False
    return True


def cached_function(method: Any) -> Any:
    """The per-instance cached callable behind *method*, unbound (a bound one's ``__func__``).

    It holds the method's cache: a weak reference to it tells whether the cache was freed.
    """
    func = cache_of(method)
    return getattr(func, "__func__", func)


def cached_functions(obj: Any) -> list[Any]:
    """The cached callables of *obj* so far, found by the names ``cache_info(obj)`` lists."""
    return [cached_function(operator.attrgetter(name)(obj)) for name in cache_info(obj)]


def events(kinds: str = "hit miss fault uncached stale refresh wait") -> Any:
    """A context manager collecting the :class:`proxycache.Event` of *kinds* (space-separated) in a list."""
    return _Collecting(set(kinds.split()))


class _Collecting:
    def __init__(self, kinds: set[str]) -> None:
        self.kinds = kinds
        self.seen: list[Event] = []

    def __enter__(self) -> list[Event]:
        self._remove = add_listener(lambda e: self.seen.append(e) if e.kind in self.kinds else None)
        return self.seen

    def __exit__(self, *exc: object) -> None:
        self._remove()
