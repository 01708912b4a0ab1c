"""How a cached method uses a store: key names, namespaces, options, the front cache, pickling."""

from __future__ import annotations

import copy
import gc
import pickle
import re
import threading
import time
import weakref
import xmlrpc.client
from collections import namedtuple
from pathlib import Path
from typing import Any
from xmlrpc.server import SimpleXMLRPCServer

import pytest

from proxycache import CachedProxy, DiskStore, MemoryStore, RedisStore, cache_methods, cache_of

from ..conftest import CountingClient

DIGEST = re.compile(r"^(?P<ns>.+):[0-9a-f]{40}$")
Point = namedtuple("Point", "x y")


def store_of(func: Any) -> Any:
    return cache_of(func).cache_parameters()["store"]


def test_key_names_hold_a_digest_never_argument_values(store: Any, client: CountingClient) -> None:
    proxy = CachedProxy(client, store=store, key_attrs=("base",))
    proxy.get("SECRET-ARGUMENT", page=7)
    proxy.echo({"token": "SECRET-ARGUMENT"})
    keys = sorted(store.keys(None))
    assert len(keys) == 2
    for name in keys:
        match = DIGEST.match(name)
        assert match is not None, name
        assert "SECRET" not in name
        assert "api.example" not in name  # key_attrs values are digested too
    assert {DIGEST.match(k)["ns"] for k in keys} == {  # type: ignore[index]
        "tests.conftest.CountingClient.get",
        "tests.conftest.CountingClient.echo",
    }


def test_default_namespace_of_a_dynamic_client_is_stable(make_store: Any) -> None:
    # The namespace is part of every key: for a client whose methods come from
    # __getattr__ (xmlrpc), it must name the client, never hold an address.
    server = SimpleXMLRPCServer(("127.0.0.1", 0), logRequests=False)
    server.register_function(lambda a, b: a + b, "add")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        store = make_store("memory")
        url = f"http://127.0.0.1:{server.server_address[1]}"
        proxy = CachedProxy(xmlrpc.client.ServerProxy(url), store=store, key_attrs=())
        assert proxy.add(1, 2) == 3
        [name] = store.keys(None)
        assert DIGEST.match(name)["ns"] == "xmlrpc.client.ServerProxy.add"  # type: ignore[index]
    finally:
        server.shutdown()
        server.server_close()


def test_namespace_option_and_version(make_store: Any) -> None:
    store = make_store("memory")
    a = CachedProxy(CountingClient(), store=store, key_attrs=(), namespace="api.get", include=["get"])
    a.get(1)
    assert [DIGEST.match(k)["ns"] for k in store.keys(None)] == ["api.get"]  # type: ignore[index]
    b = CachedProxy(CountingClient(), store=store, key_attrs=(), namespace="api.get", version="2024-06")
    b.get(1)
    assert sorted(DIGEST.match(k)["ns"] for k in store.keys(None)) == ["api.get", "api.get@2024-06"]  # type: ignore[index]


def test_equal_calls_spelled_differently_share_one_key(store: Any, client: CountingClient) -> None:
    proxy = CachedProxy(client, store=store, key_attrs=())
    proxy.get(1)
    proxy.get(item=1)
    proxy.get(1, 1)
    proxy.get(page=1, item=1)
    assert client.count("get") == 1
    assert len(list(store.keys(None))) == 1


def test_shared_store_without_key_attrs_fails_at_wrap_time(store: Any, client: CountingClient) -> None:
    with pytest.raises(TypeError, match=r"a shared store needs key_attrs=.*key_attrs=\(\) to share"):
        CachedProxy(client, store=store)


def test_argument_keyed_by_identity_is_refused_with_the_way_out(store: Any, client: CountingClient) -> None:
    proxy = CachedProxy(client, store=store, key_attrs=())
    refused = r"CountingClient\.get\(\): argument 'item' cannot be part of a shared-store key"
    with pytest.raises(TypeError, match=refused):
        proxy.get(object())
    with pytest.raises(TypeError, match=r"ignore=\['page'\]"):
        proxy.get(1, page=object())
    assert client.count("get") == 0
    if store.kind != "memory":
        return  # what follows stores an object(): only a store of objects can hold it
    ignoring = CachedProxy(client, store=store, key_attrs=(), ignore=["page"])
    first = object()
    assert ignoring.get(1, page=first) == (1, first)
    assert ignoring.get(1, page=object()) == (1, first)  # page is left out of the key


def test_key_attribute_keyed_by_identity_is_named(store: Any, client: CountingClient) -> None:
    client.session = object()  # type: ignore[attr-defined]
    proxy = CachedProxy(client, store=store, key_attrs=("session",))
    with pytest.raises(TypeError, match="key attribute 'session' cannot be part of a shared-store key"):
        proxy.get(1)


