"""Stale serving, ``cache_if`` and ``ttl=`` a callable with every store: memory, disk, Redis and a Redis Cluster.

Entries in a store are timed by the wall clock (other processes read them),
so these tests sleep: lifetimes are a fraction of a second.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from proxycache import CachedProxy, Event, add_listener, cache_of

from ..test_stale import WAYS, Service, build, refreshed, wait_for
from .conftest import redis_name

#: Short lifetimes: a sleep of EXPIRE puts an entry made now past its ttl.
TTL = 0.1
EXPIRE = 0.15

@pytest.fixture
def events() -> Iterator[list[Event]]:
    seen: list[Event] = []
    remove = add_listener(seen.append)
    yield seen
    remove()


def stats(method: Any) -> dict[str, Any]:
    return cache_of(method).cache_stats()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.mark.parametrize("way", WAYS)
def test_stale_if_error_with_every_store(store: Any, way: str) -> None:
    obj = build(way, store=store, key_attrs=(), ttl=TTL, stale_if_error=30)
    assert obj.get(1) == (1, 0)
    time.sleep(EXPIRE)
    obj.down = True
    assert obj.get(1) == (1, 0)
    assert stats(obj.get)["stale"] == 1
    obj.down = False
    obj.version = 1
    assert obj.get(1) == (1, 1)  # recomputed and stored again
    assert obj.get(1) == (1, 1)
    assert obj.calls["get"] == 3


def test_stale_if_error_for_coroutine_methods_with_every_store(store: Any) -> None:
    obj = CachedProxy(Service(), store=store, key_attrs=(), ttl=TTL, stale_if_error=30)

    async def main() -> Any:
        await obj.aget(1)
        await asyncio.sleep(EXPIRE)
        obj.down = True
        return await obj.aget(1)

    assert run(main()) == (1, 0)
    assert stats(obj.aget)["stale"] == 1


def test_stale_while_revalidate_with_every_store(store: Any, events: list[Event]) -> None:
    obj = CachedProxy(Service(), store=store, key_attrs=(), ttl=TTL, stale_while_revalidate=30)
    obj.get(1)
    time.sleep(EXPIRE)
    obj.version = 1
    assert obj.get(1) == (1, 0)  # at once, stale
    wait_for(refreshed(events), "the background refresh")
    assert obj.get(1) == (1, 1)
    assert obj.calls["get"] == 2


def test_stale_while_revalidate_for_coroutine_methods_with_every_store(store: Any, events: list[Event]) -> None:
    obj = CachedProxy(Service(), store=store, key_attrs=(), ttl=TTL, stale_while_revalidate=30)

    async def main() -> list[Any]:
        first = await obj.aget(1)
        await asyncio.sleep(EXPIRE)
        obj.version = 1
        stale = await asyncio.gather(obj.aget(1), obj.aget(1))
        for _ in range(5000):
            if refreshed(events)():
                break
            await asyncio.sleep(0.001)
        return [first, *stale, await obj.aget(1)]

    first, *stale, last = run(main())
    assert (first, last) == ((1, 0), (1, 1))
    # Both callers await the store: whichever reads first gets the stale value
    # at once and starts the refresh, which may have landed when the other reads.
    assert (1, 0) in stale
    assert set(stale) <= {(1, 0), (1, 1)}
    assert obj.calls["aget"] == 2


def test_a_failed_refresh_with_a_store_is_logged(
    store: Any, events: list[Event], caplog: pytest.LogCaptureFixture
) -> None:
    obj = CachedProxy(Service(), store=store, key_attrs=(), ttl=TTL, stale_while_revalidate=30)
    obj.get(1)
    time.sleep(EXPIRE)
    obj.down = True
    with caplog.at_level(logging.WARNING, logger="proxycache"):
        assert obj.get(1) == (1, 0)
        wait_for(refreshed(events), "the background refresh")
    assert "background refresh failed" in caplog.text


def test_cache_if_keeps_rejected_results_out_of_every_store(store: Any) -> None:
    obj = CachedProxy(Service(), store=store, key_attrs=(), cache_if=lambda r: r["status"] == 200)
    obj.reply(503)
    obj.reply(503)
    assert obj.calls["reply"] == 2
    assert list(store.keys(None)) == []

    async def main() -> None:
        await obj.areply(503)
        await obj.areply(503)

    run(main())
    assert obj.calls["areply"] == 2
    assert stats(obj.reply)["uncached"] == 2
    obj.reply(200)
    obj.reply(200)
    assert obj.calls["reply"] == 3


def test_ttl_callable_with_every_store(store: Any) -> None:
    obj = CachedProxy(Service(), store=store, key_attrs=(), ttl=lambda r: r["expires_in"])
    obj.reply(200, TTL)
    obj.reply(200, 60)
    obj.reply(200, None)
    time.sleep(EXPIRE)
    obj.reply(200, TTL)
    obj.reply(200, 60)
    obj.reply(200, None)
    assert obj.calls["reply"] == 4  # only the short one again


@pytest.mark.redis
@pytest.mark.parametrize("kind", ["redis", "cluster"])
def test_redis_keeps_the_entry_through_the_stale_window(make_store: Any, kind: str) -> None:
    store = make_store(kind)
    obj = CachedProxy(Service(), store=store, key_attrs=(), ttl=5, stale_if_error=120)
    obj.get(1)
    (name,) = store.keys(None)
    # The server expires the entry at the end of its stale window, not at its ttl.
    assert 100_000 < store.client.pttl(redis_name(store, name)) <= 125_000
    plain = CachedProxy(Service(), store=store, key_attrs=(), ttl=5, namespace="plain")
    plain.get(1)
    (plain_name,) = store.keys("plain")
    assert 0 < store.client.pttl(redis_name(store, plain_name)) <= 5_000


def test_an_edited_expiry_in_a_signed_entry_is_a_miss(bytes_store: Any) -> None:
    from proxycache.serializers import PickleSerializer

    signed = PickleSerializer(secret="s3cret")
    obj = CachedProxy(Service(), store=bytes_store, key_attrs=(), ttl=TTL, stale_if_error=30, serializer=signed)
    obj.get(1)
    (name,) = bytes_store.keys(None)
    data = bytes_store.get(name)
    # Forge the header's times so the entry looks fresh for ever: the signature no longer checks out.
    forged = data[:4] + data[4:12] + b"\x7f\xf0" + b"\x00" * 6 + b"\x7f\xf0" + b"\x00" * 6 + data[28:]
    bytes_store.set(name, forged)
    time.sleep(EXPIRE)
    obj.version = 1
    assert obj.get(1) == (1, 1)  # forged: a miss (and a fault), never served


class Gated(Service):
    """Its calls after the first wait for ``gate``: a refresh that runs until the test lets it finish."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def get(self, item: Any) -> tuple[Any, int]:
        if self.calls["get"]:
            self.gate.wait(10)
        return super().get(item)


