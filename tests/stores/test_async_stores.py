"""Coroutine store calls never block the event loop: redis.asyncio, or a worker thread."""

from __future__ import annotations

import asyncio
import gc
import inspect
import os
import signal
import threading
import warnings
import weakref
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest

from proxycache import MISS, CachedProxy, DiskStore, RedisStore, cache_of

from ..ticker import Ticker

NS = "tests.Async.get"


def key(n: int, ns: str = NS) -> str:
    return f"{ns}:{n:040x}"


def test_async_calls_match_the_sync_ones(any_store: Any) -> None:
    async def main() -> None:
        assert await any_store.aget(key(1)) is MISS
        await any_store.aset(key(1), b"one")
        await any_store.aset(key(2), b"two", ttl=60)
        await any_store.aset(key(3, "tests.Other.get"), b"three")
        assert await any_store.aget(key(1)) == b"one"
        assert any_store.get(key(2)) == b"two"  # the same entries as the sync calls
        assert await any_store.adelete(key(1)) is True
        assert await any_store.adelete(key(1)) is False
        assert await any_store.aclear(NS) == 1
        assert list(any_store.keys()) == [key(3, "tests.Other.get")]
        assert await any_store.aclear() == 1

    # Every built-in store has the coroutine calls a coroutine method awaits.
    assert all(inspect.iscoroutinefunction(getattr(any_store, n)) for n in ("aget", "aset", "adelete", "aclear"))
    asyncio.run(main())


async def _awaited(call: Awaitable[Any], limit: float) -> tuple[BaseException | None, Any]:
    """Await *call*, bounded by *limit*: what it raised, or what it returned."""
    try:
        return None, await asyncio.wait_for(call, limit)
    except BaseException as caught:
        return caught, None


async def _while_ticking(call: Awaitable[Any], limit: float = 10.0) -> tuple[BaseException | None, int]:
    """Await *call* (bounded by *limit*) while the loop ticks; what it raised, and how often the loop ticked."""
    async with Ticker(0.005) as ticker:
        error, _ = await _awaited(call, limit)
    return error, ticker.ticks


@pytest.mark.redis
@pytest.mark.parametrize("client", ["url", "sync-client-in-a-thread", "async-client"])
def test_a_stopped_redis_never_blocks_the_loop(redis_process: Any, client: str) -> None:
    import redis
    import redis.asyncio

    if client == "url":
        store = RedisStore(redis_process.url)
    elif client == "sync-client-in-a-thread":
        store = RedisStore(redis.Redis.from_url(redis_process.url, socket_timeout=0.5))
    else:
        store = RedisStore(redis.asyncio.Redis.from_url(redis_process.url, socket_timeout=0.5))
    assert redis_process.process is not None
    pid = redis_process.process.pid

    async def main() -> tuple[BaseException | None, int]:
        # One loop throughout: a redis.asyncio client belongs to the loop that opened its connections.
        await store.aset(key(1), b"before")
        assert await store.aget(key(1)) == b"before"
        os.kill(pid, signal.SIGSTOP)
        try:
            return await _while_ticking(store.aget(key(1)))
        finally:
            os.kill(pid, signal.SIGCONT)

    error, ticks = asyncio.run(main())
    # The call failed (the cached method counts a fault and runs the method) instead of hanging...
    assert isinstance(error, (redis.TimeoutError, redis.ConnectionError)), repr(error)
    # ...and the loop kept running all the while.
    assert ticks >= 10


def test_a_busy_disk_store_never_blocks_the_loop(tmp_path: Path) -> None:
    import diskcache

    store = DiskStore(tmp_path / "disk", timeout=0.3)
    asyncio.run(store.aset(key(1), b"before"))
    holder = diskcache.Cache(store.path)
    holding = threading.Event()
    done = threading.Event()

    def hold() -> None:
        with holder.transact():  # another writer holds the database
            holding.set()
            done.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(10)
        error, ticks = asyncio.run(_while_ticking(store.aset(key(1), b"after")))
    finally:
        done.set()
        thread.join(10)
        holder.close()
    assert isinstance(error, diskcache.Timeout), repr(error)
    assert ticks >= 10
    assert store.get(key(1)) == b"before"


async def _aclose(client: Any) -> None:
    await (client.aclose() if hasattr(client, "aclose") else client.close())  # close() before redis 5.0.1


