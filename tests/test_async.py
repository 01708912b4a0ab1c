"""Coroutine methods through every entry point: the awaited result is cached.

Also single flight across tasks, event loops, cancellation and re-entrancy.
Overlap between tasks is forced: a task started on the loop runs until its
first suspension, so once every task has announced itself the waiters are
parked on the shared computation.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from typing import Any

import pytest

from proxycache import CachedProxy, CachingMixin, cache_methods, cached_method

# -- the four entry points, one factory ----------------------------------------

ENTRY_POINTS = ("proxy", "inplace", "mixin", "decorator")


def make(kind: str, cls: type, **options: Any) -> Any:
    """An instance of *cls* whose public methods are cached through entry point *kind*.

    Methods that call other cached methods go through ``self.via``: set to the
    proxy for ``CachedProxy`` (calls the object makes on itself bypass a proxy)
    and to the instance itself for the others.
    """
    if kind == "proxy":
        obj = CachedProxy(cls(), **options)
    elif kind == "inplace":
        obj = cache_methods(cls(), **options)
    elif kind == "mixin":
        obj = type(f"Mixed{cls.__name__}", (CachingMixin, cls), {}, **options)()
    elif kind == "decorator":
        decorate = cached_method(**options)
        body = {
            name: decorate(func)
            for name, func in vars(cls).items()
            if inspect.isfunction(func) and not name.startswith("_")
            and not inspect.isgeneratorfunction(func) and not inspect.isasyncgenfunction(func)
        }
        obj = type(f"Decorated{cls.__name__}", (cls,), body)()
    else:  # pragma: no cover
        raise ValueError(kind)
    obj.via = obj
    return obj


entry_points = pytest.mark.parametrize("kind", ENTRY_POINTS)


async def settle(ready: Callable[[], bool], what: str) -> None:
    """Let other tasks run until *ready()*; fail (not hang) if they never get there."""
    for _ in range(10_000):
        if ready():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"tasks never reached: {what}")


async def start_parked(n: int, call: Callable[[], Any]) -> list[asyncio.Future[Any]]:
    """Start *n* tasks running ``await call()`` and return once each has made its call.

    A task runs until its first suspension and nothing in a cached call
    suspends before it parks on a computation in flight, so by then every
    task is either computing or waiting.
    """
    started = 0

    async def one() -> Any:
        nonlocal started
        started += 1
        return await call()

    tasks = [asyncio.ensure_future(one()) for _ in range(n)]
    await settle(lambda: started == n, f"{n} tasks calling")
    return tasks


class Remote:
    """An async client: counts calls; a call can be held at a gate until released."""

    def __init__(self) -> None:
        self.calls = 0
        self.entered = 0
        self.gate: asyncio.Event | None = None
        self.via: Any = self
        self.lock = threading.Lock()

    async def fetch(self, key: int) -> list[int]:
        with self.lock:  # called from two threads' loops in one test
            self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        return [key, key * key]

    async def fail(self, key: int) -> None:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        raise LookupError(key)

    async def fib(self, n: int) -> int:
        self.calls += 1
        if n < 2:
            return n
        a, b = await asyncio.gather(self.via.fib(n - 1), self.via.fib(n - 2))
        return int(a + b)

    async def outer(self, key: int) -> tuple[str, Any]:
        # Re-enters itself once with the same key, then calls another cached method.
        self.calls += 1
        if self.entered == 0:
            self.entered += 1
            return ("outer", await self.via.outer(key))
        return ("inner", await self.via.fetch(key))


# -- the awaited result is cached ------------------------------------------------


@entry_points
def test_awaited_result_is_cached_not_the_coroutine(kind: str) -> None:
    obj = make(kind, Remote)
    assert inspect.iscoroutinefunction(obj.fetch)

    async def main() -> tuple[Any, Any]:
        return await obj.fetch(3), await obj.fetch(3)

    first, second = asyncio.run(main())
    assert first == [3, 9]
    assert second is first  # the stored result, not a re-run or a coroutine
    assert obj.calls == 1
    info = obj.fetch.cache_info()
    assert (info.hits, info.misses, info.currsize) == (1, 1, 1)
    assert obj.fetch.cache_stats()["uncached"] == 0


@entry_points
def test_cache_works_across_event_loops(kind: str) -> None:
    obj = make(kind, Remote)
    first = asyncio.run(obj.fetch(5))
    second = asyncio.run(obj.fetch(5))  # a new loop, the same cache
    assert second is first
    assert obj.calls == 1
    assert obj.fetch.cache_info().hits == 1


@entry_points
def test_computation_cancelled_with_its_loop_does_not_poison_the_key(kind: str) -> None:
    obj = make(kind, Remote)

    async def abandon() -> None:
        obj.gate = asyncio.Event()  # never set: the computation is still running...
        task = asyncio.ensure_future(obj.fetch(7))
        await settle(lambda: obj.calls == 1, "the call to start")
        assert not task.done()
        # ...when asyncio.run() ends and cancels it

    asyncio.run(abandon())
    obj.gate = None
    assert asyncio.run(obj.fetch(7)) == [7, 49]  # another loop computes it afresh
    assert obj.calls == 2
    assert asyncio.run(obj.fetch(7)) == [7, 49]
    assert obj.calls == 2


@entry_points
def test_two_threads_with_their_own_loops_share_the_cache(kind: str) -> None:
    obj = make(kind, Remote)
    start = threading.Barrier(2)
    errors: list[BaseException] = []
    results: list[list[int]] = []
    rounds = 50

    async def loop_body() -> None:
        for i in range(rounds):
            results.append(await obj.fetch(i % 5))
            await asyncio.sleep(0)

    def run() -> None:
        try:
            start.wait(10)
            asyncio.run(loop_body())
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert not any(t.is_alive() for t in threads)
    assert sorted(map(tuple, results)) == sorted((i % 5, (i % 5) ** 2) for i in range(rounds) for _ in range(2))
    info = obj.fetch.cache_info()
    assert info.hits + info.misses == 2 * rounds
    assert info.misses == obj.calls
    assert obj.calls == 5  # a key missing in both loops at once is computed by one, awaited by the other


class Slow:
    """An async client whose calls take a while and can be held; used from loops in several threads."""

    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()
        self.hold = threading.Event()
        self.hold.set()

    async def fetch(self, key: int) -> list[int]:
        with self.lock:
            self.calls += 1
        await asyncio.sleep(0.1)
        while not self.hold.is_set():  # polled: a cancelled call ends at once, no thread left blocking
            await asyncio.sleep(0.01)
        return [key, self.calls]


def in_threads(count: int, job: Callable[[], Any]) -> list[Any]:
    """Run *job* in *count* threads at once; its results (an exception raised there is raised here)."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        try:
            start.wait(10)
            results[i] = job()
        except BaseException as error:  # pragma: no cover - raised below
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "a thread never finished"
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


