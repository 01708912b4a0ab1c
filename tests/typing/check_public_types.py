"""Checked by mypy --strict in test_types.py (and imported at run time, where assert_type is a no-op).

What mypy can and cannot see, stated as assertions:

- ``CachedProxy(client)`` is ``CachedProxy[Client]`` for mypy; its attributes
  are ``Any`` (mypy ignores a ``__new__`` that returns the wrapped type;
  pyright and Pylance honour it and see ``Client``). ``proxy.__wrapped__`` is
  ``Client``.
- ``cache_methods(obj)`` and ``uncache_methods(obj)`` return the same type.
- ``@cached_method`` methods read through an instance are
  ``CachedCallable[P, R]``: the method's parameters, its return type and the
  ``cache_*`` controls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, cast

from typing_extensions import assert_type

from proxycache import (
    CachedProxy,
    CacheInfo,
    CachingMixin,
    Event,
    bypass,
    cache_clear,
    cache_info,
    cache_methods,
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
assert_type(proxy, CachedProxy[Client])
assert_type(proxy.__wrapped__, Client)
assert_type(proxy.get("a"), Any)  # mypy: attributes of a proxy are Any

# The typed view mypy users can opt into: the proxy is a Client at run time.
typed_client = cast(Client, CachedProxy(Client()))
assert_type(typed_client.get("a", page=2), list[str])

# Its cached methods, typed with their controls.
get = cast("CachedCallable[[str, int], list[str]]", proxy.get)
assert_type(get.cache_info(), CacheInfo)
assert_type(get("a", 1), list[str])

# -- cache_methods / uncache_methods ---------------------------------------------------

client = cache_methods(Client(), "get", ttl=60)
assert_type(client, Client)
assert_type(client.get("a"), list[str])
assert_type(uncache_methods(client), Client)

# -- CachingMixin ---------------------------------------------------------------------


class CachedClient(CachingMixin, Client, maxsize=32):
    pass


mixed = CachedClient()
assert_type(mixed.get("a"), list[str])
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

# A cached method is a CachedCallable wherever one is expected.
item_method: CachedCallable[..., dict[str, str]] = catalog.item
assert_type(item_method("a"), dict[str, str])



def mistakes_are_caught() -> None:
    """Never called. Under --strict an unneeded "type: ignore" is itself an
    error, so each line fails the check unless mypy reports its mistake."""
    catalog.item(1)  # type: ignore[arg-type]
    catalog.item("a", fresh="yes")  # type: ignore[arg-type]
    catalog.item.cache_infos()  # type: ignore[attr-defined]
    cache_methods(Client()).get(1)  # type: ignore[arg-type]
    Catalog.currency(1)  # type: ignore[arg-type]

# -- module-level helpers -------------------------------------------------------------

assert_type(cache_info(proxy), dict[str, CacheInfo])
assert_type(cache_clear(proxy), None)
with bypass():
    pass


def on_event(event: Event) -> None:
    assert_type(event.kind, str)
    assert_type(event.method, str)
