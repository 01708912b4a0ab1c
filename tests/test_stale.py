"""Stale serving and choosing what is stored, in memory, through the four entry points.

``stale_if_error``, ``stale_while_revalidate``, ``cache_if`` and ``ttl=`` a
callable, for sync and coroutine methods; time moves by ``use_clock()``.
Stores: ``stores/test_stale_stores.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import types
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import cachetools
import pytest

from proxycache import CachedProxy, CachingMixin, Event, add_listener, cache_methods, cache_of, cached_method
from proxycache.testing import FakeClock, use_clock

WAYS = ("proxy", "inplace", "mixin", "decorator")


class Service:
    """A flaky service: ``version`` is in every answer, and ``down`` makes every call raise."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.version = 0
        self.down = False

    def get(self, item: Any) -> tuple[Any, int]:
        self.calls["get"] += 1
        if self.down:
            raise ConnectionError("service down")
        return (item, self.version)

    async def aget(self, item: Any) -> tuple[Any, int]:
        self.calls["aget"] += 1
        await asyncio.sleep(0)
        if self.down:
            raise ConnectionError("service down")
        return (item, self.version)

    def reply(self, status: int, expires_in: float | None = 60) -> dict[str, Any]:
        self.calls["reply"] += 1
        return {"status": status, "expires_in": expires_in, "version": self.version}

    async def areply(self, status: int, expires_in: float | None = 60) -> dict[str, Any]:
        self.calls["areply"] += 1
        return {"status": status, "expires_in": expires_in, "version": self.version}


_METHODS = ("get", "aget", "reply", "areply")
_classes: dict[tuple[str, str], type] = {}


def build(way: str, **options: Any) -> Any:
    """A ``Service`` cached the given way."""
    if way == "proxy":
        return CachedProxy(Service(), **options)
    if way == "inplace":
        return cache_methods(Service(), *_METHODS, **options)
    marker = (way, repr(sorted(options.items(), key=lambda kv: kv[0])))
    cls = _classes.get(marker)
    if cls is None:
        name = f"_{way.capitalize()}Service{len(_classes)}"
        if way == "mixin":
            cls = types.new_class(name, (CachingMixin, Service), dict(options))
        else:
            cls = type(name, (Service,), {m: cached_method(**options)(vars(Service)[m]) for m in _METHODS})
        cls.__module__, cls.__qualname__ = __name__, name
        globals()[name] = cls
        _classes[marker] = cls
    return cls()


