"""What the cache did: coalesced callers, saved seconds, cache_stats(obj), lock-wait events, store-side hit counts."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import proxycache
from proxycache import CachedProxy, CachingMixin, DiskStore, Event, add_listener, cache_methods, cached_method
from proxycache.testing import FakeClock, use_clock


class Priced:
    """Each real call costs *cost* seconds of the fake clock (and optionally waits for a gate)."""

    def __init__(self, clock: FakeClock | None = None, cost: float = 0.0, gate: threading.Event | None = None) -> None:
        self.clock = clock
        self.cost = cost
        self.gate = gate
        self.calls = 0

    def get(self, item: str) -> str:
        self.calls += 1
        if self.gate is not None:
            self.gate.wait(30)
        if self.clock is not None:
            self.clock.advance(self.cost)
        return item.upper()

    async def aget(self, item: str) -> str:
        self.calls += 1
        await asyncio.sleep(0.05)
        return item.upper()


class MixedPriced(CachingMixin, Priced, include=["get", "aget"]):
    pass


class OwnPriced(Priced):
    @cached_method
    def get(self, item: str) -> str:
        return super().get(item)

    @cached_method
    async def aget(self, item: str) -> str:
        return await super().aget(item)


def build(way: str, *args: Any, **options: Any) -> Any:
    if way == "proxy":
        return CachedProxy(Priced(*args), include=["get", "aget"], **options)
    if way == "cache_methods":
        return cache_methods(Priced(*args), "get", "aget", **options)
    assert not options
    return (MixedPriced if way == "mixin" else OwnPriced)(*args)


WAYS = ["proxy", "cache_methods", "mixin", "decorator"]


@pytest.mark.parametrize("way", WAYS)
def test_threads_that_share_a_result_are_counted_as_coalesced(way: str) -> None:
    gate = threading.Event()
    obj = build(way, None, 0.0, gate)
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(obj.get("a"))) for _ in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while proxycache.cache_stats(obj, "get")["misses"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # the others reach the flight and wait on it
    gate.set()
    for t in threads:
        t.join(30)
    stats = proxycache.cache_stats(obj, "get")
    assert results == ["A"] * 8
    assert obj.calls == 1
    assert stats["misses"] == 1
    assert stats["coalesced"] == 7
    assert stats["hits"] == 7  # a shared result is a hit too


@pytest.mark.parametrize("way", WAYS)
def test_tasks_that_share_a_result_are_counted_as_coalesced(way: str) -> None:
    obj = build(way)

    async def main() -> list[str]:
        return list(await asyncio.gather(*(obj.aget("a") for _ in range(5))))

    assert asyncio.run(main()) == ["A"] * 5
    stats = proxycache.cache_stats(obj, "aget")
    assert (stats["misses"], stats["coalesced"]) == (1, 4)


@pytest.mark.parametrize("way", WAYS)
def test_saved_seconds_are_hits_times_the_measured_miss_durations(way: str) -> None:
    with use_clock() as clock:
        obj = build(way, clock, 2.0)
        obj.get("a")  # a miss that takes 2 s
        for _ in range(3):
            obj.get("a")
        stats = proxycache.cache_stats(obj, "get")
        assert stats["hits"] == 3
        assert stats["saved_seconds"] == pytest.approx(6.0)
        obj.get("b")  # another 2 s miss: the mean stays 2 s
        obj.get("b")
        assert proxycache.cache_stats(obj, "get")["saved_seconds"] == pytest.approx(8.0)


def test_module_level_cache_stats_sits_beside_cache_info() -> None:
    obj = CachedProxy(Priced(), include=["get"])
    assert proxycache.cache_stats(obj) == {}
    obj.get("a")
    obj.get("a")
    everything = proxycache.cache_stats(obj)
    assert set(everything) == {"get"}
    assert everything["get"] == proxycache.cache_stats(obj, "get") == obj.get.cache_stats()
    for key in ("hits", "misses", "coalesced", "saved_seconds", "faults", "uncached"):
        assert key in everything["get"]
    with pytest.raises(TypeError, match="not cached"):
        proxycache.cache_stats(obj, "calls")
    assert "cache_stats" in proxycache.__all__


# -- across processes: a value another process is computing ---------------------------------


def test_a_value_computed_by_another_holder_of_the_lease_is_coalesced(tmp_path: Path) -> None:
    store = DiskStore(tmp_path / "disk")
    gate = threading.Event()
    # Another process, as far as the lease can tell: a second cache of the method over the same store.
    other = CachedProxy(Priced(None, 0.0, gate), include=["get"], store=store, key_attrs=(), serializer="json")
    obj = CachedProxy(Priced(), include=["get"], store=store, key_attrs=(), serializer="json")
    events: list[Event] = []
    remove = add_listener(events.append)
    try:
        leader = threading.Thread(target=other.get, args=("a",))
        leader.start()
        deadline = time.monotonic() + 10
        while other.calls < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        waiter = threading.Thread(target=obj.get, args=("a",))
        waiter.start()
        time.sleep(0.2)
        gate.set()
        leader.join(30)
        waiter.join(30)
    finally:
        remove()
    assert obj.calls == 0  # it took the other's value from the store
    assert obj.get("a") == "A"
    assert proxycache.cache_stats(obj, "get")["coalesced"] == 1
    assert [e.detail["scope"] for e in events if e.kind == "wait"] == ["store"]


# -- store-side statistics -------------------------------------------------------------------


def _store(kind: str, tmp_path: Path, request: pytest.FixtureRequest, **settings: Any) -> Any:
    if kind == "disk":
        return DiskStore(tmp_path / "disk", **settings)
    from proxycache import RedisStore

    return RedisStore(request.getfixturevalue("redis_server"), **settings)


@pytest.mark.parametrize("kind", ["disk", pytest.param("redis", marks=pytest.mark.redis)])
def test_hits_are_recorded_in_a_store_with_stats(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    with use_clock() as clock:
        store = _store(kind, tmp_path, request, stats=True)
        obj = CachedProxy(
            Priced(clock, 1.5), include=["get"], store=store, key_attrs=(), serializer="json", namespace="tests.priced"
        )
        obj.get("a")
        obj.get("a")
        obj.get("a")
    row = store.hit_stats()["tests.priced"]
    assert row.hits == 2
    assert row.saved_seconds == pytest.approx(3.0)


@pytest.mark.parametrize("kind", ["disk", pytest.param("redis", marks=pytest.mark.redis)])
def test_a_store_without_stats_records_nothing(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    store = _store(kind, tmp_path, request)
    obj = CachedProxy(Priced(), include=["get"], store=store, key_attrs=(), serializer="json")
    obj.get("a")
    obj.get("a")
    assert store.hit_stats() == {}
