"""stale_while_revalidate across processes: one background refresh for the whole fleet.

An entry expired a moment ago, within its stale window, sits in a shared
store. Three spawned processes call the method on that key at the same time
(a barrier): each gets the stale value at once and starts its own
background refresh, which leads through the store's lease, so the method's
body runs once across all of them (it appends a line to a file per call)
and the fresh value lands in the store for everyone.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from proxycache import CachedProxy, Event, add_listener

from .conftest import run_processes

NAMESPACE = "fleet.refresh"
#: Seconds a refresh takes: long enough that every process reads the entry before it lands.
SLOW = 1.0


class Forecasts:
    """Answers ``version``; every call is a line in the file named by ``calls``."""

    def __init__(self, calls: str, version: str, slow: float = 0.0) -> None:
        self.calls = calls
        self.version = version
        self.slow = slow

    def _called(self) -> None:
        with open(self.calls, "a") as f:
            f.write(f"{os.getpid()}\n")

    def forecast(self, city: str) -> str:
        self._called()
        time.sleep(self.slow)
        return f"{self.version} forecast for {city}"

    async def aforecast(self, city: str) -> str:
        self._called()
        await asyncio.sleep(self.slow)
        return f"{self.version} forecast for {city}"


def _client(store: Any, service: Forecasts, ttl: float) -> Any:
    return CachedProxy(service, store=store, key_attrs=(), ttl=ttl, stale_while_revalidate=600,
                       namespace=NAMESPACE, include=["forecast", "aforecast"])


def _worker(store: Any, calls: str, coroutine: bool, barrier: Any, results: Any) -> None:
    refreshes: list[Event] = []
    add_listener(lambda event: refreshes.append(event) if event.kind == "refresh" else None)
    # A fresh value lives a minute: the one the fleet refreshes must not expire before the last process looks.
    client = _client(store, Forecasts(calls, "new", SLOW), ttl=60)
    barrier.wait(60)
    if coroutine:

        async def main() -> str:
            value = await client.aforecast("Oslo")
            for _ in range(3000):  # this process's refresh is a task of this loop: let it finish
                if refreshes:
                    break
                await asyncio.sleep(0.01)
            return value

        value = asyncio.run(main())
    else:
        value = client.forecast("Oslo")
        done = threading.Event()
        for _ in range(3000):
            if refreshes:
                break
            done.wait(0.01)
    results.put((value, [event.detail["ok"] for event in refreshes]))


@pytest.mark.parametrize("coroutine", [False, True], ids=["sync", "coroutine"])
@pytest.mark.parametrize(
    "kind", ["disk", pytest.param("redis", marks=pytest.mark.redis), pytest.param("cluster", marks=pytest.mark.redis)]
)
def test_one_background_refresh_runs_across_processes(
    make_store: Any, kind: str, coroutine: bool, tmp_path: Path
) -> None:
    store = make_store(kind)
    writer = _client(store, Forecasts(str(tmp_path / "writer-calls"), "old"), ttl=0.2)
    stale = "old forecast for Oslo"
    if coroutine:
        assert asyncio.run(writer.aforecast("Oslo")) == stale
    else:
        assert writer.forecast("Oslo") == stale
    time.sleep(0.3)  # expired, within its stale window
    calls = str(tmp_path / "calls")
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(3)
    results = ctx.Queue()
    got = run_processes(_worker, (store, calls, coroutine, barrier, results), 3, results)
    assert [value for value, _ in got] == [stale] * 3  # every caller got the stale value at once
    assert [oks for _, oks in got] == [[True]] * 3  # each process's refresh ended well: computed, or shared
    assert len(Path(calls).read_text().splitlines()) == 1  # the method ran once across the processes
    # The fresh value landed in the store: a reader whose own service is down gets it without a call.
    reader = _client(store, Forecasts(str(tmp_path / "reader-calls"), "down"), ttl=60)
    fresh = asyncio.run(reader.aforecast("Oslo")) if coroutine else reader.forecast("Oslo")
    assert fresh == "new forecast for Oslo"
    assert not Path(tmp_path / "reader-calls").exists()
