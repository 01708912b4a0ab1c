"""Single flight for threads: concurrent calls with one key run the method once.

Overlap is forced, never hoped for: the computing call is held at a gate
until every other thread is seen parked inside proxycache waiting for it
(their stacks are inspected), and concurrency between different keys is
proven by holding every key's computation inside the method until all of
them are in there at the same time.
"""

from __future__ import annotations

import inspect
import os
import select
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import proxycache
from proxycache import CachedProxy

from .test_async import entry_points, make

_PACKAGE = os.path.dirname(proxycache.__file__)
_THREADING = threading.__file__


def parked_in_proxycache(thread: threading.Thread) -> bool:
    """Whether *thread* is blocked in a threading wait called by proxycache itself.

    A thread computing a result is blocked too (at the test's gate), but its
    wait is called from the test's method, not from proxycache.
    """
    frame = sys._current_frames().get(thread.ident)  # type: ignore[arg-type]
    if frame is None:
        return False
    if frame.f_code.co_filename.startswith(_PACKAGE) and frame.f_code.co_name == "wait":
        return True  # blocked on the flight's lock (a C call made from proxycache's own frame)
    if frame.f_code.co_filename != _THREADING:
        return False
    while frame is not None and frame.f_code.co_filename == _THREADING:
        frame = frame.f_back
    return frame is not None and frame.f_code.co_filename.startswith(_PACKAGE)


def wait_until(ready: Callable[[], bool], what: str, limit: float = 10.0) -> None:
    """Poll until *ready()*; fail with *what* instead of hanging if it never happens."""
    deadline = time.monotonic() + limit
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.001)


class Runner:
    """Runs callables in daemon threads that start together and keeps their outcomes."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.outcomes: dict[int, tuple[bool, Any]] = {}

    def start(self, calls: list[Callable[[], Any]]) -> list[threading.Thread]:
        barrier = threading.Barrier(len(calls))

        def run(i: int, call: Callable[[], Any]) -> None:
            barrier.wait(10)
            try:
                self.outcomes[i] = (True, call())
            except BaseException as error:
                self.outcomes[i] = (False, error)

        base = len(self.threads)
        new = [threading.Thread(target=run, args=(base + i, c), daemon=True) for i, c in enumerate(calls)]
        self.threads += new
        for t in new:
            t.start()
        return new

    def join(self) -> list[tuple[bool, Any]]:
        for t in self.threads:
            t.join(10)
        assert not any(t.is_alive() for t in self.threads), "a thread is stuck"
        return [self.outcomes[i] for i in range(len(self.threads))]


class Slow:
    """A slow service. The first call of a held key waits at a gate until the test opens it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[Any] = []
        self.held: set[Any] = set()
        self.gate = threading.Event()
        self.inside = threading.Event()
        self.via: Any = self
        self.die_once: BaseException | None = None

    def _enter(self, key: Any) -> None:
        with self.lock:
            self.calls.append(key)
            first = self.calls.count(key) == 1
        if first and key in self.held:
            self.inside.set()
            assert self.gate.wait(10), "the test never opened the gate"
            if self.die_once is not None:
                error, self.die_once = self.die_once, None
                raise error

    def get(self, key: int) -> dict[str, int]:
        self._enter(key)
        return {"key": key}

    def fail(self, key: int) -> None:
        self._enter(key)
        raise ValueError(f"no {key}")

    def fib(self, n: int) -> int:
        with self.lock:
            self.calls.append(n)
        return n if n < 2 else int(self.via.fib(n - 1) + self.via.fib(n - 2))

    def again(self, key: int) -> tuple[str, Any]:
        """Calls itself once with the same key, then another cached method."""
        with self.lock:
            self.calls.append(("again", key))
            depth = self.calls.count(("again", key))
        if depth == 1:
            return ("outer", self.via.again(key))
        return ("inner", self.via.get(key))


def hold(obj: Any, *keys: Any) -> None:
    """Make the first call of each of *keys* wait at the gate."""
    obj.held = set(keys)
    obj.gate.clear()
    obj.inside.clear()


def open_gate_when_parked(obj: Any, threads: list[threading.Thread]) -> None:
    """Wait for one call inside the method and every other thread parked on it; then release."""
    assert obj.inside.wait(10)
    wait_until(lambda: sum(map(parked_in_proxycache, threads)) >= len(threads) - 1, "waiters parked")
    obj.gate.set()


