"""Entries someone else wrote: a signed expiry a store writer cannot drop, and entries of another serializer or release.

A writer without the secret can edit what the store keeps about an entry
(its Redis expiry, diskcache's ``expire_time``) and put back bytes it saw
earlier; processes with another ``serializer=`` (a rolling change, two
services on one namespace) write entries of their own. Each is a miss, never
a wrong value.
"""

from __future__ import annotations

import pickle
import time
from typing import Any

import diskcache
import pytest

from proxycache import CachedProxy, DiskStore, cache_of
from proxycache.serializers import JsonSerializer, PickleSerializer, PydanticSerializer

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


# -- entries of another serializer --------------------------------------------------------


class Api:
    def __init__(self) -> None:
        self.calls = 0

    def get(self, n: int) -> dict[str, Any]:
        self.calls += 1
        return {"count": n}


class Codec:
    """A custom pair: anything with dumps and loads."""

    def dumps(self, value: Any) -> bytes:
        return repr(value).encode()

    def loads(self, data: bytes) -> Any:
        import ast

        return ast.literal_eval(data.decode())


class BoundCodec:
    """A custom pair bound to the store key, as a wrapper of the signed pickle would be."""

    binds_key = True

    def __init__(self) -> None:
        self.inner = PickleSerializer(secret=SECRET)

    def dumps(self, value: Any, *, key: str | None = None) -> bytes:
        return self.inner.dumps(value, key=key)

    def loads(self, data: bytes, *, key: str | None = None) -> Any:
        return self.inner.loads(data, key=key)


SERIALIZERS = {
    "pickle": lambda: "pickle",
    "signed": lambda: PickleSerializer(secret=SECRET),
    "json": lambda: "json",
    "pydantic": lambda: "pydantic",
    "custom": Codec,
    "custom-bound": BoundCodec,
}
PICKLES = {"pickle", "signed", "custom-bound"}  # bytes that are pickles, signed or not


@pytest.mark.parametrize("timed", [False, True], ids=["plain", "timed"])
@pytest.mark.parametrize(
    ("writer", "reader"),
    [pytest.param(w, r, id=f"{w}->{r}") for w in SERIALIZERS for r in SERIALIZERS if w != r],
)
def test_an_entry_of_another_serializer_is_a_miss(writer: str, reader: str, timed: bool, tmp_path: Any) -> None:
    times = {"ttl": 60, "stale_if_error": 60} if timed else {}
    store = DiskStore(tmp_path)
    CachedProxy(Api(), store=store, key_attrs=(), serializer=SERIALIZERS[writer](), **times).get(5)
    api = Api()
    proxy = CachedProxy(api, store=store, key_attrs=(), serializer=SERIALIZERS[reader](), **times)
    assert proxy.get(5) == {"count": 5}
    assert api.calls == 1
    if not {writer, reader} <= PICKLES:  # a pickle another secret (or none) signed is a fault, as ever
        assert cache_of(proxy.get).cache_stats()["faults"] == 0  # a change of serializer: a quiet miss
    assert proxy.get(5) == {"count": 5}  # overwritten: a hit from now on
    assert api.calls == 1


def _old_entries(name: str) -> dict[str, bytes]:
    """What earlier releases wrote for ``{"count": 5}`` under *name* (no serializer mark), per serializer."""
    return {
        "pickle": pickle.dumps({"count": 5}),
        "signed": PickleSerializer(secret=SECRET).dumps({"count": 5}, key=name),
        "json": b'{"count":5}',
        "pydantic": b'{"d":{"count":{"j":5}}}',
        "custom": repr({"count": 5}).encode(),
        "json-lookalike": b'{"j":{"count":6}}',  # JSON's entry for {"j": {...}}: pydantic's envelope of {"count": 6}
    }


@pytest.mark.parametrize("reader", list(SERIALIZERS))
def test_entries_of_earlier_releases_are_misses_or_true_hits(reader: str, tmp_path: Any) -> None:
    store = DiskStore(tmp_path)
    CachedProxy(Api(), store=store, key_attrs=(), serializer=SERIALIZERS[reader]()).get(5)
    (name,) = store.keys()
    _, put = _raw(store)
    for written_by, data in _old_entries(name).items():
        put(name, data)
        api = Api()
        proxy = CachedProxy(api, store=store, key_attrs=(), serializer=SERIALIZERS[reader]())
        assert proxy.get(5) == {"count": 5}, written_by  # never {"d": ...}, nor {"count": 6} for {"j": ...}
        # A pickle is read by pickle as before (it names its format); anything else is recomputed.
        assert api.calls == (0 if (written_by, reader) in {("pickle", "pickle"), ("signed", "signed")} else 1)


def test_earlier_releases_read_new_entries_as_misses(tmp_path: Any) -> None:
    """Processes of both releases on one store: an old reader's serializer refuses every marked entry."""
    store = DiskStore(tmp_path)
    for name in ("json", "pydantic", "custom", "custom-bound"):
        for times in ({}, {"ttl": 60, "stale_if_error": 60}):
            chosen = SERIALIZERS[name]()
            CachedProxy(Api(), store=store, key_attrs=(), serializer=chosen, namespace=name, **times).get(5)
            (key,) = store.keys(name)
            data = store.get(key)
            payload = data[28:] if data[:4] == b"pce1" else data  # after the times, what the serializer read
            for old in (JsonSerializer(), PydanticSerializer(), PickleSerializer(), PickleSerializer(secret=SECRET)):
                with pytest.raises(Exception):  # each refuses in its own way
                    old.loads(payload)
            store.clear(name)
