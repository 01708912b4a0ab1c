"""``streams="replay"``: one-shot results recorded as they are consumed and replayed to later callers.

Through all four entry points: generator and async-generator methods, plain
methods returning an iterator, coroutines returning an async iterator. A
stream read to its end is stored; a partial read or an error stores nothing;
callers arriving while it is recorded wait, then replay; shared stores keep
the items through their serializer, readable in another process.
"""

from __future__ import annotations

import asyncio
import inspect
import multiprocessing
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from proxycache import CachedProxy, CachingMixin, DiskStore, add_listener, cache_info, cache_methods, cached_method

from .stores.conftest import _cluster_session, _redis_session, redis_cluster, redis_server  # noqa: F401
from .test_single_flight import Runner, parked_in_proxycache, wait_until
from .ticker import Ticker

ENTRY_POINTS = ("proxy", "inplace", "mixin", "decorator")
entry_points = pytest.mark.parametrize("kind", ENTRY_POINTS)


class Feed:
    def __init__(self) -> None:
        self.calls = 0
        self.gate: threading.Event | None = None

    def rows(self, n: int) -> Iterator[str]:
        """A generator method."""
        self.calls += 1
        for i in range(n):
            if self.gate is not None and i == 1:
                assert self.gate.wait(10)
            yield f"row {i}"

    async def arows(self, n: int) -> AsyncIterator[str]:
        """An async generator method."""
        self.calls += 1
        for i in range(n):
            await asyncio.sleep(0)
            yield f"row {i}"

    def listed(self, n: int) -> Iterator[str]:
        """A plain method returning an iterator."""
        self.calls += 1
        return iter([f"row {i}" for i in range(n)])

    async def opened(self, n: int) -> AsyncIterator[str]:
        """A coroutine whose result is an async iterator (as AsyncOpenAI's create(stream=True))."""
        self.calls += 1
        return _arows(n)

    def failing(self, n: int) -> Iterator[str]:
        self.calls += 1
        yield "row 0"
        if n:
            raise ConnectionError("the stream broke")


async def _arows(n: int) -> AsyncIterator[str]:
    for i in range(n):
        await asyncio.sleep(0)
        yield f"row {i}"


def make(kind: str, **options: Any) -> Any:
    options.setdefault("streams", "replay")
    if kind == "proxy":
        return CachedProxy(Feed(), **options)
    if kind == "inplace":
        return cache_methods(Feed(), "rows", "arows", "listed", "opened", "failing", **options)
    if kind == "mixin":
        return type("MixedFeed", (CachingMixin, Feed), {}, **options)()
    decorate = cached_method(**options)
    body = {name: decorate(f) for name, f in vars(Feed).items() if inspect.isfunction(f) and name[0] != "_"}
    return type("DecoratedFeed", (Feed,), body)()


def calls(obj: Any) -> int:
    return int(obj.calls)


async def alist(stream: Any) -> list[Any]:
    return [item async for item in stream]


@entry_points
@pytest.mark.parametrize("method", ["rows", "listed"])
def test_a_stream_read_to_its_end_is_replayed(kind: str, method: str) -> None:
    feed = make(kind)
    first = getattr(feed, method)(3)
    assert list(first) == ["row 0", "row 1", "row 2"]
    second = getattr(feed, method)(3)
    third = getattr(feed, method)(3)
    assert second is not third
    assert next(second) == "row 0"
    assert list(second) == ["row 1", "row 2"]
    with third as stream:
        assert list(stream) == ["row 0", "row 1", "row 2"]
    assert calls(feed) == 1
    info = getattr(feed, method).cache_info()
    assert (info.hits, info.misses, info.currsize) == (2, 1, 1)
    assert list(getattr(feed, method)(2)) == ["row 0", "row 1"]
    assert calls(feed) == 2  # other arguments: another entry


@entry_points
@pytest.mark.parametrize("method", ["arows", "opened"])
def test_an_async_stream_read_to_its_end_is_replayed(kind: str, method: str) -> None:
    feed = make(kind)

    async def main() -> list[list[str]]:
        got = []
        for _ in range(3):
            stream = getattr(feed, method)(2)
            if inspect.isawaitable(stream):
                stream = await stream
            async with stream as s:
                got.append(await alist(s))
        return got

    assert asyncio.run(main()) == [["row 0", "row 1"]] * 3
    assert calls(feed) == 1


@entry_points
@pytest.mark.parametrize("how", ["break", "close", "with", "drop", "error"])
def test_a_partial_read_or_an_error_stores_nothing(kind: str, how: str) -> None:
    feed = make(kind)
    if how == "error":
        with pytest.raises(ConnectionError):
            list(feed.failing(1))
        assert list(feed.failing(0)) == ["row 0"]
        assert list(feed.failing(0)) == ["row 0"]
        assert calls(feed) == 2
        return
    stream = feed.rows(3)
    if how == "break":
        for _ in stream:
            break
    elif how == "close":
        next(stream)
        stream.close()
    elif how == "with":
        with stream:
            next(stream)
    else:
        next(stream)  # then dropped
    del stream
    assert list(feed.rows(3)) == ["row 0", "row 1", "row 2"]
    assert calls(feed) == 2
    assert list(feed.rows(3)) == ["row 0", "row 1", "row 2"]
    assert calls(feed) == 2


