"""single_flight="store" end to end: processes x threads (or tasks) on one cold key, a killed leader, a stopped Redis.

Each worker process builds its client through one of the four entry points,
with a shared store, and calls the same method with the same argument from
several threads (or tasks) at once. The method appends a line to a file per
real call, so the calls of every process are counted in one place.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from proxycache import CachedProxy, CachingMixin, cache_methods, cached_method

from ..ticker import Ticker
from .conftest import run_processes


def _record(calls: str) -> None:
    with open(calls, "a") as f:
        f.write(f"{os.getpid()}\n")


class Forecasts:
    """A slow client: every real call is a line in the file named by ``calls``."""

    def __init__(self, calls: str, slow: float) -> None:
        self.calls = calls
        self.slow = slow

    def forecast(self, city: str) -> str:
        _record(self.calls)
        time.sleep(self.slow)
        return f"sunny in {city}"

    async def aforecast(self, city: str) -> str:
        _record(self.calls)
        await asyncio.sleep(self.slow)
        return f"sunny in {city}"


def _client(entry: str, store: Any, calls: str, slow: float) -> Any:
    if entry == "proxy":
        return CachedProxy(Forecasts(calls, slow), store=store, key_attrs=(), include=["forecast", "aforecast"])
    if entry == "cache_methods":
        return cache_methods(Forecasts(calls, slow), "forecast", "aforecast", store=store, key_attrs=())
    # The mixin and the decorator take their options where the class is made:
    # here, in each worker process, with the same qualified name in all of them.
    if entry == "mixin":

        class Mixed(CachingMixin, Forecasts, store=store, key_attrs=(), include=["forecast", "aforecast"]):
            pass

        return Mixed(calls, slow)

    class Own(Forecasts):
        @cached_method(store=store, key_attrs=())
        def forecast(self, city: str) -> str:
            return super().forecast(city)

        @cached_method(store=store, key_attrs=())
        async def aforecast(self, city: str) -> str:
            return await super().aforecast(city)

    return Own(calls, slow)


def _worker(entry: str, store: Any, calls: str, start: Any, results: Any, callers: int, slow: float,
            coroutine: bool) -> None:
    client = _client(entry, store, calls, slow)
    start.wait(60)
    if coroutine:

        async def main() -> list[str]:
            return list(await asyncio.gather(*(client.aforecast("Oslo") for _ in range(callers))))

        results.put(asyncio.run(main()))
        return
    got: list[str] = []
    threads = [threading.Thread(target=lambda: got.append(client.forecast("Oslo"))) for _ in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    results.put(got)


def _fleet(make_store: Any, kind: str, tmp_path: Path, *, entry: str = "proxy", coroutine: bool = False,
           **settings: Any) -> tuple[list[list[str]], int]:
    store = make_store(kind, **settings)
    calls = str(tmp_path / "calls")
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    results = ctx.Queue()
    got = run_processes(_worker, (entry, store, calls, start, results, 4, 0.5, coroutine), 4, results, ready=start)
    return got, len(Path(calls).read_text().splitlines())


STORES = ["disk", pytest.param("redis", marks=pytest.mark.redis), pytest.param("cluster", marks=pytest.mark.redis)]


@pytest.mark.parametrize("kind", STORES)
def test_four_processes_of_four_threads_on_one_cold_key_make_one_call(
    make_store: Any, kind: str, tmp_path: Path
) -> None:
    got, calls = _fleet(make_store, kind, tmp_path)
    assert got == [["sunny in Oslo"] * 4] * 4
    assert calls == 1


@pytest.mark.parametrize("entry", ["cache_methods", "mixin", "decorator"])
def test_every_entry_point_shares_one_call_between_processes(make_store: Any, entry: str, tmp_path: Path) -> None:
    got, calls = _fleet(make_store, "disk", tmp_path, entry=entry)
    assert got == [["sunny in Oslo"] * 4] * 4
    assert calls == 1


@pytest.mark.parametrize("kind", ["disk", pytest.param("redis", marks=pytest.mark.redis)])
def test_four_processes_of_four_tasks_on_one_cold_key_make_one_call(
    make_store: Any, kind: str, tmp_path: Path
) -> None:
    got, calls = _fleet(make_store, kind, tmp_path, coroutine=True)
    assert got == [["sunny in Oslo"] * 4] * 4
    assert calls == 1


@pytest.mark.parametrize("coroutine", [False, True], ids=["threads", "tasks"])
@pytest.mark.parametrize("kind", ["disk", pytest.param("redis", marks=pytest.mark.redis)])
def test_a_killed_leader_process_leaves_the_others_to_finish(
    make_store: Any, kind: str, coroutine: bool, tmp_path: Path
) -> None:
    store = make_store(kind, lease_ttl=1.0)
    calls = str(tmp_path / "calls")
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    results = ctx.Queue()
    leader = ctx.Process(target=_worker, args=("proxy", store, calls, start, results, 1, 120, coroutine))
    leader.start()
    start.set()
    deadline = time.monotonic() + 60
    while not Path(calls).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert Path(calls).exists()  # the leader is in its call, holding the lease
    rest = [ctx.Process(target=_worker, args=("proxy", store, calls, start, results, 4, 0.2, coroutine))
            for _ in range(3)]
    try:
        for p in rest:
            p.start()
        time.sleep(1.0)
        leader.kill()
        # Bounded: the dead leader's lease (1s) lapses long before its 120s call would have ended.
        got = [results.get(timeout=45) for _ in rest]
        for p in rest:
            p.join(30)
            assert p.exitcode == 0
    finally:
        for p in [leader, *rest]:
            p.kill()
            p.join(10)
    assert got == [["sunny in Oslo"] * 4] * 3
    assert len(Path(calls).read_text().splitlines()) == 2  # the dead leader's call, then one successor's


# -- a stopped Redis never stops the loop ---------------------------------------------------


@pytest.mark.redis
@pytest.mark.parametrize("mode", ["store", "process"])
def test_a_cached_coroutine_waiting_on_a_stopped_redis_leaves_the_loop_ticking(
    redis_process: Any, tmp_path: Path, mode: str
) -> None:
    from proxycache import RedisStore

    store = RedisStore(redis_process.url, socket_timeout=0.5)
    client = CachedProxy(Forecasts(str(tmp_path / "calls"), 0.0), store=store, key_attrs=(), single_flight=mode)
    assert redis_process.process is not None
    pid = redis_process.process.pid

    async def main() -> tuple[str, int, int]:
        assert await client.aforecast("Lima") == "sunny in Lima"  # the connections are open
        os.kill(pid, signal.SIGSTOP)
        try:
            async with Ticker(0.005) as ticker:
                result = await asyncio.wait_for(client.aforecast("Quito"), 20)
        finally:
            os.kill(pid, signal.SIGCONT)
        return result, ticker.ticks, client.aforecast.cache_stats()["faults"]

    result, ticks, faults = asyncio.run(main())
    assert result == "sunny in Quito"  # the method's result, though the store did not answer
    assert ticks >= 10  # the loop kept running while the call waited on the store
    assert faults >= 1