@pytest.mark.parametrize("kind", ["disk", pytest.param("redis", marks=pytest.mark.redis)])
def test_one_refresh_serves_concurrent_callers(make_store: Any, kind: str, events: list[Event]) -> None:
    service = Gated()
    obj = CachedProxy(service, store=make_store(kind), key_attrs=(), ttl=TTL, stale_while_revalidate=30)
    obj.get(1)
    time.sleep(EXPIRE)
    service.version = 1
    answers: list[Any] = []
    threads = [threading.Thread(target=lambda: answers.append(obj.get(1))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert answers == [(1, 0)] * 6  # all at once, while the one refresh waits at the gate
    service.gate.set()
    wait_for(refreshed(events), "the background refresh")
    assert service.calls["get"] == 2
    assert stats(obj.get)["stale"] == 6


def test_entries_with_and_without_times_read_each_other(store: Any) -> None:
    timed = CachedProxy(Service(), store=store, key_attrs=(), ttl=60, stale_if_error=60, namespace="svc")
    plain = CachedProxy(Service(), store=store, key_attrs=(), ttl=60, namespace="svc")
    assert timed.get(1) == (1, 0)
    assert plain.get(1) == (1, 0)
    plain.get(2)
    timed.get(2)
    assert (timed.calls["get"], plain.calls["get"]) == (1, 1)
    assert stats(timed.get)["faults"] == stats(plain.get)["faults"] == 0


#: Another process reads the entry this one wrote, with its service down.
STALE_CHILD = """
import json, sys
from proxycache import CachedProxy, cache_of
from proxycache import DiskStore, RedisStore


class Service:
    def get(self, item):
        raise ConnectionError("service down")


Service.__module__, Service.__qualname__ = "svc", "Service"
spec = sys.argv[1]
store = DiskStore(spec[len("disk:"):]) if spec.startswith("disk:") else RedisStore(spec)
proxy = CachedProxy(Service(), store=store, key_attrs=(), ttl=0.1, stale_if_error=60, namespace="svc")
print(json.dumps({"value": proxy.get(1), "stale": cache_of(proxy.get).cache_stats()["stale"]}))
"""


def test_another_process_serves_the_entry_stale_from_its_times(bytes_store: Any) -> None:
    from .conftest import run_python
    from .test_cross_process import spec_of

    writer = CachedProxy(Service(), store=bytes_store, key_attrs=(), ttl=0.1, stale_if_error=60, namespace="svc")
    assert writer.get(1) == (1, 0)
    time.sleep(0.15)
    outcome = json.loads(run_python(STALE_CHILD, spec_of(bytes_store)).stdout)
    assert outcome == {"value": [1, 0], "stale": 1}