@entry_points
def test_loops_in_several_threads_share_one_computation(kind: str) -> None:
    # asyncio.run() per job in a pool of threads (a task queue's workers, async_to_sync): the loops of
    # one process make one call per key, as its threads and tasks do.
    obj = make(kind, Slow)
    results = in_threads(8, lambda: asyncio.run(obj.fetch(1)))
    assert results == [[1, 1]] * 8
    assert obj.calls == 1


@entry_points
def test_a_loop_that_ends_while_computing_leaves_another_loops_waiter_to_compute(kind: str) -> None:
    obj = make(kind, Slow)
    obj.hold.clear()  # the first call is held...
    waiting = threading.Event()

    async def abandon() -> None:
        task = asyncio.ensure_future(obj.fetch(2))
        await asyncio.to_thread(waiting.wait, 10)
        await asyncio.sleep(0.3)  # the waiter has parked on this loop's computation
        assert not task.done()
        # ...when asyncio.run() ends and cancels it

    def waiter() -> list[int]:
        waiting.set()
        return asyncio.run(obj.fetch(2))

    first = threading.Thread(target=asyncio.run, args=(abandon(),))
    first.start()
    while obj.calls == 0:
        threading.Event().wait(0.01)
    results: list[Any] = []
    second = threading.Thread(target=lambda: results.append(waiter()))
    second.start()
    first.join(30)
    obj.hold.set()
    second.join(30)
    assert results == [[2, 2]]  # the waiter computed once the first loop gave up
    assert obj.calls == 2


# -- single flight across tasks ---------------------------------------------------


@entry_points
def test_hundred_gathered_tasks_on_one_key_make_one_call(kind: str) -> None:
    obj = make(kind, Remote)

    async def main() -> list[Any]:
        obj.gate = asyncio.Event()
        tasks = await start_parked(100, lambda: obj.fetch(1))
        assert obj.calls == 1  # 99 tasks are waiting, none computed
        obj.gate.set()
        return await asyncio.gather(*tasks)

    results = asyncio.run(main())
    assert obj.calls == 1
    assert all(r is results[0] for r in results)
    assert results[0] == [1, 1]
    info = obj.fetch.cache_info()
    assert (info.hits, info.misses) == (99, 1)


@entry_points
def test_gathered_tasks_share_one_exception_which_is_not_cached(kind: str) -> None:
    obj = make(kind, Remote)

    async def main() -> list[Any]:
        obj.gate = asyncio.Event()
        tasks = await start_parked(100, lambda: obj.fail(2))
        assert obj.calls == 1
        obj.gate.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    outcomes = asyncio.run(main())
    assert obj.calls == 1
    assert all(isinstance(o, LookupError) and o.args == (2,) for o in outcomes)
    assert obj.fail.cache_info().currsize == 0
    obj.gate = None
    with pytest.raises(LookupError):
        asyncio.run(obj.fail(2))
    assert obj.calls == 2  # not cached: the next call ran again


@entry_points
def test_exception_is_cached_when_asked(kind: str) -> None:
    obj = make(kind, Remote, cache_exceptions=LookupError)
    for _ in range(3):
        with pytest.raises(LookupError):
            asyncio.run(obj.fail(4))
    assert obj.calls == 1
    info = obj.fail.cache_info()
    assert (info.hits, info.misses, info.currsize) == (2, 1, 1)


