"""Every policy under many threads: no corruption, exact statistics, bounded size.

Eight threads call, invalidate, refresh and clear at random. Threads are
made to interleave inside the cache's own code: each yields the GIL after
C calls the storage makes (a profile hook). Two ways to keep the statistics
checkable:

* in phases: threads meet at a barrier whose action (run while every thread
  waits) checks ``hits + misses == calls`` since the last clear, and
  ``misses + refreshes == calls the method really ran`` (single flight: no
  key is computed twice at once), then clears;
* with clears at any moment: every operation takes a ticket before and after
  from one counter, so after the run the calls that must have been counted
  since the last clear (started after it) and those that may have been
  (finished after it began) bound ``hits + misses``.

Each run is a few thousand calls: about a second at most.
"""

from __future__ import annotations

import itertools
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping
from types import FrameType
from typing import Any

import cachetools
import pytest

from proxycache import CachedProxy
from proxycache._storage import LFUStorage, RRStorage, Storage
from proxycache._storage_wrapped import MappingStorage, TTLStorage

pytestmark = pytest.mark.slow

THREADS = 8
KEYS = 12


def size_of(value: tuple[int, int, int]) -> int:
    return value[2]


CONFIGS: dict[str, dict[str, Any]] = {
    "lru": {"maxsize": 8},
    "lfu": {"maxsize": 8, "policy": "lfu"},
    "fifo": {"maxsize": 8, "policy": "fifo"},
    "rr": {"maxsize": 8, "policy": "rr"},
    "lru-sized": {"maxsize": 12, "getsizeof": size_of},
    "lfu-sized": {"maxsize": 12, "policy": "lfu", "getsizeof": size_of},
    "rr-sized": {"maxsize": 12, "policy": "rr", "getsizeof": size_of},
    "unbounded": {"maxsize": None},
    "ttl-lru": {"maxsize": 8, "ttl": 0.05},
    "ttl-lfu": {"maxsize": 8, "ttl": 0.05, "policy": "lfu"},
    "ttl-fifo-sized": {"maxsize": 12, "ttl": 0.05, "policy": "fifo", "getsizeof": size_of},
    "ttl-unbounded": {"maxsize": None, "ttl": 0.05},
    "cachetools-lru": {"cache": lambda: cachetools.LRUCache(8)},
    "cachetools-lfu": {"cache": lambda: cachetools.LFUCache(8)},
    "cachetools-fifo": {"cache": lambda: cachetools.FIFOCache(8)},
    "cachetools-rr": {"cache": lambda: cachetools.RRCache(8)},
    "cachetools-ttl": {"cache": lambda: cachetools.TTLCache(8, ttl=0.05)},
    "cachetools-sized": {"cache": lambda: cachetools.LRUCache(12, getsizeof=size_of)},
    "policy-cachetools-lfu": {"maxsize": 8, "policy": cachetools.LFUCache},
    "policy-cachetools-ttl-sized": {"maxsize": 12, "ttl": 0.05, "policy": cachetools.LRUCache, "getsizeof": size_of},
}

policies = pytest.mark.parametrize("config", list(CONFIGS))