@pytest.mark.redis
def test_an_async_client_alone_serves_coroutines_only(redis_server: str) -> None:
    import redis.asyncio

    store = RedisStore(redis.asyncio.Redis.from_url(redis_server))

    async def main() -> None:
        await store.aset(key(1), b"v")
        await _aclose(store.async_client)  # the caller's client: the caller closes it

    asyncio.run(main())
    with pytest.raises(TypeError, match="has only an async client, so it serves coroutine methods only"):
        store.get(key(1))


@pytest.mark.redis
def test_a_sync_and_an_async_client_together(redis_server: str) -> None:
    import redis
    import redis.asyncio

    store = RedisStore(redis.Redis.from_url(redis_server), async_client=redis.asyncio.Redis.from_url(redis_server))
    store.set(key(1), b"sync")

    async def main() -> None:
        assert await store.aget(key(1)) == b"sync"
        await _aclose(store.async_client)  # the caller's client: the caller closes it

    asyncio.run(main())


@pytest.mark.redis
def test_a_store_from_a_url_serves_one_event_loop_after_another(redis_server: str) -> None:
    store = RedisStore(redis_server)
    for n in range(3):  # each asyncio.run is a new loop; connections never cross loops
        asyncio.run(store.aset(key(n), b"x"))
        assert asyncio.run(store.aget(key(n))) == b"x"


def _connections(urls: list[str]) -> int:
    """Clients connected to the servers at *urls*, besides the one that asks."""
    import redis

    gc.collect()  # what other tests dropped goes first
    total = 0
    for url in urls:
        with redis.Redis.from_url(url) as asker:
            total += int(asker.info("clients")["connected_clients"]) - 1
    return total


def _url_store(kind: str, request: pytest.FixtureRequest) -> tuple[RedisStore, list[str]]:
    """A store built from a URL, and the URLs of the servers it talks to."""
    if kind == "redis":
        url = request.getfixturevalue("redis_server")
        return RedisStore(url), [url]
    cluster = request.getfixturevalue("redis_cluster")
    return RedisStore(cluster.url, cluster=True), [node.url for node in cluster.nodes]


@pytest.mark.redis
@pytest.mark.parametrize("kind", ["redis", "cluster"])
def test_each_asyncio_run_closes_the_client_it_opened(kind: str, request: pytest.FixtureRequest) -> None:
    # A worker that runs asyncio.run() per job: each job's loop gets a client, closed as the loop shuts
    # down. Kept, each would hold a connection and the loop for the life of the store.
    store, urls = _url_store(kind, request)
    store.set(key(0), b"sync")  # the sync client's connections are open before counting
    before = _connections(urls)
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def job(n: int) -> None:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        await store.aset(key(n), b"x")
        assert await store.aget(key(n)) == b"x"

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n in range(1, 9):
            asyncio.run(job(n))
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []  # closed, not dropped
    assert [ref() for ref in loops] == [None] * 8  # no loop kept by the store
    assert _connections(urls) == before
    assert store.get(key(8)) == b"x"