# -- one call for sixteen threads ------------------------------------------------


@entry_points
def test_sixteen_threads_same_key_make_one_call(kind: str) -> None:
    obj = make(kind, Slow)
    hold(obj, 1)
    run = Runner()
    threads = run.start([lambda: obj.get(1)] * 16)
    open_gate_when_parked(obj, threads)
    outcomes = run.join()
    assert obj.calls == [1]
    results = [value for ok, value in outcomes if ok]
    assert len(results) == 16
    assert all(r is results[0] for r in results)  # the very same object
    info = obj.get.cache_info()
    assert (info.hits, info.misses, info.currsize) == (15, 1, 1)


@entry_points
def test_one_call_per_key_between_misses_nobody_waited_for(kind: str) -> None:
    # A miss nobody waits for leaves its flight to the next one: the flights
    # waited on (and those after them) must still gather every caller.
    obj = make(kind, Slow)
    for round_, key in enumerate((1, 2, 3)):
        assert [obj.get(k)["key"] for k in (100 + 2 * round_, 101 + 2 * round_)] == [100 + 2 * round_, 101 + 2 * round_]
        hold(obj, key)
        run = Runner()
        threads = run.start([lambda key=key: obj.get(key)] * 8)
        open_gate_when_parked(obj, threads)
        outcomes = run.join()
        assert all(ok for ok, _ in outcomes)
        results = [value for _, value in outcomes]
        assert all(r is results[0] for r in results)
        assert results[0] == {"key": key}
    assert sorted(k for k in obj.calls if k < 100) == [1, 2, 3]
    assert len(obj.calls) == 9
    info = obj.get.cache_info()
    assert (info.hits, info.misses, info.currsize) == (21, 9, 9)


@entry_points
def test_sixteen_threads_share_one_exception_which_is_not_cached(kind: str) -> None:
    obj = make(kind, Slow)
    hold(obj, 2)
    run = Runner()
    threads = run.start([lambda: obj.fail(2)] * 16)
    open_gate_when_parked(obj, threads)
    outcomes = run.join()
    assert obj.calls == [2]
    assert all(not ok and isinstance(e, ValueError) and str(e) == "no 2" for ok, e in outcomes)
    assert obj.fail.cache_info().currsize == 0
    with pytest.raises(ValueError, match="no 2"):
        obj.fail(2)
    assert obj.calls == [2, 2]  # not cached: the next call ran again


@entry_points
def test_shared_exception_is_cached_when_asked(kind: str) -> None:
    obj = make(kind, Slow, cache_exceptions=ValueError)
    hold(obj, 3)
    run = Runner()
    threads = run.start([lambda: obj.fail(3)] * 16)
    open_gate_when_parked(obj, threads)
    assert all(not ok and isinstance(e, ValueError) for ok, e in run.join())
    with pytest.raises(ValueError, match="no 3"):
        obj.fail(3)
    assert obj.calls == [3]
    assert obj.fail.cache_info().currsize == 1


def test_cached_exception_traceback_does_not_grow_with_hits() -> None:
    # Each raise appends the raising frames to the exception's traceback; a
    # cached exception raised on every hit must not pile up callers' frames.
    proxy = CachedProxy(Slow(), cache_exceptions=ValueError)

    def depth() -> int:
        try:
            proxy.fail(1)
        except ValueError as error:
            tb, n = error.__traceback__, 0
            while tb is not None:
                tb, n = tb.tb_next, n + 1
            return n
        raise AssertionError("did not raise")  # pragma: no cover

    depths = [depth() for _ in range(5)]
    assert depths[1] == depths[2] == depths[3] == depths[4]


# -- different keys never wait on each other -------------------------------------


@entry_points
def test_different_keys_compute_at_the_same_time(kind: str) -> None:
    obj = make(kind, Slow)
    # Every key is held inside the method until all eight are in there at
    # once, which cannot happen if any key waits for another.
    hold(obj, *range(8))
    run = Runner()
    run.start([lambda k=k: obj.get(k) for k in range(8)])
    wait_until(lambda: len(obj.calls) == 8, "all eight keys inside the method together")
    obj.gate.set()
    outcomes = run.join()
    assert [value for _, value in outcomes] == [{"key": k} for k in range(8)]