def test_skip_is_the_default_and_leaves_streams_uncached() -> None:
    feed = CachedProxy(Feed(), include=["listed"])
    assert list(feed.listed(2)) == list(feed.listed(2))
    assert calls(feed) == 2
    assert feed.listed.cache_stats()["uncached"] == 2


def test_bad_streams_values_fail_at_wrap_time(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"streams must be 'skip'.*or 'replay'"):
        CachedProxy(Feed(), streams="record")
    with pytest.raises(TypeError, match=r"streams='replay'.*JSON"):
        cache_methods(Feed(), "rows", streams="replay", store=DiskStore(tmp_path), key_attrs=(), serializer="json")
    assert CachedProxy(Feed(), streams="replay").listed.cache_parameters()["streams"] == "replay"


def test_callers_arriving_during_the_recording_wait_then_replay() -> None:
    feed = make("proxy")
    gate = feed.gate = threading.Event()
    runner = Runner()
    runner.start([lambda: list(feed.rows(3))])
    wait_until(lambda: feed.calls == 1, "the leader's stream started")
    runner.start([lambda: list(feed.rows(3)) for _ in range(4)])
    wait_until(lambda: all(parked_in_proxycache(t) for t in runner.threads[1:]), "the others wait")
    gate.set()
    outcomes = runner.join()
    assert outcomes == [(True, ["row 0", "row 1", "row 2"])] * 5
    assert calls(feed) == 1
    assert cache_info(feed)["rows"].hits == 4


def test_an_abandoned_recording_releases_the_waiters() -> None:
    feed = make("proxy")
    gate = feed.gate = threading.Event()
    taken = threading.Event()
    runner = Runner()

    def partial() -> list[str]:
        stream = feed.rows(3)
        first = next(stream)
        taken.set()
        assert gate.wait(10)
        stream.close()  # the leader stops early: nothing is stored
        return [first]

    runner.start([partial])
    assert taken.wait(10)
    runner.start([lambda: list(feed.rows(3))])
    wait_until(lambda: parked_in_proxycache(runner.threads[1]), "the second caller waits")
    gate.set()
    assert runner.join() == [(True, ["row 0"]), (True, ["row 0", "row 1", "row 2"])]
    assert calls(feed) == 2  # the waiter computed for itself


def test_tasks_arriving_during_the_recording_wait_then_replay() -> None:
    feed = make("proxy")

    async def main() -> list[list[str]]:
        leader = feed.arows(3)
        first = await leader.__anext__()
        others = [asyncio.ensure_future(alist(feed.arows(3))) for _ in range(3)]
        await asyncio.sleep(0.01)
        assert not any(o.done() for o in others)
        rest = await alist(leader)
        return [[first, *rest], *await asyncio.gather(*others)]

    assert asyncio.run(main()) == [["row 0", "row 1", "row 2"]] * 4
    assert calls(feed) == 1


def _read_back(path: str, out: Any) -> None:
    feed = CachedProxy(Feed(), store=DiskStore(path), key_attrs=(), streams="replay", namespace="feed.rows")
    out.put((list(feed.rows(3)), feed.calls))


def test_a_recording_in_a_disk_store_replays_in_another_process(tmp_path: Path) -> None:
    feed = CachedProxy(Feed(), store=DiskStore(tmp_path), key_attrs=(), streams="replay", namespace="feed.rows")
    assert list(feed.rows(3)) == ["row 0", "row 1", "row 2"]
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_read_back, args=(str(tmp_path), out))
    proc.start()
    try:
        assert out.get(timeout=60) == (["row 0", "row 1", "row 2"], 0)
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.kill()


@pytest.mark.parametrize("where", ["server", "cluster"])
def test_a_recording_in_redis_is_shared(where: str, request: pytest.FixtureRequest) -> None:
    from proxycache import RedisStore

    def fresh() -> Any:
        if where == "server":
            store = RedisStore(request.getfixturevalue("redis_server"))
        else:
            store = RedisStore(request.getfixturevalue("redis_cluster").url, cluster=True)
        return CachedProxy(Feed(), store=store, key_attrs=(), streams="replay", namespace="feed.a")

    one, two = fresh(), fresh()

    async def main() -> list[list[str]]:
        return [await alist(one.arows(2)), await alist(two.arows(2))]

    assert asyncio.run(main()) == [["row 0", "row 1"]] * 2
    assert (one.calls, two.calls) == (1, 0)


