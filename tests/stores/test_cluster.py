"""RedisStore over a real three-node Redis Cluster: caching, clear and inspect span every node."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from proxycache import CachedProxy, RedisStore, cache_info
from proxycache.__main__ import main

from ..conftest import CountingClient, events
from .conftest import RedisCluster as ThreeNodes
from .conftest import redis_lease_name, redis_name

pytestmark = pytest.mark.redis

NS = "tests.Cluster.get"


def key(n: int, ns: str = NS) -> str:
    return f"{ns}:{n:040x}"


def node_of(client: Any, name: str) -> str:
    return str(client.get_node_from_key(name).name)


def test_a_cluster_client_or_url(redis_cluster: Any) -> None:
    from redis.cluster import RedisCluster

    for store in (RedisStore(RedisCluster.from_url(redis_cluster.url)), RedisStore(redis_cluster.url, cluster=True)):
        assert store.cluster
        store.set(key(1), b"one", ttl=60)
        assert store.get(key(1)) == b"one"
        assert store.delete(key(1)) is True


def test_a_cluster_down_as_the_store_is_built_is_used_once_it_is_up(tmp_path: Path) -> None:
    # Building a cluster's client asks its nodes for their slots. An application that builds its store at
    # import time must start while the cluster is down: its calls go on uncached until the cluster is back.
    cluster = ThreeNodes(str(tmp_path))  # its ports, nothing listening yet
    store = RedisStore(cluster.url, cluster=True, retry_after=0.2)
    assert store.client is None
    client = CountingClient()
    proxy = CachedProxy(client, store=store, key_attrs=())
    assert proxy.get(1) == proxy.get(1) == (1, 1)
    time.sleep(0.25)  # past retry_after: the coroutine method's store call tries the cluster
    with events("fault") as faults:
        assert asyncio.run(proxy.aget(1)) == 1  # redis.asyncio's cluster client cannot reach it either
        assert proxy.get(1) == (1, 1)
    assert [call[0] for call in client.calls] == ["get", "get", "aget", "get"]  # each ran: nothing was stored
    # No node answered (RedisClusterException, no ConnectionError): the store is left alone for retry_after,
    # so the coroutine's write right after its read is not tried (the later sync call may come past it).
    # (redis-py 8.2+ raises its subclass RedisClusterUnreachableError.)
    first, second, *_ = [event.detail["error"] for event in faults]
    assert isinstance(first, redis.exceptions.RedisClusterException)
    assert type(second).__name__ == "StoreUnavailable"
    try:
        cluster.start()
        time.sleep(0.25)  # past retry_after: the next call builds the client
        assert proxy.get(2) == proxy.get(2) == (2, 1)
        assert len(client.calls) == 5  # one miss, then a hit from the cluster
        assert store.client is not None
        assert len(list(store.keys())) == 1
    finally:
        cluster.stop()


def test_a_namespace_spreads_over_the_nodes_and_clear_spans_them(redis_cluster: Any) -> None:
    store = RedisStore(redis_cluster.url, cluster=True)
    names = [key(n) for n in range(60)]
    for name in names:
        store.set(name, b"x")
    store.set(key(1, "tests.Other.get"), b"y")
    assert all(store.client.exists(redis_name(store, name)) for name in names)  # the documented layout
    nodes = {node_of(store.client, redis_name(store, name)) for name in names}
    assert len(nodes) == 3  # no hash tag per namespace: one method's entries use every node
    assert sorted(store.keys(NS)) == sorted(names)
    assert len(dict(store.scan())) == 61
    assert store.clear(NS) == 60
    assert list(store.keys()) == [key(1, "tests.Other.get")]


def test_a_lease_shares_its_entrys_slot(redis_cluster: Any) -> None:
    from redis.cluster import RedisCluster

    store = RedisStore(redis_cluster.url, cluster=True)
    client: RedisCluster = store.client
    for n in range(20):
        entry, lease = redis_name(store, key(n)), redis_lease_name(store, key(n))
        assert client.keyslot(entry) == client.keyslot(lease)
    token = store.acquire_lease(key(1), 30)
    assert token is not None
    assert client.exists(redis_lease_name(store, key(1)))  # the documented layout
    assert store.release_lease(key(1), token) is True


def test_caching_through_a_cluster(redis_cluster: Any) -> None:
    client = CountingClient()
    store = RedisStore(redis_cluster.url, cluster=True)
    proxy = CachedProxy(client, store=store, key_attrs=())
    for n in range(30):
        proxy.get(n)
    other = CachedProxy(CountingClient(), store=RedisStore(redis_cluster.url, cluster=True), key_attrs=())
    assert [other.get(n) for n in range(30)] == [(n, 1) for n in range(30)]
    assert other.__wrapped__.count("get") == 0
    assert cache_info(other)["get"].currsize == 30  # counted over every node
    other.get.cache_clear()
    proxy.get(1)
    assert client.count("get") == 31


def test_an_async_cluster_client(redis_cluster: Any) -> None:
    from redis.asyncio.cluster import RedisCluster as AsyncCluster

    async def main() -> None:
        store = RedisStore(AsyncCluster.from_url(redis_cluster.url))
        assert store.cluster
        for n in range(30):
            await store.aset(key(n), b"v")
        assert await store.aget(key(3)) == b"v"
        token = await store.aacquire_lease(key(3), 30)
        assert token is not None
        assert await store.aacquire_lease(key(3), 30) is None
        assert await store.arelease_lease(key(3), token) is True
        assert await store.aclear(NS) == 30

    asyncio.run(main())


def test_a_cluster_store_from_a_url_in_coroutines(redis_cluster: Any) -> None:
    store = RedisStore(redis_cluster.url, cluster=True)
    asyncio.run(store.aset(key(1), b"async"))
    assert store.get(key(1)) == b"async"
    assert asyncio.run(store.aclear()) == 1


def test_inspect_and_clear_find_a_cluster_by_its_url(redis_cluster: Any, capsys: pytest.CaptureFixture[str]) -> None:
    store = RedisStore(redis_cluster.url, cluster=True)
    for n in range(12):
        store.set(key(n), b"12345")
    assert main(["inspect", redis_cluster.url]) == 0
    out = capsys.readouterr().out
    assert "cluster=True" in out
    (row,) = [line.split() for line in out.splitlines() if line.startswith(NS)]
    assert row[1:] == ["12", "60", "B"]
    assert main(["clear", redis_cluster.url]) == 0
    assert "removed 12 entries" in capsys.readouterr().out
    assert list(store.keys()) == []


def _read_in_a_child(store: Any, names: list[str], out: Any) -> None:
    out.put([store.get(name) for name in names])


def test_a_pickled_cluster_store_reads_the_same_entries_in_another_process(redis_cluster: Any) -> None:
    import multiprocessing
    import pickle

    store = RedisStore(redis_cluster.url, cluster=True, prefix="xproc:")
    names = [key(n) for n in range(10)]
    for name in names:
        store.set(name, name.encode())
    copy = pickle.loads(pickle.dumps(store))
    assert copy.cluster
    assert copy.prefix == "xproc:"
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    child = ctx.Process(target=_read_in_a_child, args=(store, names, out))
    child.start()
    try:
        assert out.get(timeout=60) == [name.encode() for name in names]
    finally:
        child.join(30)
    assert child.exitcode == 0