@pytest.mark.redis
def test_threads_that_each_run_loops_close_every_client(redis_server: str) -> None:
    store = RedisStore(redis_server)
    store.set(key(0), b"sync")
    before = _connections([redis_server])
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def job(n: int) -> None:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        await store.aset(key(n), b"x")
        await asyncio.sleep(0.001)  # the other threads' loops open and close clients meanwhile
        assert await store.aget(key(n)) == b"x"

    def worker(first: int) -> None:
        for n in range(first, first + 5):
            asyncio.run(job(n))

    threads = [threading.Thread(target=worker, args=(10 * t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    gc.collect()
    assert len(loops) == 20
    assert [ref() for ref in loops] == [None] * 20
    assert _connections([redis_server]) == before


@pytest.mark.redis
def test_a_loop_closed_without_shutting_down_lets_go_of_its_client(redis_server: str) -> None:
    # loop.close() alone does not close async generators: the client is let go of when the next loop opens one.
    store = RedisStore(redis_server)
    loops = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # the sockets of clients let go of, closed by the collector
        for n in range(3):
            loop = asyncio.new_event_loop()
            loops.append(weakref.ref(loop))
            loop.run_until_complete(store.aset(key(n), b"x"))
            loop.close()
            del loop
        gc.collect()
        assert [ref() is None for ref in loops] == [True, True, False]
        assert asyncio.run(store.aget(key(0))) == b"x"
        gc.collect()
    assert loops[2]() is None


@pytest.mark.redis
def test_a_store_dropped_while_its_loop_runs_closes_its_client(redis_server: str) -> None:
    before = _connections([redis_server])

    async def main() -> None:
        store = RedisStore(redis_server)
        await store.aset(key(1), b"x")
        assert _connections([redis_server]) == before + 1
        del store
        for _ in range(20):  # the loop closes the client (its closer's finalizer asks it to)
            await asyncio.sleep(0.01)
        assert _connections([redis_server]) == before

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(main())
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


@pytest.mark.redis
def test_a_first_call_while_the_loop_shuts_down_uses_the_sync_client(redis_server: str) -> None:
    # An async generator's cleanup, run by asyncio.run's shutdown_asyncgens(), caches a call: nothing would
    # close a client opened then, so the store's sync client serves it, in a thread.
    store = RedisStore(redis_server)
    before = _connections([redis_server])
    kept = []

    async def main() -> None:
        async def cleans_up_last() -> Any:
            try:
                yield
            finally:
                await store.aset(key(1), b"late")

        kept.append(cleans_up_last())
        await kept[0].__anext__()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(main())
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert store.get(key(1)) == b"late"
    assert _connections([redis_server]) == before + 1  # the sync client's one connection, for the life of the store


@pytest.mark.redis
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda r: RedisStore(async_client=r.Redis()), "takes a redis.asyncio.Redis"),
        (lambda r: RedisStore(r.asyncio.Redis(), async_client=r.asyncio.Redis()), "not two async ones"),
        (lambda r: RedisStore(r.asyncio.Redis(decode_responses=True)), "decode_responses=False"),
        (lambda r: RedisStore(), "needs a redis:// URL or a redis client"),
    ],
)
def test_bad_client_combinations_say_what_to_pass(make: Any, message: str) -> None:
    import redis
    import redis.asyncio

    with pytest.raises((TypeError, ValueError), match=message):
        make(redis)


class Quotes:
    """A coroutine method that fails on demand; ``ticks_at_failure`` notes the ticker's count when it raised."""

    def __init__(self) -> None:
        self.down = False
        self.ticks: Any = None
        self.ticks_at_failure: int | None = None

    async def aquote(self, symbol: str) -> str:
        if self.down:
            self.ticks_at_failure = self.ticks()
            raise ConnectionError("quotes service down")
        return f"{symbol} 100"


@pytest.mark.redis
def test_stale_if_error_reads_a_stopped_redis_without_blocking_the_loop(redis_process: Any) -> None:
    # retry_after=0: no breaker, every store call waits out its socket_timeout (0.5 s, retried once).
    store = RedisStore(redis_process.url, socket_timeout=0.5, retry_after=0)
    service = Quotes()
    quotes = CachedProxy(service, store=store, key_attrs=(), ttl=0.1, stale_if_error=60)
    assert redis_process.process is not None
    pid = redis_process.process.pid

    async def main() -> tuple[BaseException | None, int]:
        assert await quotes.aquote("ACME") == "ACME 100"
        await asyncio.sleep(0.15)  # expired, within its stale window
        os.kill(pid, signal.SIGSTOP)
        try:
            async with Ticker(0.005) as ticker:
                service.down, service.ticks = True, lambda: ticker.ticks
                error, _ = await _awaited(quotes.aquote("ACME"), 30)
                return error, ticker.ticks
        finally:
            os.kill(pid, signal.SIGCONT)

    error, ticks_at_end = asyncio.run(main())
    # The call ended (not by wait_for's timeout) with the method's own error: a stopped server cannot
    # give the stale entry, so it is as without stale_if_error.
    assert isinstance(error, ConnectionError), repr(error)
    assert str(error) == "quotes service down"
    assert service.ticks_at_failure is not None
    # After the method raised, the call looked for the stale entry (a read that waits out its
    # socket timeout): the loop kept running all the while.
    assert ticks_at_end - service.ticks_at_failure >= 10
    assert cache_of(quotes.aquote).cache_stats()["faults"] >= 1
