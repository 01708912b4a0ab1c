"""Listeners (``add_listener``): an event per hit, miss, stale serve, refresh, wait, store fault and uncached result.

Each kind is produced through the public API, on every entry point where the
event does not depend on one; ``detail`` carries what a user's metrics need.
A listener never fails the call, and removing it stops the events.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from proxycache import CachedProxy, CachingMixin, DiskStore, Event, add_listener, cache_methods, cache_of, cached_method
from proxycache.testing import FakeClock, reset, use_clock

from .conftest import CountingClient


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    reset()  # no listener of another test, the real clock
    yield
    reset()


@pytest.fixture
def events() -> Iterator[list[Event]]:
    seen: list[Event] = []
    remove = add_listener(seen.append)
    yield seen
    remove()


def kinds(events: list[Event], *wanted: str) -> list[str]:
    return [e.kind for e in events if not wanted or e.kind in wanted]


class Service:
    def __init__(self) -> None:
        self.calls = 0
        self.down = False
        self.gate: threading.Event | None = None

    def get(self, x: Any) -> Any:
        self.calls += 1
        if self.gate is not None:
            self.gate.wait(30)
        if self.down:
            raise ConnectionError("service down")
        return [x, self.calls]

    async def aget(self, x: Any) -> Any:
        self.calls += 1
        await asyncio.sleep(0)
        return [x, self.calls]


class Mixed(CachingMixin, Service):
    pass


WAYS = ("proxy", "inplace", "mixin", "decorator")


def build(way: str, **options: Any) -> Any:
    if way == "proxy":
        return CachedProxy(Service(), **options)
    if way == "inplace":
        return cache_methods(Service(), "get", "aget", **options)
    if way == "mixin":

        class M(Mixed, **options):  # type: ignore[call-arg]
            pass

        return M()
    if way == "decorator":

        class D(Service):
            @cached_method(**options)
            def get(self, x: Any) -> Any:
                return Service.get(self, x)

            @cached_method(**options)
            async def aget(self, x: Any) -> Any:
                return await Service.aget(self, x)

        return D()
    raise ValueError(way)


# -- hit and miss ------------------------------------------------------------------------------


@pytest.mark.parametrize("way", WAYS)
def test_a_miss_then_hits_through_every_entry_point(way: str, events: list[Event]) -> None:
    obj = build(way)
    obj.get(1)
    obj.get(1)
    obj.get(x=1)
    assert kinds(events) == ["miss", "hit", "hit"]
    assert {e.method for e in events} == {obj.get.__qualname__}  # the method's name, as logs give it
    assert events[0].detail is None
    assert [e.detail["value"] for e in events[1:]] == [[1, 1], [1, 1]]
    assert cache_of(obj.get).cache_info()[:2] == (2, 1)  # the events match the counters


@pytest.mark.parametrize("way", WAYS)
def test_coroutine_methods_emit_the_same_events(way: str, events: list[Event]) -> None:
    obj = build(way)

    async def main() -> None:
        await obj.aget(1)
        await obj.aget(1)

    asyncio.run(main())
    assert kinds(events) == ["miss", "hit"]
    assert events[1].detail["value"] == [1, 1]


def test_a_hit_event_carries_the_stored_result_and_the_time_it_saved(
    client: CountingClient, events: list[Event]
) -> None:
    # What a listener needs to count what the cache saved (tokens, money): the answer itself.
    proxy = CachedProxy(client, cache_exceptions=ValueError)
    proxy.get(7)
    proxy.get(7)
    with pytest.raises(ValueError):
        proxy.fail("x")
    with pytest.raises(ValueError):
        proxy.fail("x")
    hits = [e for e in events if e.kind == "hit"]
    assert [e.detail.get("value") for e in hits] == [(7, 1), None]
    assert isinstance(hits[1].detail["error"], ValueError)
    assert all(e.detail["saved_seconds"] >= 0 for e in hits)


def test_hits_from_a_shared_store_are_events_too(tmp_path: Path, events: list[Event]) -> None:
    store = DiskStore(tmp_path)
    CachedProxy(Service(), store=store, key_attrs=()).get(1)
    other = Service()
    assert CachedProxy(other, store=store, key_attrs=()).get(1) == [1, 1]  # another instance, one entry
    assert other.calls == 0
    assert kinds(events) == ["miss", "hit"]
    assert events[1].detail["value"] == [1, 1]


def test_bypassed_calls_are_not_events(events: list[Event]) -> None:
    from proxycache import bypass

    proxy = CachedProxy(Service())
    with bypass():
        proxy.get(1)
    assert events == []


# -- stale and refresh --------------------------------------------------------------------------


def test_an_expired_entry_served_on_error_is_a_stale_event(events: list[Event]) -> None:
    with use_clock() as clock:
        service = Service()
        proxy = CachedProxy(service, ttl=10, stale_if_error=60)
        proxy.get(1)
        clock.advance(15)
        service.down = True
        assert proxy.get(1) == [1, 1]  # the stale value, instead of the error
    stale = [e for e in events if e.kind == "stale"]
    assert len(stale) == 1
    assert stale[0].method == "Service.get"
    assert stale[0].detail["reason"] == "error"
    assert stale[0].detail["age"] == pytest.approx(5)
    assert cache_of(proxy.get).cache_stats()["stale"] == 1


def test_revalidation_is_a_stale_event_then_a_refresh_event(events: list[Event]) -> None:
    with use_clock() as clock:
        service = Service()
        proxy = CachedProxy(service, ttl=10, stale_while_revalidate=60)
        proxy.get(1)
        clock.advance(12)
        assert proxy.get(1) == [1, 1]  # at once, stale; recomputed in the background
        deadline = time.monotonic() + 10
        while "refresh" not in kinds(events) and time.monotonic() < deadline:
            time.sleep(0.01)
    assert kinds(events, "stale", "refresh") == ["stale", "refresh"]
    stale, refresh = [e for e in events if e.kind in ("stale", "refresh")]
    assert stale.detail["reason"] == "revalidate"
    assert stale.detail["age"] == pytest.approx(2)
    assert refresh.detail == {"ok": True, "error": None}
    assert proxy.get(1) == [1, 2]  # the refreshed value


def test_a_failed_background_refresh_is_a_refresh_event_with_its_error(
    events: list[Event], caplog: pytest.LogCaptureFixture
) -> None:
    with use_clock() as clock:
        service = Service()
        proxy = CachedProxy(service, ttl=10, stale_while_revalidate=60)
        proxy.get(1)
        clock.advance(12)
        service.down = True
        with caplog.at_level(logging.WARNING, logger="proxycache"):
            assert proxy.get(1) == [1, 1]
            deadline = time.monotonic() + 10
            while "refresh" not in kinds(events) and time.monotonic() < deadline:
                time.sleep(0.01)
    (refresh,) = [e for e in events if e.kind == "refresh"]
    assert refresh.detail["ok"] is False
    assert isinstance(refresh.detail["error"], ConnectionError)
    assert "background refresh failed" in caplog.text


# -- waiting on another caller --------------------------------------------------------------------


def test_a_lock_wait_is_an_event_for_listeners(events: list[Event]) -> None:
    service = Service()
    service.gate = gate = threading.Event()
    obj = CachedProxy(service, include=["get"])
    first = threading.Thread(target=obj.get, args=("a",))
    first.start()
    deadline = time.monotonic() + 10
    while service.calls < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    second = threading.Thread(target=obj.get, args=("a",))
    second.start()
    time.sleep(0.2)
    gate.set()
    first.join(30)
    second.join(30)
    waits = [e for e in events if e.kind == "wait"]
    assert len(waits) == 1
    assert waits[0].method.endswith("get")
    assert waits[0].detail["scope"] == "process"
    assert waits[0].detail["outcome"] == "value"
    assert waits[0].detail["seconds"] >= 0


# -- store faults and results not stored ----------------------------------------------------------


def test_a_failing_store_is_a_fault_event_and_the_call_still_runs(tmp_path: Path, events: list[Event]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the store's directory should be")
    service = Service()
    proxy = CachedProxy(service, store=DiskStore(blocker / "store"), key_attrs=(), single_flight="process")
    with pytest.warns(Warning, match="not a directory"):
        assert proxy.get(1) == [1, 1]
    assert proxy.get(1) == [1, 2]  # nothing stored: computed again
    faults = [e for e in events if e.kind == "fault"]
    assert faults, kinds(events)
    assert {e.detail["op"] for e in faults} >= {"read", "write"}
    assert all("DiskStore" in e.detail["store"] and isinstance(e.detail["error"], Exception) for e in faults)
    assert len(faults) == cache_of(proxy.get).cache_stats()["faults"]


def test_a_result_the_serializer_cannot_keep_is_an_uncached_event(tmp_path: Path, events: list[Event]) -> None:
    class Lossy:
        def get(self) -> Any:
            return threading.Lock()  # no pickle can hold it

    proxy = CachedProxy(Lossy(), store=DiskStore(tmp_path), key_attrs=())
    with pytest.warns(Warning, match="Lossy.get"):
        proxy.get()
    (uncached,) = [e for e in events if e.kind == "uncached"]
    assert uncached.detail["reason"] == "unserializable"
    assert uncached.detail["error"] is not None


def test_a_result_cache_if_refuses_is_an_uncached_event(events: list[Event]) -> None:
    proxy = CachedProxy(Service(), cache_if=lambda result: result[0] != "error")
    proxy.get("error")
    proxy.get("error")
    proxy.get("fine")
    assert kinds(events, "uncached") == ["uncached", "uncached"]
    assert kinds(events, "miss") == ["miss", "miss", "miss"]
    assert cache_of(proxy.get).cache_stats()["uncached"] == 2


# -- the listener itself ---------------------------------------------------------------------------


def test_removing_a_listener_stops_its_events_and_may_be_repeated() -> None:
    seen: list[str] = []
    remove = add_listener(lambda e: seen.append(e.kind))
    proxy = CachedProxy(Service())
    proxy.get(1)
    remove()
    remove()  # a second call does nothing
    proxy.get(1)
    proxy.get(2)
    assert seen == ["miss"]
    assert cache_of(proxy.get).cache_info()[:2] == (1, 2)  # the hit path counts without listeners too


def test_every_listener_sees_every_event() -> None:
    first: list[str] = []
    second: list[str] = []
    removers = [add_listener(lambda e: first.append(e.kind)), add_listener(lambda e: second.append(e.kind))]
    proxy = CachedProxy(Service())
    proxy.get(1)
    proxy.get(1)
    for remove in removers:
        remove()
    assert first == second == ["miss", "hit"]


def test_a_listener_that_raises_never_fails_the_call_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    class C:
        def f(self, x: int) -> int:
            return x

    def bad(event: Event) -> None:
        raise RuntimeError("listener broke")

    after: list[str] = []
    removers = [add_listener(bad), add_listener(lambda e: after.append(e.kind))]
    try:
        with caplog.at_level(logging.ERROR, logger="proxycache"):
            proxy = CachedProxy(C())
            assert proxy.f(1) == 1
            assert proxy.f(1) == 1
    finally:
        for remove in removers:
            remove()
    assert after == ["miss", "hit"]  # the next listener still hears
    records = [r for r in caplog.records if r.name == "proxycache"]
    assert records, "the failing listener was not logged"
    assert records[0].levelno == logging.ERROR
    assert records[0].exc_info is not None
    assert all(r.name == "proxycache" for r in caplog.records)


def test_events_are_plain_named_tuples(events: list[Event]) -> None:
    # Events are plain named tuples: picklable and comparable, for queues to other processes.
    import pickle

    clock = FakeClock()
    with use_clock(clock):
        proxy = CachedProxy(Service())
        proxy.get(1)
    assert pickle.loads(pickle.dumps(events[0])) == events[0] == Event("miss", "Service.get", None)
