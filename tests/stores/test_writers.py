"""Entries someone else wrote: a signed expiry a store writer cannot drop, and entries of another serializer or release.

A writer without the secret can edit what the store keeps about an entry
(its Redis expiry, diskcache's ``expire_time``) and put back bytes it saw
earlier; processes with another ``serializer=`` (a rolling change, two
services on one namespace) write entries of their own. Each is a miss, never
a wrong value.
"""

from __future__ import annotations

import time
from typing import Any

import diskcache

from proxycache import CachedProxy, DiskStore, cache_of
from proxycache.serializers import PickleSerializer

from .conftest import redis_name

SECRET = "s3cret"
TTL = 0.3


class Prices:
    def __init__(self) -> None:
        self.now = 1.0
        self.calls = 0

    def price(self, sku: str) -> float:
        self.calls += 1
        return self.now


def _raw(store: Any) -> tuple[Any, Any]:
    """``(get(name), set(name, data, keep_expiry))`` of the bytes a store keeps, bypassing proxycache."""
    if isinstance(store, DiskStore):
        cache = diskcache.Cache(store.path)
        return cache.get, lambda name, data: cache.set(name, data)
    client = store.client
    return (lambda name: client.get(redis_name(store, name))), (
        lambda name, data: client.set(redis_name(store, name), data)
    )


def _drop_expiry(store: Any, name: str) -> None:
    """What a writer without the secret can do: make the store keep an entry for ever."""
    if isinstance(store, DiskStore):
        cache = diskcache.Cache(store.path)
        cache._sql("UPDATE Cache SET expire_time = NULL")
        cache.close()
    else:
        store.client.persist(redis_name(store, name))


def test_a_writer_cannot_keep_a_signed_entry_past_its_ttl(bytes_store: Any) -> None:
    prices = Prices()
    proxy = CachedProxy(prices, store=bytes_store, key_attrs=(), serializer=PickleSerializer(secret=SECRET), ttl=TTL)
    assert proxy.price("A") == 1.0
    (name,) = bytes_store.keys()
    _drop_expiry(bytes_store, name)
    time.sleep(TTL + 0.1)
    prices.now = 2.0
    assert proxy.price("A") == 2.0  # the signed expiry passed: a miss, though the store still holds the entry
    assert prices.calls == 2
    assert cache_of(proxy.price).cache_stats()["faults"] == 0


def test_a_signed_entry_put_back_after_an_invalidation_lives_no_longer_than_its_ttl(bytes_store: Any) -> None:
    prices = Prices()
    proxy = CachedProxy(prices, store=bytes_store, key_attrs=(), serializer=PickleSerializer(secret=SECRET), ttl=TTL)
    proxy.price("A")
    (name,) = bytes_store.keys()
    get, put = _raw(bytes_store)
    seen = get(name)
    cache_of(proxy.price).cache_invalidate("A")
    prices.now = 2.0
    # Before its expiry an earlier genuine entry of the same key is all a signature can tell: it reads again
    # (docs/security.md says so).
    put(name, seen)
    assert proxy.price("A") == 1.0
    time.sleep(TTL + 0.1)
    put(name, seen)  # after it: a miss, for ever
    assert proxy.price("A") == 2.0
    assert prices.calls == 2


def test_a_signed_entry_without_its_signed_expiry_is_a_miss_when_a_ttl_applies(bytes_store: Any) -> None:
    """What earlier releases wrote for ``ttl=`` with a secret: the signed value alone, its expiry the store's."""
    signed = PickleSerializer(secret=SECRET)
    prices = Prices()
    proxy = CachedProxy(prices, store=bytes_store, key_attrs=(), serializer=signed, ttl=60)
    proxy.price("A")
    (name,) = bytes_store.keys()
    get, put = _raw(bytes_store)
    put(name, signed.dumps(1.0, key=name))  # genuine, signed for this key, kept for ever by the store
    prices.now = 2.0
    assert proxy.price("A") == 2.0  # refused: no signed expiry where one is due
    assert prices.calls == 2
    assert cache_of(proxy.price).cache_stats()["faults"] == 0  # an older release's entry: a quiet miss
    assert proxy.price("A") == 2.0  # and overwritten, with its expiry
    assert prices.calls == 2
    assert get(name)[:4] == b"pce1"
    # Without a ttl there is no expiry to sign: the value alone, fresh for as long as the store keeps it.
    plain = CachedProxy(Prices(), store=bytes_store, key_attrs=(), serializer=signed, namespace="forever")
    plain.price("A")
    (forever,) = bytes_store.keys("forever")
    assert get(forever) == signed.dumps(1.0, key=forever)
