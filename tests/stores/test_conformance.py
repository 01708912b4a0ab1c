"""One suite, every store: the Store protocol, then caching through it end to end."""

from __future__ import annotations

import asyncio
import copy
import pickle
import time
from typing import Any

import pytest

from proxycache import MISS, CachedProxy, Store, cache_info
from proxycache._method import state_of

from ..conftest import CountingClient

NS = "tests.Conformance.get"


def key(n: Any, ns: str = NS) -> str:
    return f"{ns}:{n:040x}" if isinstance(n, int) else f"{ns}:{n}"


# -- the protocol ---------------------------------------------------------------


def test_meets_the_store_protocol(store: Any) -> None:
    assert isinstance(store, Store)
    assert store.shared is True


def test_get_of_an_absent_key_is_miss(store: Any) -> None:
    assert store.get(key(1)) is MISS


def test_set_then_get_returns_the_bytes(store: Any) -> None:
    store.set(key(1), b"one")
    store.set(key(2), b"")
    assert store.get(key(1)) == b"one"
    assert store.get(key(2)) == b""


def test_set_replaces(store: Any) -> None:
    store.set(key(1), b"old")
    store.set(key(1), b"new")
    assert store.get(key(1)) == b"new"
    assert list(store.keys(NS)) == [key(1)]


def test_large_value_round_trips(store: Any) -> None:
    value = bytes(range(256)) * 1024  # 256 KiB: diskcache keeps it in a file
    store.set(key(1), value)
    assert store.get(key(1)) == value
    assert dict(store.scan(NS)) == {key(1): len(value)}


def test_delete_says_whether_there_was_an_entry(store: Any) -> None:
    store.set(key(1), b"x")
    assert store.delete(key(1)) is True
    assert store.get(key(1)) is MISS
    assert store.delete(key(1)) is False


def test_ttl_expires_entries(store: Any) -> None:
    store.set(key(1), b"brief", ttl=0.05)
    store.set(key(2), b"lasting", ttl=60)
    store.set(key(3), b"forever")
    assert store.get(key(1)) == b"brief"
    time.sleep(0.15)
    assert store.get(key(1)) is MISS
    assert store.get(key(2)) == b"lasting"
    assert store.get(key(3)) == b"forever"
    assert sorted(store.keys(NS)) == [key(2), key(3)]


def test_keys_and_clear_by_namespace(store: Any) -> None:
    other = "tests.Other.get@2"
    for n in range(5):
        store.set(key(n), b"a")
    store.set(key(1, other), b"b")
    store.set(key(1, NS + "x"), b"c")  # a namespace that merely starts alike
    assert sorted(store.keys(NS)) == sorted(key(n) for n in range(5))
    assert list(store.keys(other)) == [key(1, other)]
    assert len(list(store.keys())) == 7
    assert store.clear(NS) == 5
    assert list(store.keys(NS)) == []
    assert store.get(key(1, other)) == b"b"
    assert store.get(key(1, NS + "x")) == b"c"
    assert store.clear() == 2
    assert list(store.keys()) == []


def test_namespace_with_glob_characters_is_taken_literally(store: Any) -> None:
    odd = "tests.[odd]*?.get"
    store.set(key(1, odd), b"x")
    store.set(key(1, "tests.o.get"), b"y")
    assert list(store.keys(odd)) == [key(1, odd)]
    assert store.clear(odd) == 1
    assert store.get(key(1, "tests.o.get")) == b"y"


def test_scan_reports_sizes(store: Any) -> None:
    store.set(key(1), b"12345")
    store.set(key(1, "tests.Other.get"), b"1")
    assert list(store.scan(NS)) == [(key(1), 5)]
    assert sorted(store.scan()) == sorted([(key(1), 5), (key(1, "tests.Other.get"), 1)])


def test_copy_is_the_same_store_and_pickle_reopens_it(store: Any) -> None:
    assert copy.copy(store) is store
    assert copy.deepcopy(store) is store
    store.set(key(1), b"x")
    clone = pickle.loads(pickle.dumps(store))
    assert type(clone) is type(store)
    if store.kind == "memory":
        assert clone.get(key(1)) is MISS  # entries never travel
    else:
        assert clone.get(key(1)) == b"x"  # same directory / server


# -- caching through the store ----------------------------------------------------