def test_values_keyed_by_value(store: Any, client: CountingClient) -> None:
    proxy = CachedProxy(client, store=store, key_attrs=())
    assert proxy.echo(Point(1, 2)) == Point(1, 2)
    assert proxy.echo(Point(1, 2)) == Point(1, 2)
    assert proxy.echo(frozenset({1, 2})) == frozenset({1, 2})
    assert proxy.echo(frozenset({2, 1})) == frozenset({1, 2})
    assert client.count("echo") == 2


def test_threads_share_one_store_backed_method(bytes_store: Any, client: CountingClient) -> None:
    proxy = CachedProxy(client, store=bytes_store, key_attrs=())
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(60):
                n = (i + offset) % 6
                assert proxy.get(n) == (n, 1)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert 6 <= client.count("get") <= 36  # each key computed once, plus a few cross-thread races
    assert proxy.get.cache_stats()["faults"] == 0
    assert proxy.get.cache_info().hits + proxy.get.cache_info().misses == 360


@pytest.mark.redis
def test_a_miss_asks_redis_once_and_a_hit_once(redis_server: str, client: CountingClient) -> None:
    import redis

    admin = redis.Redis.from_url(redis_server)
    proxy = CachedProxy(client, store=RedisStore(redis_server), key_attrs=(), single_flight="process")
    leased = CachedProxy(client, store=RedisStore(redis_server), key_attrs=(), namespace="tests.leased")

    def calls(command: str) -> int:
        return int(admin.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))

    admin.config_resetstat()
    proxy.get(1)
    assert (calls("get"), calls("set")) == (1, 1)
    proxy.get(1)
    assert (calls("get"), calls("set")) == (2, 1)
    # single_flight="store" (the default): the lease adds SET NX, a look under it (GET), and its
    # release (EVAL of a script whose compare-and-delete counts one more GET).
    admin.config_resetstat()
    leased.get(1)
    assert (calls("get"), calls("set"), calls("eval")) == (3, 2, 1)
    leased.get(1)
    assert (calls("get"), calls("set"), calls("eval")) == (4, 2, 1)


# -- the front cache ----------------------------------------------------------------------


@pytest.mark.redis
def test_front_cache_serves_hot_hits_and_sees_other_writers_after_front_ttl(
    redis_server: str, client: CountingClient
) -> None:
    # Without client tracking (tests/stores/test_tracking.py has it), front_ttl bounds the staleness.
    # front_ttl leaves room for a loaded machine between the first two calls.
    store = RedisStore(redis_server, front_maxsize=16, front_ttl=2.0, tracking=False)
    proxy = CachedProxy(client, store=store, key_attrs=())
    assert proxy.echo("a") == "a"
    (name,) = store.keys(None)
    # Another process rewrites the entry behind this one's back.
    RedisStore(redis_server).set(name, pickle.dumps("written elsewhere"))
    assert proxy.echo("a") == "a"  # the front still has the old value
    time.sleep(2.1)
    assert proxy.echo("a") == "written elsewhere"
    assert client.count("echo") == 1
    assert proxy.echo.cache_info().hits == 2


@pytest.mark.redis
def test_front_entries_go_with_invalidate_and_clear(redis_server: str) -> None:
    store = RedisStore(redis_server, front_maxsize=16, front_ttl=60)
    one, two = CountingClient(), CountingClient()
    a = CachedProxy(one, store=store, key_attrs=())
    b = CachedProxy(two, store=store, key_attrs=())
    a.get(1)
    b.get(1)
    assert (one.count("get"), two.count("get")) == (1, 0)
    assert a.get.cache_invalidate(1) is True
    b.get(1)  # the front is per namespace, so b's front entry went too
    assert two.count("get") == 1
    a.get(1)
    a.get.cache_clear()
    a.get(1)
    assert one.count("get") == 2
    store.clear()
    b.get(1)
    assert two.count("get") == 2


@pytest.mark.redis
def test_front_entries_live_no_longer_than_ttl_and_stay_few(redis_server: str, client: CountingClient) -> None:
    # Without client tracking: its notice of this process's own writes may
    # evict a front entry at any moment, which is not what is counted here.
    store = RedisStore(redis_server, front_maxsize=3, front_ttl=60, tracking=False)
    proxy = CachedProxy(client, store=store, key_attrs=(), ttl=0.1)
    for n in range(10):
        proxy.get(n)
    assert store.front is not None
    (namespace,) = {key.rpartition(":")[0] for key in store.keys(None)}
    assert 0 < len(store.front.table(namespace)) <= 3
    time.sleep(0.2)
    proxy.get(9)
    assert client.count("get") == 11