@entry_points
def test_a_key_being_computed_and_waited_for_does_not_block_another(kind: str) -> None:
    obj = make(kind, Slow)
    hold(obj, 1)
    run = Runner()
    threads = run.start([lambda: obj.get(1)] * 4)
    assert obj.inside.wait(10)
    wait_until(lambda: sum(map(parked_in_proxycache, threads)) == 3, "waiters parked on key 1")
    assert obj.get(2) == {"key": 2}  # passes while key 1 is still held
    assert obj.get(2) == {"key": 2}
    assert obj.calls == [1, 2]
    obj.gate.set()
    assert all(value == {"key": 1} for _, value in run.join())
    assert obj.calls == [1, 2]


# -- a waiter is never stuck -------------------------------------------------------


class Abort(BaseException):
    """Not an Exception: like KeyboardInterrupt, it must not be shared with waiters."""


@entry_points
def test_waiters_recompute_when_the_computing_call_dies(kind: str) -> None:
    obj = make(kind, Slow)
    hold(obj, 4)
    obj.die_once = Abort()
    run = Runner()
    threads = run.start([lambda: obj.get(4)] * 8)
    open_gate_when_parked(obj, threads)
    outcomes = run.join()
    died = [e for ok, e in outcomes if not ok]
    assert len(died) == 1  # only the computing call
    assert isinstance(died[0], Abort)
    assert [value for ok, value in outcomes if ok] == [{"key": 4}] * 7
    assert obj.calls == [4, 4]  # one retry computed for all the others
    assert obj.get(4) == {"key": 4}
    assert obj.calls == [4, 4]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_waiter_does_not_hang_on_a_computation_whose_thread_is_gone() -> None:
    # A process forked while a thread computes a key inherits the
    # computation's record but not the thread: a call there must compute.
    obj = Slow()
    proxy = CachedProxy(obj)
    hold(obj, 5)
    computing = threading.Thread(target=proxy.get, args=(5,), daemon=True)
    computing.start()
    assert obj.inside.wait(10)
    try:
        answer = _in_forked_child(lambda: (obj.gate.set(), proxy.get(5), obj.calls)[1:])
    finally:
        obj.gate.set()
        computing.join(10)
    assert answer == repr(({"key": 5}, [5, 5]))


