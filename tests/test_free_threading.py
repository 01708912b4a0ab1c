"""Hits from threads that really run at once: what a free-threaded build (the GIL off) changes.

CI runs this file, with ``tests/test_thread_safety.py``, on CPython 3.13
built with ``--disable-gil`` and ``PYTHON_GIL=0`` (see ``.ci/run``), and in
the suite with the GIL. Without the GIL these are the races that crashed the
interpreter or lost counts before hits knew of it:

* the hit counter read by ``cache_info()`` while other threads' hits replace
  it (a float freed under the reader: a segmentation fault);
* an LRU hit moving its entry while another thread's miss inserts or evicts
  in the same ``OrderedDict``, which CPython 3.13 does not guard;
* an LFU hit's use count written back after an eviction deleted it;
* a method's cells set as it is armed while other threads run it;
* one exception raised in several threads at once (a flight's waiters, hits
  of a cached exception), reading the frames of the thread that raised it
  while they still run.

Each test is a few thousand calls from four threads, checked with the public
API only: every answer right, ``hits + misses`` equal to the calls, the size
within ``maxsize``.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

from proxycache import cache_methods
from proxycache._flags import NO_GIL

THREADS = 4


class Doubler:
    def __init__(self) -> None:
        self.calls = 0

    def get(self, key: int) -> int:
        self.calls += 1  # racy without the GIL, and never asserted on
        return key * 2


def run_threads(work: Callable[[int], None], threads: int = THREADS) -> None:
    """Run *work(i)* in *threads* threads started together; re-raise the first failure."""
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def body(i: int) -> None:
        try:
            start.wait(10)
            work(i)
        except BaseException as error:
            errors.append(error)

    pool = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(60)
    assert not any(thread.is_alive() for thread in pool), "a thread is stuck"
    if errors:
        raise errors[0]


def test_no_gil_is_what_the_interpreter_runs() -> None:
    assert NO_GIL is (not getattr(sys, "_is_gil_enabled", lambda: True)())


POLICIES: dict[str, dict[str, Any]] = {
    "lru": {"maxsize": 8},
    "lfu": {"maxsize": 8, "policy": "lfu"},
    "fifo": {"maxsize": 8, "policy": "fifo"},
    "rr": {"maxsize": 8, "policy": "rr"},
    "unbounded": {"maxsize": None},
    "lru-ttl": {"maxsize": 8, "ttl": 60},
}


@pytest.mark.parametrize("options", POLICIES.values(), ids=POLICIES.keys())
def test_hits_and_evicting_misses_at_once_stay_right_and_counted(options: dict[str, Any]) -> None:
    """Threads hit and miss one small cache at once: it evicts all the time while others hit."""
    obj = Doubler()
    get = cache_methods(obj, "get", **options).get
    rounds = 2000

    def work(i: int) -> None:
        for n in range(rounds):
            key = (n * (i + 1)) % 12  # 12 keys over 8 entries: hits, misses and evictions
            assert get(key) == key * 2

    run_threads(work)
    info = get.cache_info()  # type: ignore[attr-defined]
    assert info.hits + info.misses == THREADS * rounds
    assert info.currsize <= (info.maxsize or 12)
    for key in range(12):  # what is left is still right, and still found
        assert get(key) == key * 2


def test_cache_info_read_while_hits_count() -> None:
    """Statistics read in a loop while other threads hit: exact, and nothing freed under the reader."""
    obj = Doubler()
    get = cache_methods(obj, "get").get
    for key in range(4):
        get(key)
    done = threading.Event()
    rounds = 5000

    def work(i: int) -> None:
        if i == 0:
            while not done.is_set():
                info = get.cache_info()  # type: ignore[attr-defined]
                assert 0 <= info.hits <= (THREADS - 1) * rounds
            return
        try:
            for n in range(rounds):
                get(n % 4)
        finally:
            if i == 1:
                done.set()

    run_threads(work)
    done.set()
    assert get.cache_info().hits == (THREADS - 1) * rounds  # type: ignore[attr-defined]


def test_clears_while_hits_count_leave_exact_statistics() -> None:
    """A clear resets the count of hits that other threads keep adding to: what follows adds up."""
    obj = Doubler()
    get = cache_methods(obj, "get").get
    get(1)
    clearing = threading.Event()

    def work(i: int) -> None:
        if i == 0:
            for _ in range(200):
                get.cache_clear()  # type: ignore[attr-defined]
            clearing.set()
            return
        while not clearing.is_set():
            assert get(1) == 2

    run_threads(work)
    get.cache_clear()  # type: ignore[attr-defined]
    for _ in range(10):
        get(1)
    info = get.cache_info()  # type: ignore[attr-defined]
    assert (info.hits, info.misses) == (9, 1)


def test_methods_armed_while_other_threads_call_them() -> None:
    """Many new instances, each called first by four threads at once: arming sets cells others read."""
    for _ in range(150):
        obj = Doubler()
        get = cache_methods(obj, "get", policy="fifo").get  # armed on its first miss

        def work(i: int, get: Any = get) -> None:
            for n in range(20):
                assert get(n % 3) == (n % 3) * 2

        run_threads(work)
        info = get.cache_info()
        assert info.hits + info.misses == THREADS * 20
        assert info.misses >= 3


class Failing:
    """A method that fails slowly enough for other threads to join its flight."""

    def __init__(self) -> None:
        self.calls = 0

    def get(self, key: int) -> int:
        self.calls += 1
        threading.Event().wait(0.002)
        raise LookupError(f"no {key}")


def test_a_flight_s_error_raised_in_every_waiting_thread() -> None:
    """The leader's exception reaches every thread that waited on its flight, as its own raise.

    Without the GIL on 3.13, raising one exception object in two threads at
    once can crash the interpreter (its traceback is swapped without a lock):
    each waiter then raises a copy, of the same class with the same message.
    """
    for _ in range(100):
        obj = Failing()
        get = cache_methods(obj, "get").get
        errors: list[BaseException] = []

        def work(i: int, get: Any = get, errors: list[BaseException] = errors) -> None:
            with pytest.raises(LookupError, match="no 1") as caught:
                get(1)
            errors.append(caught.value)

        run_threads(work)
        assert len(errors) == THREADS
        assert all(type(e) is LookupError and e.__traceback__ is not None for e in errors)


def test_a_cached_error_raised_by_hits_in_many_threads() -> None:
    """``cache_exceptions=``: every hit, in every thread, raises the stored error (its class and message)."""
    obj = Failing()
    get = cache_methods(obj, "get", cache_exceptions=(LookupError,)).get
    with pytest.raises(LookupError):
        get(1)

    def work(i: int) -> None:
        for _ in range(500):
            with pytest.raises(LookupError, match="no 1") as caught:
                get(1)
            assert caught.value.__cause__ is None

    run_threads(work)
    assert obj.calls == 1
    assert get.cache_info().hits == THREADS * 500  # type: ignore[attr-defined]