def test_front_cache_on_disk_too(tmp_path: Path, client: CountingClient) -> None:
    proxy = CachedProxy(client, store=DiskStore(tmp_path, front_maxsize=8), key_attrs=())
    proxy.get(1)
    store_of(proxy.get).close()
    assert proxy.get(1) == (1, 1)
    assert proxy.get.cache_info().hits == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"front_maxsize": -1, "front_ttl": 1}, r"front_maxsize must be a positive int \(0 turns the front"),
        ({"front_maxsize": True}, "front_maxsize must be a positive int"),
        ({"front_maxsize": 8, "front_ttl": 0}, "front_ttl must be positive seconds"),
    ],
)
@pytest.mark.parametrize(
    "make", [lambda path, **kw: DiskStore(path, **kw), lambda path, **kw: RedisStore("redis://127.0.0.1:1/0", **kw)]
)
def test_front_cache_settings_are_checked(tmp_path: Path, make: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(tmp_path, **kwargs)


# -- the stores themselves ------------------------------------------------------------------


def test_disk_size_limit_evicts(tmp_path: Path) -> None:
    store = DiskStore(tmp_path, size_limit=1_000_000)
    for n in range(60):
        store.set(f"ns:{n:040x}", bytes([n]) * 50_000)
    kept = list(store.keys("ns"))
    # diskcache evicts the least recently stored, ten at a time, once over the limit.
    assert 5 <= len(kept) <= 20
    assert f"ns:{59:040x}" in kept
    assert f"ns:{0:040x}" not in kept


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: DiskStore(3), TypeError, "DiskStore path must be a directory path"),
        (lambda: DiskStore("x", size_limit=0), ValueError, "size_limit must be a positive number"),
        (lambda: DiskStore("x", eviction_policy="lru"), ValueError, "eviction_policy must be one of"),
        (lambda: DiskStore("x", retry_after=-1), ValueError, "retry_after must be seconds"),
        (lambda: RedisStore("localhost:6379"), ValueError, "needs a redis://, rediss:// or unix:// URL"),
        (lambda: RedisStore(6379), TypeError, "takes a redis:// URL or a redis.Redis client"),
        (lambda: MemoryStore(maxsize=0), ValueError, "maxsize must be a positive int"),
    ],
)
def test_bad_store_settings_say_what_to_do(build: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        build()


def test_redis_client_must_return_bytes() -> None:
    import redis

    with pytest.raises(ValueError, match="decode_responses=False"):
        RedisStore(redis.Redis(decode_responses=True))


def test_redis_repr_hides_the_password() -> None:
    assert repr(RedisStore("redis://user:hunter2@localhost:6379/0")) == "RedisStore('redis://user:***@localhost:6379/0')"


# -- pickling and copying proxies that use a store ----------------------------------------


def test_pickled_proxy_reopens_the_store_and_carries_no_entries(bytes_store: Any) -> None:
    proxy = CachedProxy(CountingClient(), store=bytes_store, key_attrs=("base",))
    proxy.get(1)
    data = pickle.dumps(proxy)
    assert b"(1, 1)" not in data
    clone = pickle.loads(data)
    assert clone.get(1) == (1, 1)
    assert clone.__wrapped__.count("get") == 1  # the client was pickled after its one call
    assert clone.get.cache_info().hits == 1  # read from the store the clone reopened
    assert copy.deepcopy(proxy).get(1) == (1, 1)
    assert store_of(copy.deepcopy(proxy).get) is bytes_store


def test_proxy_over_a_client_built_redis_store_says_why_it_cannot_pickle() -> None:
    import redis

    proxy = CachedProxy(CountingClient(), store=RedisStore(redis.Redis()), key_attrs=())
    with pytest.raises(TypeError, match="build it from a URL"):
        pickle.dumps(proxy)


# -- a store made per wrapping ------------------------------------------------------------


def _all_freed(refs: list[weakref.ref[Any]], limit: float = 10.0) -> int:
    """How many of *refs* are still alive once they had *limit* seconds to go (a lease is given back late)."""
    deadline = time.monotonic() + limit
    while True:
        gc.collect()
        alive = sum(ref() is not None for ref in refs)
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


@pytest.mark.parametrize("entry", ["CachedProxy", "cache_methods"])
def test_a_store_made_per_wrapping_goes_with_it(tmp_path: Path, entry: str) -> None:
    # A service that wraps a client per request, with a store made there too, must not keep every
    # store (and its open database files) for as long as the process lives.
    refs = []
    for n in range(40):
        store = DiskStore(tmp_path / "disk")
        refs.append(weakref.ref(store))
        if entry == "CachedProxy":
            wrapped = CachedProxy(CountingClient(), store=store, key_attrs=())
        else:
            wrapped = cache_methods(CountingClient(), "get", store=store, key_attrs=())
        assert [wrapped.get(n % 3), wrapped.get(n % 3)] == [(n % 3, 1)] * 2
        del store, wrapped
    assert _all_freed(refs) == 0


@pytest.mark.redis
def test_a_redis_store_made_per_request_closes_its_connections(redis_server: str) -> None:
    import redis

    with redis.Redis.from_url(redis_server) as admin:

        def connected() -> int:
            gc.collect()
            return int(admin.info("clients")["connected_clients"])

        before = connected()
        refs = []
        for n in range(40):
            store = RedisStore(redis_server)
            refs.append(weakref.ref(store))
            proxy = CachedProxy(CountingClient(), store=store, key_attrs=())
            assert proxy.get(n % 3) == (n % 3, 1)
            del store, proxy
        assert _all_freed(refs) == 0
        assert connected() <= before  # 40 more before the stores were let go of