@entry_points
def test_cancelled_computation_lets_a_waiter_compute(kind: str) -> None:
    obj = make(kind, Remote)

    async def main() -> list[Any]:
        obj.gate = asyncio.Event()
        leader = asyncio.ensure_future(obj.fetch(8))
        await settle(lambda: obj.calls == 1, "the leader to start")
        waiters = await start_parked(10, lambda: obj.fetch(8))
        assert obj.calls == 1
        leader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leader
        await settle(lambda: obj.calls == 2, "a waiter to take over")
        obj.gate.set()
        return await asyncio.gather(*waiters)

    results = asyncio.run(main())
    assert obj.calls == 2  # the cancelled call and exactly one retry
    assert all(r == [8, 64] for r in results)
    assert asyncio.run(obj.fetch(8)) == [8, 64]
    assert obj.calls == 2  # the retried result was cached


@entry_points
def test_cancelled_waiter_does_not_cancel_the_computation(kind: str) -> None:
    obj = make(kind, Remote)

    async def main() -> tuple[Any, Any]:
        obj.gate = asyncio.Event()
        leader = asyncio.ensure_future(obj.fetch(9))
        await settle(lambda: obj.calls == 1, "the leader to start")
        quitter, stayer = await start_parked(2, lambda: obj.fetch(9))
        quitter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await quitter
        obj.gate.set()
        return await leader, await stayer

    first, second = asyncio.run(main())
    assert first == [9, 81]
    assert second is first
    assert obj.calls == 1


@entry_points
def test_different_keys_compute_concurrently(kind: str) -> None:
    obj = make(kind, Remote)
    keys = range(8)

    async def main() -> list[Any]:
        # Every call is held until all eight are inside the method at once:
        # this only finishes if no key waits for another.
        obj.gate = asyncio.Event()
        tasks = [asyncio.ensure_future(obj.fetch(k)) for k in keys]
        await settle(lambda: obj.calls == len(keys), "all keys inside the method together")
        obj.gate.set()
        return await asyncio.gather(*tasks)

    assert asyncio.run(main()) == [[k, k * k] for k in keys]


# -- re-entrancy ------------------------------------------------------------------


@entry_points
def test_reentrant_recursion_over_gathered_keys(kind: str) -> None:
    obj = make(kind, Remote)
    assert asyncio.run(asyncio.wait_for(obj.fib(25), 10)) == 75025
    assert obj.calls == 26  # every n computed once, whatever the overlap


@entry_points
def test_reentrant_call_with_the_same_key_does_not_deadlock(kind: str) -> None:
    obj = make(kind, Remote)
    result = asyncio.run(asyncio.wait_for(obj.outer(1), 10))
    assert result == ("outer", ("inner", [1, 1]))
    assert asyncio.run(obj.outer(1)) == result
    assert obj.calls == 3  # outer, outer again (re-entered), fetch


# -- sync methods returning awaitables ------------------------------------------


class Scheduler:
    def __init__(self) -> None:
        self.calls = 0
        self.via: Any = self

    def later(self, value: int) -> Any:
        """A plain method that returns a coroutine: its awaited value is what gets cached."""
        self.calls += 1

        async def compute() -> int:
            await asyncio.sleep(0)
            return value * 10

        return compute()


@entry_points
def test_sync_method_returning_a_coroutine_caches_the_awaited_value(kind: str) -> None:
    obj = make(kind, Scheduler)

    async def main() -> list[int]:
        return [await obj.later(2) for _ in range(3)]

    assert asyncio.run(main()) == [20, 20, 20]  # reusing a coroutine would fail here
    assert obj.calls == 1
    stats = obj.later.cache_stats()
    assert (stats["hits"], stats["misses"], stats["currsize"], stats["uncached"]) == (2, 1, 1, 0)
    # A later event loop gets the stored value too.
    assert asyncio.run(main()) == [20, 20, 20]
    assert obj.calls == 1


@entry_points
def test_sync_method_returning_a_coroutine_has_single_flight(kind: str) -> None:
    obj = make(kind, Scheduler)

    async def main() -> list[int]:
        # The first call finds out the method hands back awaitables; the 19
        # calls after it already take the async path and wait for its result.
        first = await asyncio.gather(*[obj.later(3) for _ in range(20)])
        second = await asyncio.gather(*[obj.later(4) for _ in range(20)])
        return [*first, *second]

    assert asyncio.run(main()) == [30] * 20 + [40] * 20
    assert obj.calls == 2  # one run per key
    info = obj.later.cache_info()
    assert (info.hits, info.misses, info.currsize) == (38, 2, 2)


@entry_points
def test_sync_method_returning_a_coroutine_can_be_refreshed(kind: str) -> None:
    obj = make(kind, Scheduler)

    async def main() -> list[int]:
        first = await obj.later(5)
        refreshed = await obj.later.cache_refresh(5)
        return [first, refreshed, await obj.later(5)]

    assert asyncio.run(main()) == [50, 50, 50]
    assert obj.calls == 2
