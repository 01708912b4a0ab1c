"""A process that runs out of Redis connections is no outage: calls wait for one, or go on uncached, never trip.

redis-py 6+ caps a pool at 100 connections and fails the call past it; the
clients a store builds from a URL wait for a free one instead, and a
user-given client's full pool costs that call its cache, not the next ones.
"""

from __future__ import annotations

import asyncio
import threading
import warnings
from typing import Any

import pytest

from proxycache import CachedProxy, RedisStore

pytestmark = pytest.mark.filterwarnings("ignore::proxycache.StoreWarning")  # unsigned pickles: not the point here


class Doubler:
    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()

    def get(self, k: int) -> int:
        with self.lock:
            self.calls += 1
        return k * 2


class AsyncDoubler:
    def __init__(self) -> None:
        self.calls = 0

    async def get(self, k: int) -> int:
        self.calls += 1
        await asyncio.sleep(0.001)
        return k * 2


def faults(func: Any) -> int:
    return int(func.cache_stats()["faults"])


def burst(proxy: Any, threads: int, calls: int, key: Any = lambda n: n) -> list[int]:
    """*threads* threads started at once, each calling ``proxy.get(key(n))`` *calls* times; the n's answered wrongly."""
    start = threading.Barrier(threads)
    wrong: list[int] = []

    def run(n: int) -> None:
        start.wait()
        for _ in range(calls):
            if proxy.get(key(n)) != key(n) * 2:
                wrong.append(n)

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    return wrong


def test_hundreds_of_tasks_on_cached_keys_wait_for_a_connection(redis_server: str) -> None:
    service = AsyncDoubler()
    proxy = CachedProxy(service, store=RedisStore(redis_server, retry_after=60), key_attrs=())

    async def main() -> None:
        for k in range(300):
            await proxy.get(k)
        service.calls = 0
        got = await asyncio.gather(*(proxy.get(k) for k in range(300)))  # three times the pool's 100 connections
        assert got == [k * 2 for k in range(300)]

    asyncio.run(main())
    assert (service.calls, faults(proxy.get)) == (0, 0)


def test_hundreds_of_threads_on_cached_keys_wait_for_a_connection(redis_server: str) -> None:
    service = Doubler()
    proxy = CachedProxy(service, store=RedisStore(redis_server, retry_after=60), key_attrs=())
    for k in range(200):
        proxy.get(k)
    service.calls = 0
    assert burst(proxy, 200, 10) == []
    assert (service.calls, faults(proxy.get)) == (0, 0)


def test_a_full_pool_of_a_given_client_costs_the_call_not_the_store(redis_server: str) -> None:
    import redis

    pool = redis.ConnectionPool.from_url(redis_server, max_connections=2)
    service = Doubler()
    proxy = CachedProxy(service, store=RedisStore(redis.Redis(connection_pool=pool), retry_after=60), key_attrs=())
    for k in range(10):
        proxy.get(k)
    # Both connections taken (a single-connection client holds one from the pool until closed).
    holders = [redis.Redis(connection_pool=pool, single_connection_client=True) for _ in range(2)]
    assert [proxy.get(k) for k in range(10)] == [k * 2 for k in range(10)]
    counted = faults(proxy.get)
    assert (service.calls, counted >= 10) == (20, True)  # uncached, each with its faults (read, lease, write)
    for holder in holders:
        holder.close()
    service.calls = 0
    assert [proxy.get(k) for k in range(10)] == [k * 2 for k in range(10)]
    assert (service.calls, faults(proxy.get)) == (0, counted)  # the store serves again: no breaker opened

    # Under load: 40 threads on 2 connections all get their answers, and the store is still in use after.
    assert burst(proxy, 40, 20, key=lambda n: n % 10) == []
    service.calls = 0
    assert [proxy.get(k) for k in range(10)] == [k * 2 for k in range(10)]
    assert service.calls == 0


def test_a_full_pool_of_a_given_async_client_costs_the_call_not_the_store(redis_server: str) -> None:
    import redis.asyncio

    service = AsyncDoubler()

    async def main() -> None:
        pool = redis.asyncio.ConnectionPool.from_url(redis_server, max_connections=2)
        client = redis.asyncio.Redis(connection_pool=pool)
        proxy = CachedProxy(service, store=RedisStore(client, retry_after=60), key_attrs=())
        for k in range(10):
            await proxy.get(k)
        service.calls = 0
        got = await asyncio.gather(*(proxy.get(k % 10) for k in range(200)))  # 200 tasks, 2 connections
        assert got == [k % 10 * 2 for k in range(200)]
        assert faults(proxy.get) > 0  # some went on uncached
        service.calls = 0
        assert [await proxy.get(k) for k in range(10)] == [k * 2 for k in range(10)]
        assert service.calls == 0  # the store serves again: no breaker opened
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # close() before redis 5.0.1
            await (client.aclose() if hasattr(client, "aclose") else client.close())

    asyncio.run(main())


def test_a_cluster_store_from_a_url_under_a_burst_of_threads(redis_cluster: Any) -> None:
    service = Doubler()
    proxy = CachedProxy(service, store=RedisStore(redis_cluster.url, cluster=True, retry_after=60), key_attrs=())
    for k in range(400):
        proxy.get(k)
    service.calls = 0
    assert burst(proxy, 400, 5) == []
    assert (service.calls, faults(proxy.get)) == (0, 0)
