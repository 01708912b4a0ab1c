"""``bypass()``: calls inside neither read nor write caches, per thread and per task.

Bypassed calls are invisible to the statistics: they count as neither hits
nor misses (the cache took no part in them).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from proxycache import bypass

from .test_async import entry_points, make, settle
from .test_single_flight import Runner, wait_until


class Source:
    """Answers with the current version of each key, so stale results show."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = 0
        self.version = 0
        self.held: set[int] = set()
        self.gate = threading.Event()
        self.inside = threading.Event()
        self.via: Any = self

    def get(self, key: int) -> tuple[int, int]:
        with self.lock:
            self.calls += 1
        if key in self.held:
            self.held.discard(key)
            self.inside.set()
            assert self.gate.wait(10)
        return (key, self.version)

    async def aget(self, key: int) -> tuple[int, int]:
        with self.lock:
            self.calls += 1
        return (key, self.version)


def counts(func: Any) -> tuple[int, int, int]:
    info = func.cache_info()
    return info.hits, info.misses, info.currsize


@entry_points
def test_bypassed_calls_neither_read_nor_write(kind: str) -> None:
    obj = make(kind, Source)
    assert obj.get(1) == (1, 0)
    obj.version = 1
    before = counts(obj.get)
    with bypass():
        assert obj.get(1) == (1, 1)  # not read: the method ran
        assert obj.get(2) == (2, 1)  # not written...
    assert obj.calls == 3
    assert counts(obj.get) == before  # ...and not counted
    assert obj.get(1) == (1, 0)  # the cached entry is untouched
    assert obj.get(2) == (2, 1)  # ...and this one was a miss
    assert obj.calls == 4
    assert counts(obj.get) == (1, 2, 2)


@entry_points
def test_blocks_nest(kind: str) -> None:
    obj = make(kind, Source)
    obj.get(1)
    with bypass():
        with bypass():
            obj.get(1)
        obj.get(1)  # still inside the outer block
        assert obj.calls == 3
    obj.get(1)
    assert obj.calls == 3
    assert counts(obj.get) == (1, 1, 1)


def test_an_error_leaves_the_block() -> None:
    obj = make("proxy", Source)
    obj.get(1)
    with pytest.raises(RuntimeError), bypass():
        raise RuntimeError
    obj.get(1)
    assert obj.calls == 1
    assert counts(obj.get) == (1, 1, 1)


@entry_points
def test_bypass_is_per_thread(kind: str) -> None:
    obj = make(kind, Source)
    obj.get(1)
    inside, done = threading.Event(), threading.Event()

    def bypassing() -> Any:
        with bypass():
            inside.set()
            assert done.wait(10)
            return obj.get(1)

    run = Runner()
    run.start([bypassing])
    assert inside.wait(10)
    # Another thread is inside a bypass block right now: this thread is not.
    assert obj.get(1) == (1, 0)
    assert obj.calls == 1
    assert counts(obj.get) == (1, 1, 1)
    done.set()
    assert run.join() == [(True, (1, 0))]
    assert obj.calls == 2  # the other thread's call ran through
    assert counts(obj.get) == (1, 1, 1)


@entry_points
def test_bypass_is_per_task(kind: str) -> None:
    obj = make(kind, Source)

    async def main() -> None:
        await obj.aget(1)
        entered, leave = asyncio.Event(), asyncio.Event()

        async def bypassing() -> Any:
            with bypass():
                entered.set()
                await leave.wait()
                return await obj.aget(1)

        task = asyncio.ensure_future(bypassing())
        await entered.wait()
        assert await obj.aget(1) == (1, 0)  # this task is not bypassed
        assert obj.calls == 1
        leave.set()
        assert await task == (1, 0)
        assert obj.calls == 2

        # Tasks started inside a block inherit it (contextvars are copied).
        with bypass():
            assert await asyncio.ensure_future(obj.aget(1)) == (1, 0)
        assert obj.calls == 3

    asyncio.run(main())
    assert counts(obj.aget) == (1, 1, 1)


def test_a_task_started_in_a_block_is_bypassed_only_while_it_is_open() -> None:
    obj = make("proxy", Source)
    elsewhere_open, elsewhere_close = threading.Event(), threading.Event()

    def hold_a_block_open() -> None:
        with bypass():
            elsewhere_open.set()
            assert elsewhere_close.wait(10)

    async def main() -> None:
        await obj.aget(1)
        inside, after = asyncio.Event(), asyncio.Event()

        async def child() -> None:
            await inside.wait()
            await obj.aget(1)  # the block that started this task is open
            await after.wait()
            await obj.aget(1)  # it has closed: the cache is read again

        with bypass():
            task = asyncio.ensure_future(child())
            inside.set()
            await settle(lambda: obj.calls == 2, "the child's bypassed call")
        # The answer must not depend on a block some other thread has open.
        run = Runner()
        run.start([hold_a_block_open])
        assert elsewhere_open.wait(10)
        after.set()
        await task
        elsewhere_close.set()
        run.join()

    asyncio.run(main())
    assert obj.calls == 2
    assert counts(obj.aget) == (1, 1, 1)


def test_bypass_tasks_interleaving_on_one_loop() -> None:
    obj = make("proxy", Source)

    async def main() -> None:
        await obj.aget(1)
        steps = 0

        async def worker(skip: bool) -> None:
            nonlocal steps
            for _ in range(20):
                if skip:
                    with bypass():
                        await asyncio.sleep(0)  # other tasks run while this one is bypassed
                        await obj.aget(1)
                else:
                    await obj.aget(1)
                    await asyncio.sleep(0)
                steps += 1

        await asyncio.gather(*(worker(i % 2 == 0) for i in range(6)))
        assert steps == 120

    asyncio.run(main())
    assert obj.calls == 1 + 3 * 20  # only the bypassed calls ran the method
    assert counts(obj.aget) == (3 * 20, 1, 1)  # and only the others were counted


@entry_points
def test_bypassed_call_does_not_wait_for_a_computation_in_flight(kind: str) -> None:
    obj = make(kind, Source)
    obj.held = {1}
    run = Runner()
    run.start([lambda: obj.get(1)])
    assert obj.inside.wait(10)
    with bypass():
        assert obj.get(1) == (1, 0)  # returns while the cached call is still held
    obj.gate.set()
    assert run.join() == [(True, (1, 0))]
    assert obj.calls == 2
    assert counts(obj.get) == (0, 1, 1)


def test_cache_read_by_others_while_blocks_open_in_many_threads() -> None:
    obj = make("proxy", Source)
    obj.get(0)
    start = threading.Barrier(8)
    errors: list[BaseException] = []
    bypassed = [0] * 8

    def work(i: int) -> None:
        try:
            start.wait(10)
            for n in range(200):
                if (i + n) % 3 == 0:
                    with bypass():
                        assert obj.get(0) == (0, 0)
                        bypassed[i] += 1
                else:
                    assert obj.get(0) == (0, 0)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    wait_until(lambda: not any(t.is_alive() for t in threads), "workers to finish")
    assert not errors
    assert obj.calls == 1 + sum(bypassed)
    hits, misses, size = counts(obj.get)
    assert (misses, size) == (1, 1)
    assert hits == 8 * 200 - sum(bypassed)