def _in_forked_child(report: Any) -> str | None:
    """repr(report()) as a forked child computes it (None if it takes over 10 s)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.write(write, repr(report()).encode())
        finally:
            os._exit(0)
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], 10)
        return os.read(read, 1000).decode() if ready else None
    finally:
        if not ready:
            os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(read)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_method_first_called_after_a_fork() -> None:
    # Its lock and flights are made on its first miss: in the child, for the first time.
    obj = Slow()
    proxy = CachedProxy(obj)
    get = proxy.get  # made, never called
    answer = _in_forked_child(lambda: (obj.gate.set(), get(3), get(3), get.cache_info()[:2], obj.calls)[1:])
    assert answer == repr(({"key": 3}, {"key": 3}, (1, 1), [3]))
    obj.gate.set()
    assert get(3) == {"key": 3}  # the parent's cache is its own
    assert get.cache_info()[:2] == (0, 1)


# -- re-entrancy -------------------------------------------------------------------


@entry_points
def test_reentrant_recursion_computes_each_key_once(kind: str) -> None:
    obj = make(kind, Slow)
    assert obj.fib(30) == 832040
    assert sorted(obj.calls) == list(range(31))


@entry_points
def test_reentrant_recursion_from_many_threads_does_not_deadlock(kind: str) -> None:
    obj = make(kind, Slow)
    run = Runner()
    run.start([lambda n=n: obj.fib(n) for n in range(40, 48)])
    outcomes = run.join()
    fibs = [0, 1]
    while len(fibs) < 48:
        fibs.append(fibs[-1] + fibs[-2])
    assert [value for _, value in outcomes] == fibs[40:48]
    assert sorted(obj.calls) == list(range(48))  # single flight across the recursion


@entry_points
def test_reentrant_call_with_the_same_key_does_not_deadlock(kind: str) -> None:
    obj = make(kind, Slow)
    run = Runner()
    run.start([lambda: obj.again(6)])
    [(ok, value)] = run.join()
    assert ok, value
    assert value == ("outer", ("inner", {"key": 6}))
    assert obj.again(6) == value
    assert obj.calls == [("again", 6), ("again", 6), 6]


# -- clear and invalidate win over a miss in flight ---------------------------------


class Source:
    """Reads ``data`` as the call starts; the first call then waits at a gate."""

    def __init__(self) -> None:
        self.data = "old"
        self.calls = 0
        self.inside = threading.Event()
        self.gate = threading.Event()
        self.via: Any = self

    def read(self, key: str) -> str:
        self.calls += 1
        value = self.data
        if self.calls == 1:
            self.inside.set()
            assert self.gate.wait(10), "the test never opened the gate"
        return value


def drop(obj: Any, how: str) -> Any:
    """Clear, invalidate or refresh while the first miss is running (a refresh's coroutine for a coroutine method)."""
    if how == "clear":
        obj.read.cache_clear()
    elif how == "invalidate":
        assert obj.read.cache_invalidate("k") is False  # nothing stored yet: the miss is still running
    else:
        refreshed = obj.read.cache_refresh("k")
        assert refreshed == "new" or inspect.isawaitable(refreshed)
        return refreshed
    return None


@entry_points
@pytest.mark.parametrize("how", ["clear", "invalidate", "refresh"])
def test_a_call_after_a_clear_does_not_join_the_miss_in_flight(kind: str, how: str) -> None:
    obj = make(kind, Source)
    first: list[str] = []
    computing = threading.Thread(target=lambda: first.append(obj.read("k")))
    computing.start()
    assert obj.inside.wait(10)
    obj.data = "new"
    drop(obj, how)
    assert obj.read("k") == "new"  # computed afresh, not the flight that read "old"
    obj.gate.set()
    computing.join(10)
    assert first == ["old"]  # the caller from before the clear gets what it computed...
    assert obj.read("k") == "new"  # ...which was not stored over the newer entry
    assert obj.calls == 2


@entry_points
@pytest.mark.parametrize("how", ["clear", "invalidate", "refresh"])
def test_a_miss_that_read_before_a_clear_is_not_stored(kind: str, how: str) -> None:
    obj = make(kind, Source)
    first: list[str] = []
    computing = threading.Thread(target=lambda: first.append(obj.read("k")))
    computing.start()
    assert obj.inside.wait(10)
    obj.data = "new"
    drop(obj, how)
    obj.gate.set()
    computing.join(10)
    assert first == ["old"]
    assert obj.read("k") == "new"
    assert obj.read("k") == "new"
    assert obj.calls == 2


@entry_points
def test_callers_waiting_on_a_miss_a_refresh_overtook_still_get_its_value(kind: str) -> None:
    obj = make(kind, Source)
    got: list[str] = []
    leader = threading.Thread(target=lambda: got.append(obj.read("k")))
    leader.start()
    assert obj.inside.wait(10)
    waiter = threading.Thread(target=lambda: got.append(obj.read("k")))
    waiter.start()
    time.sleep(0.2)  # the waiter joins the running miss's flight
    obj.data = "new"
    assert obj.read.cache_refresh("k") == "new"
    obj.gate.set()
    leader.join(10)
    waiter.join(10)
    assert got == ["old", "old"]  # both answered with what the miss computed...
    assert obj.read("k") == "new"  # ...which did not overwrite the refreshed value
    assert obj.calls == 2
    assert obj.read.cache_stats()["coalesced"] == 1


class AsyncSource:
    def __init__(self) -> None:
        self.data = "old"
        self.calls = 0
        self.via: Any = self
        self.inside: Any = None
        self.gate: Any = None

    async def read(self, key: str) -> str:
        self.calls += 1
        value = self.data
        if self.calls == 1:
            self.inside.set()
            await self.gate.wait()
        return value


@entry_points
@pytest.mark.parametrize("how", ["clear", "invalidate", "refresh"])
def test_clear_wins_over_a_task_in_flight(kind: str, how: str) -> None:
    import asyncio

    async def scenario() -> None:
        obj = make(kind, AsyncSource)
        obj.inside, obj.gate = asyncio.Event(), asyncio.Event()
        computing = asyncio.ensure_future(obj.read("k"))
        await asyncio.wait_for(obj.inside.wait(), 10)
        obj.data = "new"
        refreshed = drop(obj, how)
        if refreshed is not None:
            assert await asyncio.wait_for(refreshed, 10) == "new"
        assert await asyncio.wait_for(obj.read("k"), 10) == "new"  # not a join of the old task's flight
        obj.gate.set()
        assert await asyncio.wait_for(computing, 10) == "old"
        assert await obj.read("k") == "new"  # the old result was not stored
        assert obj.calls == 2

    asyncio.run(scenario())
