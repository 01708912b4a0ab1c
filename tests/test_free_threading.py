"""Hits from threads that really run at once: what a free-threaded build (the GIL off) changes.

CI runs this file, with ``tests/test_thread_safety.py``, on CPython 3.13
built with ``--disable-gil`` and ``PYTHON_GIL=0`` (see ``.ci/run``), and in
the suite with the GIL. Without the GIL these are the races that crashed the
interpreter or lost counts before hits knew of it:

* the hit counter read by ``cache_info()`` while other threads' hits replace
  it (a float freed under the reader: a segmentation fault);
* an LRU hit moving its entry while another thread's miss inserts or evicts
  in the same ``OrderedDict``, which CPython 3.13 does not guard;
* an LFU hit's use count written back after an eviction deleted it (both
  hits now only read, and leave the move or the count to the lock's next
  holder: the tests at the end hold them to the policy's exact evictions,
  and to taking no lock);
* a method's cells set as it is armed while other threads run it;
* one exception raised in several threads at once (a flight's waiters, hits
  of a cached exception), reading the frames of the thread that raised it
  while they still run.

Each test is a few thousand calls from four threads, checked with the public
API only: every answer right, ``hits + misses`` equal to the calls, the size
within ``maxsize``.
"""

from __future__ import annotations

import random
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any

import pytest

from proxycache import cache_methods
from proxycache._flags import DRAIN_EVERY, NO_GIL

THREADS = 4


class Doubler:
    def __init__(self) -> None:
        self.calls = 0

    def get(self, key: int) -> int:
        self.calls += 1  # racy without the GIL: asserted on only by the tests that call from one thread
        return key * 2

    def echo(self, key: Any) -> Any:
        self.calls += 1
        return key


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


class ModelCache:
    """What an LRU or LFU cache of *maxsize* holds after each call: the reference the tests below hold it to."""

    def __init__(self, policy: str, maxsize: int) -> None:
        self.policy, self.maxsize = policy, maxsize
        self.entries: dict[int, list[int]] = {}  # key: [uses, order]; order: last use (lru) or insertion (lfu)
        self.clock = 0

    def call(self, key: int) -> bool:
        """Whether calling with *key* hits; the model changes as the cache does."""
        self.clock += 1
        entry = self.entries.get(key)
        if entry is not None:
            entry[0] += 1
            if self.policy == "lru":
                entry[1] = self.clock
            return True
        if len(self.entries) >= self.maxsize:
            rank = (lambda k: self.entries[k][1]) if self.policy == "lru" else (lambda k: tuple(self.entries[k]))
            del self.entries[min(self.entries, key=rank)]
        self.entries[key] = [0, self.clock]
        return False


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("key_attrs", [[], ["tenant"]], ids=["", "key_attrs"])
@pytest.mark.parametrize("policy", ["lru", "lfu"])
def test_evictions_in_exact_order_over_thousands_of_hits(policy: str, key_attrs: list[str], seed: int) -> None:
    """Hits, misses, invalidations and clears against a model cache: every call hits or misses as it says.

    Without the GIL, hits record their keys and their bookkeeping (the LRU
    move, the LFU count) is done later, under the lock: on a miss, an
    invalidation, every DRAIN_EVERY calls. Several of each happen here, and
    the evictions must still be the policy's own. With ``key_attrs``, the
    storage also keeps an index of its keys, and stores through the general put.
    """
    rng = random.Random(seed)
    obj = Doubler()
    obj.tenant = "a"  # type: ignore[attr-defined]
    get = cache_methods(obj, "get", maxsize=8, policy=policy, key_attrs=key_attrs).get
    model = ModelCache(policy, 8)
    for step in range(4 * DRAIN_EVERY):
        roll = rng.random()
        key = rng.randrange(12) if roll < 0.97 else rng.randrange(3)
        if roll > 0.995:
            get.cache_clear()  # type: ignore[attr-defined]
            model.entries.clear()
            continue
        if roll > 0.985:
            assert get.cache_invalidate(key) is (key in model.entries)  # type: ignore[attr-defined]
            model.entries.pop(key, None)
            continue
        if roll > 0.975:  # computed again and stored over the entry: a new entry, as a miss makes
            assert get.cache_refresh(key) == key * 2  # type: ignore[attr-defined]
            model.entries.pop(key, None)
            model.call(key)
            continue
        calls = obj.calls
        hit = model.call(key)
        assert get(key) == key * 2
        assert obj.calls == calls + (not hit), f"step {step}: {key} should have {'hit' if hit else 'missed'}"
    assert get.cache_info().currsize == len(model.entries)  # type: ignore[attr-defined]


@pytest.mark.parametrize("policy", ["lru", "lfu"])
def test_a_hit_takes_no_lock(policy: str) -> None:
    """While another thread holds the method's lock (a miss storing, a clear), hits go on in this one."""
    obj = Doubler()
    get = cache_methods(obj, "get", maxsize=8, policy=policy).get
    get(1)
    lock = get.__proxycache__.lock  # type: ignore[attr-defined]
    done = threading.Event()
    with lock:
        thread = threading.Thread(target=lambda: [get(1) for _ in range(DRAIN_EVERY // 2)] and done.set())
        thread.start()
        assert done.wait(10), "a hit waited for the method's lock"
    thread.join(10)
    assert get.cache_info().hits == DRAIN_EVERY // 2  # type: ignore[attr-defined]


class Key:
    """An argument equal to the cached key but a new object each call: what a hit keeps alive shows."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __hash__(self) -> int:
        return hash(self.n)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Key) and other.n == self.n


@pytest.mark.parametrize("policy", ["lru", "lfu"])
def test_hits_keep_few_of_their_arguments_alive(policy: str) -> None:
    """Hits that never miss: the keys they leave for a drain stay fewer than DRAIN_EVERY (none with the GIL)."""
    obj = Doubler()
    echo = cache_methods(obj, "echo", maxsize=8, policy=policy).echo
    stored = Key(1)
    echo(stored)
    refs = []
    for _ in range(3 * DRAIN_EVERY):
        key = Key(1)
        refs.append(weakref.ref(key))
        assert echo(key) is stored
        del key
    alive = sum(ref() is not None for ref in refs)
    assert alive < DRAIN_EVERY if NO_GIL else alive == 0
    assert obj.calls == 1


@pytest.mark.parametrize("policy", ["lru", "lfu"])
def test_hits_from_threads_while_others_invalidate_and_clear(policy: str) -> None:
    """Hits leave keys for later while other threads invalidate, clear and evict: answers stay right."""
    obj = Doubler()
    get = cache_methods(obj, "get", maxsize=8, policy=policy).get

    def work(i: int) -> None:
        for n in range(3000):
            if i == 0 and n % 50 == 0:
                get.cache_invalidate(n % 10)  # type: ignore[attr-defined]
            elif i == 1 and n % 500 == 0:
                get.cache_clear()  # type: ignore[attr-defined]
            key = n % 10 if i else n % 3
            assert get(key) == key * 2

    run_threads(work)
    info = get.cache_info()  # type: ignore[attr-defined]
    assert info.currsize <= 8
    for key in range(10):
        assert get(key) == key * 2
