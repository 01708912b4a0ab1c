"""The store-lease flight (single_flight="store") on its own: every store, a Redis Cluster, real processes."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from proxycache._flight_store import StoreFlight, Waited

NS = "tests.Flight.get"


@pytest.fixture(params=["disk", pytest.param("redis", marks=pytest.mark.redis)])
def kind_of_lease_store(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def key(n: int) -> str:
    return f"{NS}:{n:040x}"


class Recorder:
    def __init__(self) -> None:
        self.faults: list[tuple[str, Exception]] = []
        self.waits: list[Waited] = []

    def flight(self, store: Any, **kw: Any) -> StoreFlight:
        return StoreFlight(store, on_fault=lambda op, e: self.faults.append((op, e)), on_wait=self.waits.append, **kw)


def test_a_free_key_is_computed_under_the_lease_and_the_lease_given_back(any_store: Any) -> None:
    rec = Recorder()
    seen_held: list[bool] = []

    def compute() -> bytes:
        seen_held.append(any_store.acquire_lease(key(1), 30) is None)  # held by this flight meanwhile
        any_store.set(key(1), b"v")
        return b"v"

    assert rec.flight(any_store).run(key(1), lambda: any_store.get(key(1)), compute) == (True, b"v")
    assert seen_held == [True]
    assert any_store.acquire_lease(key(1), 30) is not None  # released
    assert rec.faults == []
    assert rec.waits == []


def test_a_value_that_landed_before_the_lease_is_taken_is_not_computed_again(any_store: Any) -> None:
    any_store.set(key(2), b"there")

    def compute() -> bytes:
        raise AssertionError("computed although the value was in the store")

    assert StoreFlight(any_store).run(key(2), lambda: any_store.get(key(2)), compute) == (False, b"there")
    assert any_store.acquire_lease(key(2), 30) is not None


def _holder_then(store: Any, name: str, token: str, value: bytes | None, after: float) -> threading.Thread:
    def work() -> None:
        time.sleep(after)
        if value is not None:
            store.set(name, value)
        store.release_lease(name, token)

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def test_a_waiter_takes_the_holders_value_when_it_lands(any_store: Any) -> None:
    token = any_store.acquire_lease(key(3), 30)
    assert token is not None
    holder = _holder_then(any_store, key(3), token, b"theirs", 0.3)
    rec = Recorder()
    got = rec.flight(any_store).run(key(3), lambda: any_store.get(key(3)), lambda: b"mine")
    holder.join()
    assert got == (False, b"theirs")
    assert [w.outcome for w in rec.waits] == ["value"]
    assert rec.waits[0].seconds > 0


def test_a_waiter_computes_when_the_holder_gives_up_without_a_value(any_store: Any) -> None:
    token = any_store.acquire_lease(key(4), 30)
    assert token is not None
    holder = _holder_then(any_store, key(4), token, None, 0.2)  # the holder raised: no value
    rec = Recorder()
    got = rec.flight(any_store).run(key(4), lambda: any_store.get(key(4)), lambda: b"mine")
    holder.join()
    assert got == (True, b"mine")
    assert [w.outcome for w in rec.waits] == ["lapsed"]


def test_a_waiter_computes_when_a_dead_holders_lease_lapses(any_store: Any) -> None:
    assert any_store.acquire_lease(key(5), 0.3) is not None  # never renewed: its holder died
    rec = Recorder()
    got = rec.flight(any_store).run(key(5), lambda: any_store.get(key(5)), lambda: b"mine")
    assert got == (True, b"mine")
    assert [w.outcome for w in rec.waits] == ["lapsed"]


def test_the_lease_is_renewed_while_a_long_computation_runs(make_store: Any, kind_of_lease_store: str) -> None:
    store = make_store(kind_of_lease_store, lease_ttl=0.3)
    held_meanwhile: list[bool] = []

    def compute() -> bytes:
        for _ in range(6):  # 1.2 s: four times the lease's lifetime
            time.sleep(0.2)
            held_meanwhile.append(store.acquire_lease(key(13), 30) is None)
        return b"v"

    assert StoreFlight(store).run(key(13), lambda: store.get(key(13)), compute) == (True, b"v")
    assert held_meanwhile == [True] * 6
    assert store.acquire_lease(key(13), 30) is not None


def test_an_error_of_the_computation_gives_the_lease_back(any_store: Any) -> None:
    def compute() -> bytes:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        StoreFlight(any_store).run(key(6), lambda: any_store.get(key(6)), compute)
    assert any_store.acquire_lease(key(6), 30) is not None


def test_the_lease_ttl_comes_from_the_store(make_store: Any) -> None:
    assert StoreFlight(make_store("disk", lease_ttl=2.5)).ttl == 2.5
    assert StoreFlight(make_store("disk")).ttl == 10.0
    assert StoreFlight(make_store("memory")).ttl == 10.0  # no lease_ttl: the default
    with pytest.raises(ValueError, match="lease ttl"):
        make_store("disk", lease_ttl=0)


@pytest.mark.redis
def test_a_store_that_is_down_degrades_to_computing_here(redis_process: Any) -> None:
    from proxycache import RedisStore

    store = RedisStore(redis_process.url, socket_timeout=0.2)
    redis_process.stop()
    rec = Recorder()
    assert rec.flight(store).run(key(7), lambda: store.get(key(7)), lambda: b"mine") == (True, b"mine")
    assert [op for op, _ in rec.faults] == ["acquire"]

    async def main() -> tuple[bool, Any]:
        async def look() -> Any:
            return await store.aget(key(7))

        async def compute() -> bytes:
            return b"mine"

        return await rec.flight(store).arun(key(7), look, compute)

    assert asyncio.run(main()) == (True, b"mine")
    assert [op for op, _ in rec.faults] == ["acquire", "acquire"]


def test_a_look_that_raises_degrades_to_computing_here(any_store: Any) -> None:
    assert any_store.acquire_lease(key(8), 30) is not None
    rec = Recorder()

    def look() -> Any:
        raise OSError("the read failed")

    assert rec.flight(any_store).run(key(8), look, lambda: b"mine") == (True, b"mine")
    assert [op for op, _ in rec.faults] == ["look"]


# -- coroutines ------------------------------------------------------------------------


def test_async_waiter_takes_the_value_and_the_loop_keeps_running(any_store: Any) -> None:
    token = any_store.acquire_lease(key(9), 30)
    assert token is not None
    rec = Recorder()

    async def main() -> tuple[tuple[bool, Any], int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        async def look() -> Any:
            return await any_store.aget(key(9))

        async def compute() -> bytes:
            return b"mine"

        async def holder() -> None:
            await asyncio.sleep(0.3)
            await any_store.aset(key(9), b"theirs")
            await any_store.arelease_lease(key(9), token)

        await any_store.aget(key(99))  # the loop's client connected before the race starts
        tick = asyncio.create_task(ticker())
        hold = asyncio.create_task(holder())
        got = await rec.flight(any_store).arun(key(9), look, compute)
        await hold
        tick.cancel()
        return got, ticks

    got, ticks = asyncio.run(main())
    assert got == (False, b"theirs")
    assert ticks > 5  # the loop ran while the flight waited
    assert [w.outcome for w in rec.waits] == ["value"]


def test_async_leader_computes_under_the_lease(any_store: Any) -> None:
    async def main() -> tuple[bool, Any]:
        async def look() -> Any:
            return await any_store.aget(key(10))

        async def compute() -> bytes:
            assert await any_store.aacquire_lease(key(10), 30) is None  # held meanwhile
            await any_store.aset(key(10), b"v")
            return b"v"

        return await StoreFlight(any_store).arun(key(10), look, compute)

    assert asyncio.run(main()) == (True, b"v")
    assert any_store.acquire_lease(key(10), 30) is not None


# -- between processes -------------------------------------------------------------------


def _race(store: Any, name: str, calls: str, start: Any, results: Any, slow: float) -> None:
    start.wait(30)

    def compute() -> bytes:
        with open(calls, "a") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(slow)
        store.set(name, b"value")
        return b"value"

    results.put(StoreFlight(store).run(name, lambda: store.get(name), compute)[1])


@pytest.mark.parametrize("kind", ["disk", pytest.param("redis", marks=pytest.mark.redis),
                                  pytest.param("cluster", marks=pytest.mark.redis)])
def test_processes_missing_one_key_compute_it_once(make_store: Any, kind: str, tmp_path: Path) -> None:
    store = make_store(kind)
    calls = str(tmp_path / "calls")
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    results = ctx.Queue()
    procs = [ctx.Process(target=_race, args=(store, key(11), calls, start, results, 0.5)) for _ in range(4)]
    for p in procs:
        p.start()
    start.set()
    got = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert got == [b"value"] * 4
    assert len(Path(calls).read_text().splitlines()) == 1


@pytest.mark.parametrize("kind", ["disk", pytest.param("redis", marks=pytest.mark.redis)])
def test_a_killed_leader_holds_the_others_up_for_one_lease_at_most(
    make_store: Any, kind: str, tmp_path: Path
) -> None:
    store = make_store(kind, lease_ttl=1.0)
    calls = str(tmp_path / "calls")
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    results = ctx.Queue()
    leader = ctx.Process(target=_race, args=(store, key(12), calls, start, results, 120))
    leader.start()
    start.set()
    deadline = time.monotonic() + 60
    while not Path(calls).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert Path(calls).exists()  # the leader is computing, lease held
    rest = [ctx.Process(target=_race, args=(store, key(12), calls, start, results, 0.1)) for _ in range(3)]
    try:
        for p in rest:
            p.start()
        time.sleep(0.5)
        leader.kill()
        # Bounded: the dead leader's lease (1s) lapses; its own call would have taken 120s.
        got = [results.get(timeout=30) for _ in rest]
        for p in rest:
            p.join(30)
            assert p.exitcode == 0
    finally:
        for p in [leader, *rest]:
            p.kill()
            p.join(10)
    assert got == [b"value"] * 3
    assert len(Path(calls).read_text().splitlines()) == 2  # the dead leader, then one successor