def test_repeated_call_hits_the_store(store: Any, client: CountingClient) -> None:
    proxy = CachedProxy(client, store=store, key_attrs=("base",))
    assert proxy.get(1) == (1, 1)
    assert proxy.get(1) == (1, 1)
    assert proxy.get(item=1, page=1) == (1, 1)
    assert client.count("get") == 1
    info = proxy.get.cache_info()
    assert (info.hits, info.misses, info.currsize, info.maxsize) == (2, 1, 1, None)
    assert proxy.get.cache_stats()["policy"] == store.kind


def test_none_and_unhashable_arguments(store: Any, client: CountingClient) -> None:
    proxy = CachedProxy(client, store=store, key_attrs=())
    assert proxy.nothing() is None
    assert proxy.nothing() is None
    assert proxy.echo({"a": [1, 2]}) == {"a": [1, 2]}
    assert proxy.echo({"a": [1, 2]}) == {"a": [1, 2]}
    assert proxy.echo([1, 2]) == [1, 2]  # a list is not the tuple below
    assert proxy.echo((1, 2)) == (1, 2)
    assert client.count("nothing") == 1
    assert client.count("echo") == 3


def test_instances_share_entries_by_key_attrs(store: Any) -> None:
    a, b, c = CountingClient("https://a"), CountingClient("https://a"), CountingClient("https://c")
    pa, pb, pc = (CachedProxy(x, store=store, key_attrs=("base",)) for x in (a, b, c))
    pa.get(1)
    assert pb.get(1) == (1, 1)
    assert pc.get(1) == (1, 1)
    assert (a.count("get"), b.count("get"), c.count("get")) == (1, 0, 1)


def test_invalidate_and_refresh(store: Any, client: CountingClient) -> None:
    proxy = CachedProxy(client, store=store, key_attrs=())
    proxy.get(1)
    proxy.get(2)
    assert proxy.get.cache_invalidate(1) is True
    assert proxy.get.cache_invalidate(1) is False
    proxy.get(1)
    proxy.get(2)
    assert client.count("get") == 3
    assert proxy.get.cache_refresh(2) == (2, 1)
    assert client.count("get") == 4
    proxy.get(2)
    assert client.count("get") == 4


def test_cache_clear_clears_the_namespace_only(store: Any, client: CountingClient) -> None:
    proxy = CachedProxy(client, store=store, key_attrs=())
    proxy.get(1)
    proxy.echo(1)
    proxy.get.cache_clear()
    assert proxy.get.cache_info() == (0, 0, None, 0)
    assert proxy.echo.cache_info().currsize == 1
    proxy.get(1)
    proxy.echo(1)
    assert (client.count("get"), client.count("echo")) == (2, 1)


def test_version_bump_starts_afresh(store: Any) -> None:
    first, second = CountingClient(), CountingClient()
    CachedProxy(first, store=store, key_attrs=(), version=1).get(1)
    CachedProxy(second, store=store, key_attrs=(), version=2).get(1)
    CachedProxy(second, store=store, key_attrs=(), version=2).get(1)
    assert second.count("get") == 1
    namespaces = {k.rpartition(":")[0] for k in store.keys(None)}
    assert namespaces == {
        "tests.conftest.CountingClient.get@1",
        "tests.conftest.CountingClient.get@2",
    }


def test_ttl_option_reaches_the_store(store: Any, client: CountingClient) -> None:
    proxy = CachedProxy(client, store=store, key_attrs=(), ttl=0.05)
    proxy.get(1)
    proxy.get(1)
    assert client.count("get") == 1
    time.sleep(0.15)
    proxy.get(1)
    assert client.count("get") == 2


def test_cached_exceptions_round_trip(store: Any, client: CountingClient) -> None:
    proxy = CachedProxy(client, store=store, key_attrs=(), cache_exceptions=ValueError)
    for _ in range(2):
        with pytest.raises(ValueError, match="boom"):
            proxy.fail("boom")
    assert client.count("fail") == 1


def test_coroutine_results_are_awaited_then_stored(store: Any, client: CountingClient) -> None:
    proxy = CachedProxy(client, store=store, key_attrs=())

    async def twice() -> list[Any]:
        return [await proxy.aget(5), await proxy.aget(5)]

    assert asyncio.run(twice()) == [5, 5]
    assert client.count("aget") == 1


def test_module_level_cache_info_sees_store_backed_methods(store: Any, client: CountingClient) -> None:
    proxy = CachedProxy(client, store=store, key_attrs=())
    proxy.get(1)
    proxy.get(1)
    assert cache_info(proxy)["get"].hits == 1
    assert state_of(proxy.get).faults == 0  # type: ignore[union-attr]