def test_refresh_records_a_fresh_stream_and_invalidate_drops_it() -> None:
    feed = make("proxy")
    assert list(feed.rows(2)) == ["row 0", "row 1"]
    fresh = feed.rows.cache_refresh(2)
    assert list(fresh) == ["row 0", "row 1"]  # read live (a second call), then stored
    assert calls(feed) == 2
    assert list(feed.rows(2)) == ["row 0", "row 1"]
    assert calls(feed) == 2
    assert feed.rows.cache_invalidate(2) is True
    assert list(feed.rows(2)) == ["row 0", "row 1"]
    assert calls(feed) == 3


def test_an_async_generator_method_called_from_two_threads_records_once() -> None:
    feed = make("proxy")
    started, release = threading.Event(), threading.Event()

    async def leader() -> list[str]:
        stream = feed.arows(3)
        first = await stream.__anext__()
        started.set()
        while not release.is_set():
            await asyncio.sleep(0.001)
        return [first, *await alist(stream)]

    def other() -> list[str]:
        assert started.wait(10)
        stream = feed.arows(3)  # returns at once: the waiting happens in this thread's loop
        release.set()
        return asyncio.run(alist(stream))

    runner = Runner()
    runner.start([lambda: asyncio.run(leader()), other])
    assert runner.join() == [(True, ["row 0", "row 1", "row 2"])] * 2
    assert calls(feed) == 1


class SlowDisk(DiskStore):
    """A DiskStore whose writes take a while and note the thread they ran in."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.writers: list[int] = []

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        self.writers.append(threading.get_ident())
        threading.Event().wait(0.3)
        super().set(key, value, ttl)


@pytest.mark.parametrize(("method", "cache_refresh"), [("arows", False), ("opened", False), ("rows", False),
                                                         ("arows", True)])
def test_a_stream_ending_on_an_event_loop_is_stored_without_blocking_it(
    tmp_path: Path, method: str, cache_refresh: bool
) -> None:
    store = SlowDisk(tmp_path)
    feed = CachedProxy(Feed(), store=store, key_attrs=(), streams="replay")
    cached = getattr(feed, method)

    async def main() -> tuple[list[str], int, int]:
        async with Ticker() as ticker:
            called = cached.cache_refresh(2) if cache_refresh else cached(2)
            stream = await called if inspect.isawaitable(called) else called
            items = [item async for item in stream] if hasattr(stream, "__aiter__") else list(stream)
            ended = ticker.ticks
            if not cache_refresh and method != "rows":
                # A call right after, while the write goes on, awaits it and replays. (A sync method's call
                # on the loop's thread would block it while it waits, as any sync call does.)
                again = cached(2)
                again = await again if inspect.isawaitable(again) else again
                assert ([item async for item in again] if hasattr(again, "__aiter__") else list(again)) == items
                assert feed.calls == 1
            while not cache_info(feed)[method].currsize:  # the write goes on as a task of this loop
                await asyncio.sleep(0.01)
        return items, ended, ticker.ticks

    items, ended, after = asyncio.run(main())
    assert items == ["row 0", "row 1"]
    assert store.writers
    assert threading.get_ident() not in store.writers  # never on the loop's thread
    assert after - ended >= 10  # the loop ticked on through the 0.3 s write
    again = CachedProxy(Feed(), store=store, key_attrs=(), streams="replay")
    replay = getattr(again, method)(2)

    async def read(stream: Any) -> list[str]:
        stream = await stream if inspect.isawaitable(stream) else stream
        return [item async for item in stream] if hasattr(stream, "__aiter__") else list(stream)

    assert asyncio.run(read(replay)) == ["row 0", "row 1"]
    assert again.calls == 0  # the recording landed in the store


class GatedDisk(DiskStore):
    """A DiskStore whose writes wait until the test opens the gate."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = threading.Event()

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        assert self.gate.wait(10)
        super().set(key, value, ttl)


def test_a_streams_lease_is_given_back_when_its_write_ends_after_the_loop(tmp_path: Path) -> None:
    store = GatedDisk(tmp_path)
    feed = CachedProxy(Feed(), store=store, key_attrs=(), streams="replay", single_flight="store")
    faults: list[Any] = []
    remove = add_listener(lambda event: faults.append(event) if event.kind == "fault" else None)

    async def main() -> list[str]:
        stream = await feed.opened(2)
        return [item async for item in stream]

    try:
        assert asyncio.run(main()) == ["row 0", "row 1"]
        writers = [thread for thread in threading.enumerate() if thread.name.startswith("proxycache store")]
        assert writers  # the loop is closed, and the write waits
        store.gate.set()
        for thread in writers:
            thread.join(10)
    finally:
        store.gate.set()
        remove()
    assert faults == []
    (name,) = store.keys(None)  # the recording's key, and its lease's name
    assert store.acquire_lease(name, 30) is not None  # given back: another process need not wait for it to lapse