@pytest.fixture(params=WAYS)
def way(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    with use_clock() as fake:
        yield fake


@pytest.fixture
def events() -> Iterator[list[Event]]:
    seen: list[Event] = []
    remove = add_listener(seen.append)
    yield seen
    remove()


def stats(method: Any) -> dict[str, Any]:
    return cache_of(method).cache_stats()


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Wait (at most 5 s) for a background refresh to show."""
    done = threading.Event()
    for _ in range(1000):
        if condition():
            return
        done.wait(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def refreshed(events: list[Event], count: int = 1) -> Callable[[], bool]:
    return lambda: sum(e.kind == "refresh" for e in events) >= count


# -- options are checked at wrap time ------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"stale_if_error": 30}, "stale_if_error= counts seconds after an entry expires, so it needs ttl="),
        ({"stale_while_revalidate": 5}, "stale_while_revalidate= .* needs ttl="),
        ({"ttl": 5, "stale_if_error": -1}, "stale_if_error must be a finite, positive number of seconds"),
        ({"ttl": 5, "stale_while_revalidate": "soon"}, "stale_while_revalidate must be seconds"),
        ({"cache_if": True}, "cache_if must be a predicate taking the result"),
        ({"ttl": "1h"}, "ttl must be seconds .*a callable taking the result"),
        ({"ttl": lambda r: 1, "policy": cachetools.TTLCache}, "times every entry alike, so ttl as a callable"),
        ({"ttl": 5, "stale_if_error": 9, "policy": cachetools.TTLCache}, "so stale_if_error cannot be used"),
    ],
)
def test_bad_stale_options_fail_at_wrap_time(way: str, options: dict[str, Any], message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        build(way, **options)


def test_options_accept_timedelta_and_show_in_parameters(way: str) -> None:
    rule = lambda result: result["expires_in"]  # noqa: E731
    obj = build(way, ttl=rule, stale_if_error=timedelta(minutes=5), stale_while_revalidate=10, cache_if=bool)
    params = obj.reply.cache_parameters()
    assert params["ttl"] is rule
    assert (params["stale_if_error"], params["stale_while_revalidate"], params["cache_if"]) == (300.0, 10.0, bool)


# -- stale_if_error ---------------------------------------------------------------------


def test_stale_if_error_serves_the_expired_value_when_the_call_raises(way: str, clock: FakeClock) -> None:
    obj = build(way, ttl=10, stale_if_error=60)
    assert obj.get(1) == (1, 0)
    clock.advance(11)
    obj.down = True
    assert obj.get(1) == (1, 0)  # the call raised: the stale value instead
    assert obj.calls["get"] == 2
    assert stats(obj.get)["stale"] == 1
    clock.advance(60)
    with pytest.raises(ConnectionError):
        obj.get(1)  # past the window: the error
    obj.down = False
    obj.version = 1
    assert obj.get(1) == (1, 1)


def test_stale_if_error_for_coroutine_methods(way: str, clock: FakeClock) -> None:
    obj = build(way, ttl=10, stale_if_error=60)

    async def main() -> list[Any]:
        first = await obj.aget(1)
        clock.advance(11)
        obj.down = True
        stale = await asyncio.gather(obj.aget(1), obj.aget(1))
        return [first, *stale]

    assert asyncio.run(main()) == [(1, 0)] * 3
    assert obj.calls["aget"] == 2  # the two stale callers shared one attempt
    assert stats(obj.aget)["stale"] >= 1


def test_stale_if_error_recomputes_and_stores_when_the_call_succeeds(way: str, clock: FakeClock) -> None:
    obj = build(way, ttl=10, stale_if_error=60)
    obj.get(1)
    clock.advance(11)
    obj.version = 1
    assert obj.get(1) == (1, 1)
    assert obj.get(1) == (1, 1)
    assert obj.calls["get"] == 2
    assert stats(obj.get)["stale"] == 0


# -- stale_while_revalidate -------------------------------------------------------------


def test_stale_while_revalidate_answers_at_once_and_refreshes_once(
    way: str, clock: FakeClock, events: list[Event]
) -> None:
    obj = build(way, ttl=10, stale_while_revalidate=30)
    obj.get(1)
    clock.advance(11)
    obj.version = 1
    answers: list[Any] = []
    threads = [threading.Thread(target=lambda: answers.append(obj.get(1))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert answers.count((1, 0)) >= 1  # served stale, not waiting for the refresh
    wait_for(refreshed(events), "the background refresh")
    assert obj.get(1) == (1, 1)
    assert obj.calls["get"] == 2  # one refresh for the eight stale callers
    assert stats(obj.get)["stale"] == answers.count((1, 0))
    kinds = [e.kind for e in events]
    assert "stale" in kinds
    assert [e.detail["ok"] for e in events if e.kind == "refresh"] == [True]


def test_stale_while_revalidate_refreshes_coroutines_in_a_task(way: str, clock: FakeClock, events: list[Event]) -> None:
    obj = build(way, ttl=10, stale_while_revalidate=30)

    async def main() -> list[Any]:
        first = await obj.aget(1)
        clock.advance(11)
        obj.version = 1
        stale = await asyncio.gather(obj.aget(1), obj.aget(1), obj.aget(1))
        for _ in range(10_000):
            if refreshed(events)():
                break
            await asyncio.sleep(0.001)
        return [first, *stale, await obj.aget(1)]

    assert asyncio.run(main()) == [(1, 0)] * 4 + [(1, 1)]
    assert obj.calls["aget"] == 2
    assert stats(obj.aget)["stale"] == 3


def test_a_failed_refresh_is_logged_never_raised(
    way: str, clock: FakeClock, events: list[Event], caplog: pytest.LogCaptureFixture
) -> None:
    obj = build(way, ttl=10, stale_while_revalidate=30)
    obj.get(1)
    clock.advance(11)
    obj.down = True
    with caplog.at_level(logging.WARNING, logger="proxycache"):
        assert obj.get(1) == (1, 0)
        wait_for(refreshed(events), "the background refresh")
    assert "background refresh failed (ConnectionError: service down)" in caplog.text
    assert obj.get(1) == (1, 0)  # still stale, and still no error for the caller
    wait_for(refreshed(events, 2), "the second refresh")
    obj.down = False
    clock.advance(30)  # past the window: computed in the call
    assert obj.get(1) == (1, 0)
    assert obj.calls["get"] == 4


def test_past_the_revalidate_window_the_call_computes(way: str, clock: FakeClock) -> None:
    obj = build(way, ttl=10, stale_while_revalidate=5, stale_if_error=60)
    obj.get(1)
    clock.advance(20)  # past revalidate, within stale_if_error
    obj.version = 1
    assert obj.get(1) == (1, 1)
    assert stats(obj.get)["stale"] == 0


@pytest.mark.parametrize("policy", ["lru", "lfu", "fifo", "rr", cachetools.LRUCache])
def test_every_policy_serves_stale(policy: Any, clock: FakeClock) -> None:
    obj = CachedProxy(Service(), ttl=10, stale_if_error=60, policy=policy, maxsize=4)
    obj.get(1)
    clock.advance(11)
    obj.down = True
    assert obj.get(1) == (1, 0)


def test_clear_and_invalidate_drop_stale_entries(way: str, clock: FakeClock) -> None:
    obj = build(way, ttl=10, stale_if_error=60)
    obj.get(1)
    obj.get(2)
    clock.advance(11)
    obj.down = True
    assert obj.get.cache_invalidate(1) is False  # expired: not there to drop as an entry...
    with pytest.raises(ConnectionError):
        obj.get(1)  # ...but nothing is served stale after it
    obj.get.cache_clear()
    with pytest.raises(ConnectionError):
        obj.get(2)


# -- cache_if and ttl from the result ---------------------------------------------------


def test_cache_if_returns_rejected_results_unstored(way: str) -> None:
    obj = build(way, cache_if=lambda r: r["status"] == 200)
    assert obj.reply(503)["status"] == 503
    obj.reply(503)
    assert obj.calls["reply"] == 2
    obj.reply(200)
    obj.reply(200)
    assert obj.calls["reply"] == 3
    assert stats(obj.reply)["uncached"] == 2
    assert obj.reply.cache_info().currsize == 1


def test_cache_if_for_coroutine_methods(way: str) -> None:
    obj = build(way, cache_if=lambda r: r["status"] == 200)

    async def main() -> None:
        for _ in range(2):
            await obj.areply(503)
            await obj.areply(200)

    asyncio.run(main())
    assert obj.calls["areply"] == 3


def test_ttl_callable_reads_each_lifetime_from_the_result(way: str, clock: FakeClock) -> None:
    obj = build(way, ttl=lambda r: r["expires_in"])
    obj.reply(200, 5)
    obj.reply(200, 50)
    obj.reply(200, None)  # no expiry
    obj.reply(200, 0)  # expired at once: not stored
    assert obj.calls["reply"] == 4
    clock.advance(6)
    for args in [(200, 5), (200, 50), (200, None), (200, 0)]:
        obj.reply(*args)
    assert obj.calls["reply"] == 6  # 5 s and 0 s again
    clock.advance(1e6)
    obj.reply(200, None)
    assert obj.calls["reply"] == 6


def test_ttl_callable_with_stale_if_error(way: str, clock: FakeClock) -> None:
    obj = build(way, ttl=lambda r: r[1] + 10, stale_if_error=60)

    async def main() -> Any:
        await obj.aget(1)
        clock.advance(11)
        obj.down = True
        return await obj.aget(1)

    assert asyncio.run(main()) == (1, 0)


def test_cache_refresh_follows_cache_if(way: str, events: list[Event]) -> None:
    obj = build(way, cache_if=lambda r: r["status"] == 200)
    obj.reply.cache_refresh(503)
    obj.reply(503)
    assert obj.calls["reply"] == 2
    assert [e.detail for e in events if e.kind == "uncached"] == [{"reason": "cache_if or ttl"}] * 2


def test_cached_exceptions_get_their_lifetime_from_the_ttl_callable(clock: FakeClock) -> None:
    def lifetime(outcome: Any) -> float:
        return 5.0 if isinstance(outcome, ConnectionError) else 60.0

    obj = CachedProxy(Service(), ttl=lifetime, cache_exceptions=ConnectionError)
    obj.down = True
    for _ in range(2):
        with pytest.raises(ConnectionError):
            obj.get(1)
    assert obj.calls["get"] == 1  # the error was cached...
    clock.advance(6)
    obj.down = False
    assert obj.get(1) == (1, 0)  # ...for the 5 s the callable gave it
    clock.advance(30)
    assert obj.get(1) == (1, 0)
    assert obj.calls["get"] == 2


# -- the rules one by one, through a proxy ---------------------------------------------------


def test_ttl_callable_takes_timedeltas_and_refuses_lifetimes_already_over(clock: FakeClock) -> None:
    obj = CachedProxy(Service(), ttl=lambda r: r["expires_in"])
    obj.reply(200, timedelta(minutes=2))  # type: ignore[arg-type]
    obj.reply(200, -3)  # already over: not stored
    clock.advance(119)
    obj.reply(200, timedelta(minutes=2))  # type: ignore[arg-type]
    obj.reply(200, -3)
    assert obj.calls["reply"] == 3  # the two minutes held; -3 computed again
    clock.advance(2)
    obj.reply(200, timedelta(minutes=2))  # type: ignore[arg-type]
    assert obj.calls["reply"] == 4


def test_a_cached_exception_the_ttl_callable_cannot_read_is_not_kept() -> None:
    # An exception has no ["expires_in"]: the callable fails on it, so it is not kept.
    obj = CachedProxy(Service(), ttl=lambda r: r["expires_in"], cache_exceptions=ConnectionError)
    obj.down = True
    for _ in range(2):
        with pytest.raises(ConnectionError):
            obj.get(1)
    assert obj.calls["get"] == 2


def test_broken_rules_store_nothing_and_log(caplog: pytest.LogCaptureFixture) -> None:
    broken: list[dict[str, Any]] = [
        {"ttl": lambda r: r["missing"]},
        {"ttl": lambda r: "soon"},
        {"ttl": lambda r: float("nan")},
        {"cache_if": lambda r: 1 / 0},
    ]
    with caplog.at_level(logging.WARNING, logger="proxycache"):
        for options in broken:
            obj = CachedProxy(Service(), **options)
            assert obj.reply(200) == obj.reply(200)  # the call answers...
            assert obj.calls["reply"] == 2  # ...and nothing was stored
            assert stats(obj.reply)["uncached"] == 2
    text = caplog.text
    assert "ttl=" in text
    assert "'soon'" in text
    assert "ZeroDivisionError" in text


def test_the_stale_window_is_the_longer_of_the_two(clock: FakeClock) -> None:
    obj = CachedProxy(Service(), ttl=1, stale_if_error=30, stale_while_revalidate=5)
    obj.get(1)
    clock.advance(1 + 20)  # past revalidating, within stale_if_error
    obj.down = True
    assert obj.get(1) == (1, 0)
    clock.advance(10)  # 30 s after expiry: gone
    with pytest.raises(ConnectionError):
        obj.get(1)
    assert stats(obj.get)["stale"] == 1
    obj.get.cache_clear()
    assert stats(obj.get)["stale"] == 0  # cleared with the other counts


def test_without_stale_options_an_expired_entry_is_never_served(clock: FakeClock) -> None:
    obj = CachedProxy(Service(), ttl=10)
    obj.get(1)
    clock.advance(10.5)
    obj.down = True
    with pytest.raises(ConnectionError):
        obj.get(1)
    assert stats(obj.get)["stale"] == 0


@pytest.mark.parametrize("policy", ["lru", "lfu", "fifo", "rr"])
def test_an_expired_entry_is_kept_through_its_stale_window_only(policy: str, clock: FakeClock) -> None:
    obj = CachedProxy(Service(), ttl=10, stale_if_error=20, policy=policy, maxsize=8)
    obj.get(1)
    clock.advance(10)
    assert obj.get.cache_info().currsize == 1  # expired, still held for stale serving
    obj.version = 1
    assert obj.get(1) == (1, 1)  # yet never a hit: the call computes
    clock.advance(30)  # the new entry expired 20 s ago...
    obj.down = True
    with pytest.raises(ConnectionError):
        obj.get(1)  # ...and its window ended: nothing served
    assert obj.get.cache_info().currsize == 0  # and no longer held


@pytest.mark.parametrize("serializer", ["pickle", "signed", "json"])
def test_the_times_travel_with_the_value_only_when_stale_serving_needs_them(
    serializer: str, tmp_path: Path, clock: FakeClock
) -> None:
    from proxycache import DiskStore
    from proxycache.serializers import PickleSerializer

    chosen: Any = PickleSerializer(secret="s") if serializer == "signed" else serializer
    plain_store, timed_store = DiskStore(tmp_path / "plain"), DiskStore(tmp_path / "timed")
    CachedProxy(Service(), store=plain_store, key_attrs=(), ttl=5, serializer=chosen).reply(200)
    CachedProxy(Service(), store=timed_store, key_attrs=(), ttl=5, stale_if_error=60, serializer=chosen).reply(200)
    (plain_name,), (timed_name,) = plain_store.keys(None), timed_store.keys(None)
    plain, timed = plain_store.get(plain_name), timed_store.get(timed_name)
    if serializer == "signed":
        # A signed entry with a ttl carries its expiry under the signature, stale window or not.
        assert plain[:4] == timed[:4] == b"pce1"
        return
    assert len(timed) > len(plain)  # the times (created, expires, stale until) travel in front
    if serializer == "json":
        mark = b"pcm1json\x00"  # the serializer's name, then the value alone, as before
        assert plain.startswith(mark)
        assert json.loads(plain[len(mark):]) == {"status": 200, "expires_in": 60, "version": 0}
