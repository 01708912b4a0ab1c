"""Checked by mypy --strict and pyright --strict in test_types.py (and run, where assert_type is a no-op).

What both checkers see, stated as assertions:

- ``CachedProxy(client)`` is ``Client``: its methods keep their signatures.
- ``cache_of(obj.method)`` is ``CachedCallable[P, R]`` for a method reached
  through any entry point; ``cache_info(obj, "method")`` is ``CacheInfo``.
- ``cache_methods(obj)`` and ``uncache_methods(obj)`` return the same type.
- ``@cached_method`` methods read through an instance are
  ``CachedCallable[P, R]``: the method's parameters, its return type and the
  ``cache_*`` controls; above ``@staticmethod`` or ``@classmethod`` they are
  that through the class too.
- ``__wrapped__`` is the plain function (instance first) for a method cached
  per instance, as ``functools.lru_cache``'s; a proxy's is the bound method.
- A subclass may override a ``@cached_method`` with another.
- A store written against the ``Store`` protocol is a ``Store``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any

from typing_extensions import assert_type

from proxycache import (
    MISS,
    CachedProxy,
    CacheInfo,
    CachingMixin,
    Event,
    MissType,
    Store,
    bypass,
    cache_clear,
    cache_info,
    cache_methods,
    cache_of,
    cached_method,
    uncache_methods,
)
from proxycache.typing import CachedCallable


class Client:
    def get(self, item: str, page: int = 1) -> list[str]:
        return [item] * page

    async def aget(self, item: str) -> str:
        return item


# -- CachedProxy -----------------------------------------------------------------

proxy = CachedProxy(Client(), maxsize=10)
assert_type(proxy, Client)
assert_type(proxy.get("a"), list[str])
assert isinstance(proxy, Client)

# Its cached methods, typed with their controls.
get: CachedCallable[[str, int], list[str]] = cache_of(proxy.get)
assert_type(get.cache_info(), CacheInfo)
assert_type(get("a", 1), list[str])
pending: Coroutine[Any, Any, str] = cache_of(proxy.aget)("a")
assert_type(asyncio.run(pending), str)
assert_type(cache_info(proxy, "get"), CacheInfo)
assert_type(cache_of(proxy.get).cache_invalidate("a"), bool)

# -- cache_methods / uncache_methods ---------------------------------------------------

client = cache_methods(Client(), "get", ttl=60)
assert_type(client, Client)
assert_type(client.get("a"), list[str])
assert_type(cache_of(client.get).cache_info(), CacheInfo)
assert_type(cache_info(client, "get"), CacheInfo)
assert_type(uncache_methods(client), Client)

# -- CachingMixin ---------------------------------------------------------------------


class CachedClient(CachingMixin, Client, maxsize=32):
    pass


mixed = CachedClient()
assert_type(mixed.get("a"), list[str])
assert_type(cache_of(mixed.get).cache_clear(), None)
assert isinstance(mixed, Client)

# -- @cached_method ---------------------------------------------------------------------


class Catalog:
    @cached_method
    def item(self, sku: str, *, fresh: bool = False) -> dict[str, str]:
        return {"sku": sku}

    @cached_method(maxsize=8, ttl=30)
    async def price(self, sku: str) -> float:
        return 1.0

    @cached_method
    @classmethod
    def currency(cls, country: str) -> str:
        return "EUR"

    @cached_method(maxsize=8)
    @staticmethod
    def convert(amount: float, rate: float) -> float:
        return amount * rate


catalog = Catalog()
assert_type(catalog.item("a"), dict[str, str])
assert_type(catalog.item(sku="a", fresh=True), dict[str, str])
assert_type(catalog.item.cache_info(), CacheInfo)
assert_type(catalog.item.cache_info().hits, int)
assert_type(catalog.item.cache_invalidate("a"), bool)
assert_type(catalog.item.cache_refresh("a"), dict[str, str])
assert_type(catalog.item.cache_clear(), None)
assert_type(catalog.item.cache_parameters(), dict[str, Any])
assert_type(catalog.item.cache_stats(), dict[str, Any])
assert_type(Catalog.item(catalog, "a"), dict[str, str])
price: CachedCallable[[str], Coroutine[Any, Any, float]] = catalog.price
assert_type(asyncio.run(catalog.price("a")), float)
assert_type(Catalog.currency("NO"), str)
assert_type(Catalog.currency.cache_info(), CacheInfo)
assert_type(Catalog.convert(2.0, 1.5), float)
assert_type(Catalog.convert.cache_info(), CacheInfo)
assert_type(catalog.convert(2.0, 1.5), float)
assert_type(cache_of(catalog.item).cache_info(), CacheInfo)

# A cached method is a CachedCallable wherever one is expected.
item_method: CachedCallable[..., dict[str, str]] = catalog.item
assert_type(item_method("a"), dict[str, str])

# __wrapped__: the plain function, the instance first (as functools.lru_cache's on a method) ...
assert_type(catalog.item.__wrapped__(catalog, "a"), dict[str, str])
assert_type(Catalog.item.__wrapped__(catalog, "a"), dict[str, str])
inplace = cache_methods(Client(), "get")
assert_type(cache_of(inplace.get).__wrapped__(inplace, "a"), list[str])
assert_type(cache_of(mixed.get).__wrapped__(mixed, "a"), list[str])
# ... but a proxy's wraps what it read from the client: the bound method.
assert_type(cache_of(proxy.get).__wrapped__("a"), list[str])


# A subclass overrides a cached method with its own.
class Base:
    @cached_method
    def fetch(self, day: str) -> list[int]:
        return [1]


class Derived(Base):
    @cached_method(maxsize=4)
    def fetch(self, day: str) -> list[int]:
        return [*super().fetch(day), 2]


derived = Derived()
assert_type(derived.fetch("mon"), list[int])
assert_type(Derived.fetch(derived, "mon"), list[int])
base: Base = derived
assert_type(base.fetch("mon"), list[int])
assert_type(derived.fetch.cache_info(), CacheInfo)


def mistakes_are_caught() -> None:
    """Never called. An unneeded ignore comment is itself an error (mypy
    --strict; pyright as test_types.py runs it), so each line fails the check
    unless both checkers report its mistake."""
    catalog.item(1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    catalog.item("a", fresh="yes")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    catalog.item.cache_infos()  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
    cache_methods(Client()).get(1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    Catalog.currency(1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    Catalog.convert("2", 1.5)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    catalog.convert("2", 1.5)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    proxy.get(1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    proxy.gett("a")  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
    cache_of(proxy.get).cache_infos()  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
    # __wrapped__ takes the instance first: without it the call fails at run time.
    catalog.item.__wrapped__("a")  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    catalog.item.__wrapped__(catalog, 1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    Catalog.item.__wrapped__("a")  # type: ignore[call-arg, arg-type]  # pyright: ignore[reportCallIssue]
    cache_of(catalog.item).__wrapped__("a")  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    derived.fetch(1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    Derived.fetch(Base(), "mon")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

# -- module-level helpers -------------------------------------------------------------

assert_type(cache_info(proxy), dict[str, CacheInfo])
assert_type(cache_clear(proxy), None)
with bypass():
    pass


def on_event(event: Event) -> None:
    assert_type(event.kind, str)
    assert_type(event.method, str)
    assert_type(event.detail, Any)


# Both are named tuples: fields typed, unpacked, replaced, made with defaults.
info = cache_info(proxy, "get")
assert_type(info.hits, int)
assert_type(info.maxsize, int | None)
hits, misses, maxsize, currsize = info
assert_type(currsize, int)
assert_type(info._replace(hits=0), CacheInfo)
assert_type(info._asdict(), dict[str, Any])
assert_type(CacheInfo(1, 2, None, 3)[0], int)
assert_type(Event("miss", "Client.get"), Event)
assert_type(Event("miss", "Client.get")._replace(detail={}), Event)


# -- a store written from docs/stores.md ------------------------------------------------


class DictStore:
    shared = True

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | MissType:
        return self.data.get(key, MISS)

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self.data[key] = value

    def delete(self, key: str) -> bool:
        return self.data.pop(key, None) is not None

    def clear(self, namespace: str | None = None) -> int:
        gone = [k for k in self.data if namespace is None or k.startswith(namespace + ":")]
        for k in gone:
            del self.data[k]
        return len(gone)

    def keys(self, namespace: str | None = None) -> Iterator[str]:
        return iter([k for k in self.data if namespace is None or k.startswith(namespace + ":")])


store: Store = DictStore()
assert isinstance(store, Store)
found = store.get("ns:1")
if found is not MISS:
    assert_type(found, bytes)