@pytest.fixture(autouse=True)
def quick_switching() -> Iterator[None]:
    """Hand the GIL over sooner than every 5 ms: a thread that yielded gets it back quickly."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def expected(key: int, scale: int) -> tuple[int, int, int]:
    return (key, key * scale, 1 + key % 3)


class Service:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ran = 0

    def get(self, key: int, scale: int = 1) -> tuple[int, int, int]:
        with self.lock:
            self.ran += 1
        return expected(key, scale)


# -- one random operation --------------------------------------------------------


def call(func: Any, rng: random.Random) -> None:
    """A call in one of the spellings that make the same key, checked."""
    key, form = rng.randrange(KEYS), rng.randrange(5)
    if form == 0:
        result, scale = func(key), 1
    elif form == 1:
        result, scale = func(key=key), 1
    elif form == 2:
        result, scale = func(key, 1), 1
    elif form == 3:
        result, scale = func(key, scale=1), 1
    else:
        result, scale = func(key, scale=2), 2
    assert result == expected(key, scale), (key, scale, result)


def invalidate(func: Any, rng: random.Random) -> None:
    key = rng.randrange(KEYS)
    assert isinstance(func.cache_invalidate(key) if rng.random() < 0.5 else func.cache_invalidate(key=key), bool)


def refresh(func: Any, rng: random.Random) -> None:
    key = rng.randrange(KEYS)
    assert func.cache_refresh(key) == expected(key, 1)


# -- storage bookkeeping --------------------------------------------------------


def check_storage(storage: Storage, maxsize: int | None) -> None:
    """The policy's internal records agree with its entries (call under the method's lock)."""
    if maxsize is not None:
        assert storage.currsize() <= maxsize
    if isinstance(storage, MappingStorage):
        return
    if isinstance(storage, TTLStorage):
        assert set(storage.inner.data) <= set(storage.expiry)
        storage = storage.inner
    keys = set(storage.data)
    if storage.sizes is not None:
        assert set(storage.sizes) == keys
        assert storage._size == sum(storage.sizes.values())
    if isinstance(storage, LFUStorage):
        assert set(storage.uses) == keys == set(storage._seq) | set(storage._fresh)
        assert not set(storage._seq) & set(storage._fresh)
    if isinstance(storage, RRStorage):
        assert sorted(storage._index.values()) == list(range(len(storage._keys)))
        assert {storage._keys[i]: i for i in range(len(storage._keys))} == storage._index
        assert set(storage._keys) == keys


def state(func: Any) -> Any:
    """The machinery behind a cached callable (its lock and storage): what this white-box test checks."""
    found = func.__proxycache__
    assert hasattr(found, "lock"), found
    assert hasattr(found, "storage"), found
    return found


def storage_files(func: Any) -> frozenset[str]:
    """The source files of the classes *func*'s storage is made of, wherever they live.

    A ``cache=`` mapping's own classes count too: its code is where that
    storage does its work.
    """
    func.cache_info()  # a method's storage is made on first use: this is one
    storage = state(func).storage
    parts = [storage, storage.data, *([storage.inner] if isinstance(storage, TTLStorage) else [])]
    files = {
        module.__file__
        for part in parts
        for cls in type(part).__mro__
        if (module := sys.modules.get(cls.__module__)) is not None and getattr(module, "__file__", None)
    }
    return frozenset(f for f in files if f is not None)


class Forcing:
    """A profile hook: after every C call the storage makes, let another thread run.

    Storage changes run under the method's lock, but hits read (and for LRU
    and LFU, update) the storage without it: this is where the two meet.
    The hit path itself runs on without yielding, so hits land between any
    two steps of an insertion, eviction, invalidation or clear. Races the
    interpreter would expose once in hundreds of thousands of calls (a hit
    reordering a dict in the middle of an eviction) then show up within a
    few hundred. (Every third call: as good at that, at a third of the cost.)

    Frames are picked by the storage's own source files, and ``yields``
    counts the forced switches, so a run that forced none fails rather than
    passing without the interleaving it is about.
    """

    def __init__(self, files: frozenset[str]) -> None:
        assert files, "no source file to force switches in"
        self.files = files
        self.steps = itertools.count()
        self.yields = 0

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "c_return" and frame.f_code.co_filename in self.files and next(self.steps) % 3 == 0:
            self.yields += 1  # may lose a count between threads: it only has to show the hook fired
            time.sleep(0)


#: Forced switches a run must reach: runs make thousands. An unbounded
#: storage makes few C calls of its own (no eviction bookkeeping): one will do.
MIN_YIELDS, MIN_YIELDS_UNBOUNDED = 100, 1


def least_yields(func: Any) -> int:
    """The forced switches a run over *func*'s storage must reach to mean anything.

    The forcing is for hits that run without the lock. A mapping's hits
    (``cache=``, a cachetools class as ``policy=``) take the lock like its
    writes, and how many C calls its own code makes depends on its version
    (cachetools 5.0's LFU makes almost none): any number will do there.
    """
    storage = state(func).storage
    if storage.HIT.lock:
        return 0
    return MIN_YIELDS if storage.maxsize is not None else MIN_YIELDS_UNBOUNDED


def run_threads(work: Callable[[int], None], barrier: threading.Barrier | None = None, *, force: Any) -> None:
    """Run *work(i)* in THREADS threads started together; re-raise the first failure.

    Threads switch inside the storage of the cached callable *force* (see
    :class:`Forcing`). A failing worker breaks *barrier* (if the workers meet
    at one) so the others stop instead of waiting for it.
    """
    hook = Forcing(storage_files(force))
    least = least_yields(force)
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def body(i: int) -> None:
        try:
            start.wait(10)
            sys.setprofile(hook)
            try:
                work(i)
            finally:
                sys.setprofile(None)
        except BaseException as error:
            errors.append(error)
            if barrier is not None:
                barrier.abort()
            raise

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a worker is stuck"
    if errors:
        raise next((e for e in errors if not isinstance(e, threading.BrokenBarrierError)), errors[0])
    assert hook.yields >= least, f"only {hook.yields} forced switches inside {sorted(hook.files)}"


# -- the tests ----------------------------------------------------------------------


@policies
def test_statistics_are_exact_between_clears(config: str) -> None:
    options = CONFIGS[config]
    service = Service()
    proxy = CachedProxy(service, **options)
    get = proxy.get
    maxsize = get.cache_info().maxsize
    calls = [0] * THREADS
    refreshes = [0] * THREADS
    phases = 4
    checked = []

    def check_and_clear() -> None:
        # Runs in one thread while all the others wait at the barrier.
        info = get.cache_info()
        assert info.hits + info.misses == sum(calls)
        assert info.misses + sum(refreshes) == service.ran - checked_ran[0]
        with state(get).lock:
            check_storage(state(get).storage, maxsize)
        get.cache_clear()
        assert get.cache_info()[:2] == (0, 0)
        calls[:] = refreshes[:] = [0] * THREADS
        checked_ran[0] = service.ran
        checked.append(info)

    checked_ran = [0]
    barrier = threading.Barrier(THREADS, action=check_and_clear, timeout=30)

    def work(i: int) -> None:
        rng = random.Random(f"{config}-{i}")
        for _ in range(phases):
            for _ in range(100):
                roll = rng.random()
                if roll < 0.08:
                    invalidate(get, rng)
                elif roll < 0.11:
                    refresh(get, rng)
                    refreshes[i] += 1
                else:
                    call(get, rng)
                    calls[i] += 1
            barrier.wait()

    run_threads(work, barrier, force=get)
    assert len(checked) == phases
    assert all(info.hits > 0 and info.misses > 0 for info in checked)


@policies
def test_random_clears_and_invalidations_at_any_moment(config: str) -> None:
    options = CONFIGS[config]
    service = Service()
    proxy = CachedProxy(service, **options)
    get = proxy.get
    maxsize = get.cache_info().maxsize
    tickets = itertools.count()
    spans: list[list[tuple[int, int]]] = [[] for _ in range(THREADS)]
    clears: list[tuple[int, int]] = []
    done = threading.Event()
    sizes: list[int] = []

    def watch() -> None:
        # Size observed at arbitrary moments while the workers run.
        while not done.wait(0.0005):
            sizes.append(get.cache_info().currsize)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()

    def work(i: int) -> None:
        rng = random.Random(f"{config}-any-{i}")
        for _ in range(400):
            roll = rng.random()
            if roll < 0.015:
                begin = next(tickets)
                get.cache_clear()
                clears.append((begin, next(tickets)))
            elif roll < 0.09:
                invalidate(get, rng)
            elif roll < 0.12:
                refresh(get, rng)
            else:
                begin = next(tickets)
                call(get, rng)
                spans[i].append((begin, next(tickets)))

    try:
        run_threads(work, force=get)
    finally:
        done.set()
        watcher.join(10)
    info = get.cache_info()
    all_spans = [span for spans_of_one in spans for span in spans_of_one]
    if clears:
        # The last reset happened after every clear began and before the last one ended.
        reset_after = max(begin for begin, _ in clears)
        reset_before = max(end for _, end in clears)
        must = sum(1 for begin, _ in all_spans if begin > reset_before)
        may = sum(1 for _, end in all_spans if end > reset_after)
        assert must <= info.hits + info.misses <= may
    else:  # pragma: no cover - the seeds above do clear
        assert info.hits + info.misses == len(all_spans)
    assert sizes
    assert maxsize is None or max(sizes) <= maxsize
    with state(get).lock:
        check_storage(state(get).storage, maxsize)
    # Still a working cache afterwards.
    get.cache_clear()
    assert get(1) == get(1) == expected(1, 1)
    assert get.cache_info()[:2] == (1, 1)


class Exclusive(MutableMapping[Any, Any]):
    """A mapping that records any moment two threads are inside it at once.

    Each operation releases the GIL midway (``time.sleep(0)``), so without
    the cached method's lock around reads and writes, threads overlap here
    almost surely, as they would inside a cachetools cache that reorders
    itself on every read.
    """

    def __init__(self, maxsize: int) -> None:
        self.data: dict[Any, Any] = {}
        self.maxsize = maxsize
        self.inside = 0
        self.overlaps = 0

    def _enter(self) -> None:
        self.inside += 1
        if self.inside > 1:
            self.overlaps += 1
        time.sleep(0)

    def __getitem__(self, key: Any) -> Any:
        self._enter()
        try:
            return self.data[key]
        finally:
            self.inside -= 1

    def __setitem__(self, key: Any, value: Any) -> None:
        self._enter()
        try:
            if key not in self.data and len(self.data) >= self.maxsize:
                del self.data[next(iter(self.data))]
            self.data[key] = value
        finally:
            self.inside -= 1

    def __delitem__(self, key: Any) -> None:
        self._enter()
        try:
            del self.data[key]
        finally:
            self.inside -= 1

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self.data))

    def __len__(self) -> int:
        return len(self.data)


def test_a_cache_mapping_is_never_entered_by_two_threads_at_once() -> None:
    mappings: list[Exclusive] = []

    def factory() -> Exclusive:
        mappings.append(Exclusive(8))
        return mappings[-1]

    get = CachedProxy(Service(), cache=factory).get

    def work(i: int) -> None:
        rng = random.Random(f"exclusive-{i}")
        for _ in range(300):
            roll = rng.random()
            if roll < 0.05:
                invalidate(get, rng)
            elif roll < 0.07:
                get.cache_clear()
            else:
                call(get, rng)

    run_threads(work, force=get)
    mapping = mappings[-1]  # (option checking may build one to look at)
    assert mapping.data  # it is the one in use
    assert mapping.overlaps == 0
    assert get.cache_info().currsize <= 8


@pytest.mark.parametrize("policy", ["lru", "lfu", "fifo", "rr"])
def test_many_methods_and_instances_at_once(policy: str) -> None:
    """Threads spread over several proxies and methods: caches never mix."""

    class Two:
        def __init__(self, tag: int) -> None:
            self.tag = tag

        def a(self, key: int) -> tuple[int, str, int]:
            return (self.tag, "a", key)

        def b(self, key: int) -> tuple[int, str, int]:
            return (self.tag, "b", key)

    proxies = [CachedProxy(Two(tag), maxsize=6, policy=policy) for tag in range(3)]

    def work(i: int) -> None:
        rng = random.Random(f"mix-{policy}-{i}")
        for _ in range(800):
            p = rng.choice(proxies)
            name = rng.choice("ab")
            key = rng.randrange(10)
            assert getattr(p, name)(key) == (p.tag, name, key)
            if rng.random() < 0.02:
                getattr(p, name).cache_clear()

    run_threads(work, force=proxies[0].a)
    for p in proxies:
        for name in "ab":
            assert getattr(p, name).cache_info().currsize <= 6


@pytest.mark.parametrize("entry", ["proxy", "cache_methods"])
def test_first_calls_of_a_new_method_from_many_threads(entry: str) -> None:
    """A method's lock and flights are made on its first miss: threads that miss at once share one of each."""
    from proxycache import cache_methods

    class Counted:
        def __init__(self) -> None:
            self.calls = 0
            self.gate = threading.Event()

        def get(self, key: int) -> int:
            self.calls += 1
            self.gate.wait(10)  # the others arrive while the first computes
            return key * 2

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, arming included
    try:
        for _ in range(20):
            obj = Counted()
            target: Any = CachedProxy(obj) if entry == "proxy" else cache_methods(obj, "get")
            get = target.get
            start = threading.Barrier(THREADS)
            results: list[int] = []

            def call(get: Any = get, start: threading.Barrier = start, results: list[int] = results) -> None:
                start.wait(10)
                results.append(get(7))

            threads = [threading.Thread(target=call, daemon=True) for _ in range(THREADS)]
            for t in threads:
                t.start()
            time.sleep(0.01)
            obj.gate.set()
            for t in threads:
                t.join(30)
            assert not any(t.is_alive() for t in threads), "a caller is stuck"
            assert results == [14] * THREADS
            assert obj.calls == 1  # one computation: the callers shared one flight
            info = get.cache_info()
            assert (info.hits + info.misses, info.misses, info.currsize) == (THREADS, 1, 1)
    finally:
        sys.setswitchinterval(interval)


def test_an_interrupt_while_a_method_is_armed_leaves_it_usable() -> None:
    """A KeyboardInterrupt between claiming a method's first arming and finishing it withdraws the claim.

    The thread waiting on that claim arms the method itself, and the
    interrupted thread's next call works: neither waits forever for a lock
    nobody is making. The interrupt is raised where a real Ctrl-C could land,
    by a trace function, as the arming thread starts making the parts.
    """
    from proxycache import cache_methods

    class Doubler:
        def __init__(self) -> None:
            self.calls = 0

        def get(self, key: int) -> int:
            self.calls += 1
            return key * 2

    obj = Doubler()
    # FIFO: armed on its first miss in every build (without the GIL, an LRU hit takes the lock, so
    # an LRU method is armed when it is made).
    get = cache_methods(obj, "get", policy="fifo").get
    claimed = threading.Event()
    outcomes: dict[str, Any] = {}

    def interrupt(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "call" and frame.f_code.co_name == "_make_parts":
            sys.settrace(None)
            claimed.set()
            time.sleep(0.2)  # the other thread is waiting on this claim meanwhile
            raise KeyboardInterrupt
        return None

    def first() -> None:
        sys.settrace(interrupt)
        try:
            get(7)
        except KeyboardInterrupt:
            outcomes["first"] = "interrupted"
        finally:
            sys.settrace(None)
        outcomes["again"] = get(7)

    def second() -> None:
        claimed.wait(10)
        outcomes["second"] = get(7)

    threads = [threading.Thread(target=first, daemon=True), threading.Thread(target=second, daemon=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "a caller waits forever for the interrupted arming"
    assert outcomes == {"first": "interrupted", "second": 14, "again": 14}
    assert obj.calls == 1
    info = get.cache_info()
    assert (info.hits, info.misses, info.currsize) == (1, 1, 1)
