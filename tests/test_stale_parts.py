"""The parts stale serving is made of, one by one: storing rules, timed storage, entry codec, refresher.

The behaviour through the four entry points is in ``test_stale.py`` and
``stores/test_stale_stores.py``; these pin down the pieces those rely on.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from proxycache import Event, add_listener
from proxycache._contract import MISS, Entry, EntryError
from proxycache._lifetime import (
    NO_RULES,
    OPTION,
    REJECT,
    EntryCodec,
    Expired,
    Lifetime,
    TimedStorage,
    storing_rules,
)
from proxycache._options import make_options
from proxycache._stale import NO_STALE, Refresher, stale_serving
from proxycache._storage import FIFOStorage, LFUStorage, LRUStorage, RRStorage, TTLStorage
from proxycache.serializers import JsonSerializer, PickleSerializer
from proxycache.testing import FakeClock


@pytest.fixture
def events() -> Iterator[list[Event]]:
    seen: list[Event] = []
    remove = add_listener(seen.append)
    yield seen
    remove()


def lifetime(**options: Any) -> Lifetime:
    return Lifetime(make_options(**options), "Service.get")


# -- Lifetime: what is stored, and for how long ---------------------------------


def test_without_rules_every_result_gets_the_ttl_option() -> None:
    assert storing_rules(make_options(ttl=5), "f") is NO_RULES
    assert NO_RULES.admit("x") is OPTION
    assert NO_RULES.admit_error(ValueError()) is OPTION
    assert isinstance(storing_rules(make_options(cache_if=bool), "f"), Lifetime)
    assert lifetime(ttl=5).admit("x") is OPTION
    assert lifetime().admit("x") is OPTION
    assert lifetime(ttl=5).admit_error(ValueError()) is OPTION


def test_cache_if_rejects_what_it_returns_false_for() -> None:
    rules = lifetime(ttl=5, cache_if=lambda r: r["status"] == 200)
    assert rules.admit({"status": 200}) is OPTION
    assert rules.admit({"status": 503}) is REJECT


def test_ttl_callable_reads_the_lifetime_from_the_result() -> None:
    rules = lifetime(ttl=lambda r: r.get("expires_in"))
    assert rules.admit({"expires_in": 30}) == 30.0
    assert rules.admit({"expires_in": timedelta(minutes=2)}) == 120.0
    assert rules.admit({}) is None  # None: no expiry
    assert rules.admit({"expires_in": 0}) is REJECT  # already expired
    assert rules.admit({"expires_in": -3}) is REJECT
    assert rules.admit_error(ValueError()) is REJECT  # an exception has no .get: not kept
    assert lifetime(ttl=lambda r: 7).admit_error(ValueError()) == 7.0


def test_broken_rules_reject_and_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="proxycache"):
        assert lifetime(ttl=lambda r: r["missing"]).admit({}) is REJECT
        assert lifetime(ttl=lambda r: "soon").admit({}) is REJECT
        assert lifetime(ttl=lambda r: math.nan).admit({}) is REJECT
        assert lifetime(cache_if=lambda r: 1 / 0).admit({}) is REJECT
    text = caplog.text
    assert "ttl=" in text
    assert "'soon'" in text
    assert "ZeroDivisionError" in text


def test_the_stale_window_is_the_longer_of_the_two() -> None:
    assert lifetime(ttl=1, stale_if_error=30, stale_while_revalidate=5).stale == 30.0
    assert lifetime(ttl=1).stale == 0.0


# -- TimedStorage: per-entry lifetimes, kept through the stale window ---------------


@pytest.mark.parametrize("policy", [LRUStorage, LFUStorage, FIFOStorage, RRStorage])
def test_timed_storage_keeps_expired_entries_for_their_stale_window(policy: Any) -> None:
    clock = FakeClock()
    storage = TimedStorage(policy(8, None), lifetime(ttl=10, stale_if_error=20), clock)
    storage.put("k", "v")
    assert storage.lookup("k") == "v"
    clock.advance(10)
    expired = storage.lookup("k")
    assert isinstance(expired, Expired)
    assert (expired.entry, expired.now) == (Entry("v", 0.0, 10.0, 30.0), 10.0)
    assert storage.peek("k") is MISS  # peek and the hit lines see only fresh entries
    assert storage.currsize() == 1  # still held
    clock.advance(20)
    assert storage.lookup("k") is MISS
    assert storage.currsize() == 0  # purged at the end of its window


def test_timed_storage_hits_exactly_as_a_plain_ttl() -> None:
    timed = TimedStorage(LRUStorage(8, None), lifetime(ttl=10, stale_while_revalidate=5), FakeClock())
    plain = TTLStorage(LRUStorage(8, None), 10.0, FakeClock())
    assert timed.HIT == plain.HIT  # the same generated hit: past expires_at, a miss
    assert timed.HIT.expires
    assert timed.bindings().keys() == plain.bindings().keys()


def test_lifetimes_from_results_expire_out_of_write_order() -> None:
    clock = FakeClock()
    storage = TimedStorage(LRUStorage(None, None), lifetime(ttl=lambda r: r), clock)
    storage.put("long", 100, ttl=100.0)
    storage.put("short", 1, ttl=1.0)
    storage.put("never", None, ttl=None)
    clock.advance(2)
    assert storage.keys() == ["long", "never"]
    clock.advance(1e9)
    assert storage.keys() == ["never"]
    assert storage.put("default", 5, ttl=OPTION)  # no fixed ttl: no expiry
    clock.advance(1e9)
    assert sorted(storage.keys()) == ["default", "never"]


def test_rewrites_and_evictions_leave_no_records_behind() -> None:
    clock = FakeClock()
    storage = TimedStorage(LRUStorage(4, None), lifetime(ttl=5, stale_if_error=5), clock)
    for i in range(1000):
        storage.put(i % 10, i)
    assert len(storage.times) <= 2 * len(storage.inner) + 16
    assert storage.delete(9)
    assert not storage.delete(9)
    storage.clear()
    assert storage.currsize() == 0
    assert not storage.times


# -- EntryCodec: the times travel with the value -------------------------------------


@pytest.mark.parametrize("serializer", [PickleSerializer(), PickleSerializer(secret="s"), JsonSerializer(), None])
def test_codec_writes_the_envelope_only_when_times_are_needed(serializer: Any) -> None:
    plain = EntryCodec(serializer, make_options(ttl=5))
    data, keep = plain.dump("ns:k", [1, 2], OPTION, now=1000.0)
    assert keep == 5.0
    assert plain.load("ns:k", data) == Entry([1, 2], -math.inf)  # fresh while the store keeps it

    timed = EntryCodec(serializer, make_options(ttl=5, stale_if_error=60))
    data, keep = timed.dump("ns:k", [1, 2], OPTION, now=1000.0)
    assert keep is not None
    assert keep > 60
    assert timed.load("ns:k", data) == Entry([1, 2], 1000.0, 1005.0, 1065.0)
    assert plain.load("ns:k", data) == timed.load("ns:k", data)  # every reader understands both forms


def test_a_signed_envelope_cannot_be_moved_or_made_to_live_longer() -> None:
    codec = EntryCodec(PickleSerializer(secret="s"), make_options(ttl=5, stale_if_error=60))
    data, _ = codec.dump("ns:k", "v", OPTION, now=1000.0)
    with pytest.raises(Exception, match="signature"):
        codec.load("ns:other", data)
    longer = Entry(None, 1000.0, 9e9, 9e9).header() + data[len(Entry(None, 0.0).header()):]
    with pytest.raises(Exception, match="signature"):
        codec.load("ns:k", longer)
    with pytest.raises(EntryError):
        codec.load("ns:k", data[:10])


# -- StaleServing and Refresher -----------------------------------------------------


def test_no_options_no_stale_serving() -> None:
    assert stale_serving(make_options(ttl=5), "f") is NO_STALE
    assert not NO_STALE.at_once(Entry("v", 0, 1, 2), 1.5)
    assert not NO_STALE.on_error(Entry("v", 0, 1, 2), 1.5)


def test_windows_after_expiry_and_what_was_served(events: list[Event]) -> None:
    stale = stale_serving(make_options(ttl=10, stale_if_error=60, stale_while_revalidate=5), "f")
    entry = Entry("v", 0.0, 10.0, 70.0)
    assert stale.at_once(entry, 12)
    assert stale.on_error(entry, 12)
    assert not stale.at_once(entry, 16)
    assert stale.on_error(entry, 16)
    assert not stale.on_error(entry, 71)
    assert stale.served == 3
    assert [(e.kind, e.detail["reason"], e.detail["age"]) for e in events] == [
        ("stale", "revalidate", 2.0), ("stale", "error", 2.0), ("stale", "error", 6.0),
    ]
    stale.reset()
    assert stale.served == 0


def test_refresher_runs_one_refresh_per_key_and_logs_failures(caplog: pytest.LogCaptureFixture) -> None:
    events: list[Event] = []
    remove = add_listener(events.append)
    refresher = Refresher("Service.get")
    release = threading.Event()
    ran: list[str] = []

    def slow() -> None:
        ran.append("slow")
        release.wait(10)

    def failing() -> None:
        raise ConnectionError("down")

    try:
        with caplog.at_level(logging.WARNING, logger="proxycache"):
            assert refresher.start("a", slow)
            assert not refresher.start("a", slow)  # one at a time per key
            assert refresher.start("b", failing)
            release.set()
            for _ in range(1000):
                if not refresher.running("a") and not refresher.running("b"):
                    break
                threading.Event().wait(0.01)
    finally:
        remove()
    assert ran == ["slow"]
    assert "background refresh failed (ConnectionError: down)" in caplog.text
    assert sorted((e.kind, e.detail["ok"]) for e in events) == [("refresh", False), ("refresh", True)]
    assert refresher.start("a", slow)  # free again


def test_refresher_runs_coroutines_as_tasks() -> None:
    refresher = Refresher("Service.aget")
    ran: list[int] = []

    async def refresh() -> None:
        await asyncio.sleep(0)
        ran.append(1)

    async def main() -> None:
        assert refresher.astart("k", refresh)
        assert not refresher.astart("k", refresh)
        while refresher.running("k"):
            await asyncio.sleep(0)

    asyncio.run(main())
    assert ran == [1]
