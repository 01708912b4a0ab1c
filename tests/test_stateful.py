"""A cached method driven at random against a model of its policy.

Hypothesis calls, invalidates, refreshes and clears a method cached through
``CachedProxy``, changes the data behind it and moves a fake clock, and after
every step compares results, hits, misses, size and the set of cached keys
with a small model. The model's rules:

* LRU evicts the least recently used entry (a hit refreshes it);
* FIFO evicts the oldest insertion (hits change nothing);
* LFU evicts the entry with the fewest hits since it was inserted (an
  insertion starts at 0), the oldest insertion first among equals;
* RR evicts some entry: only the size bound and the cached values are checked
  (the model follows the keys the cache kept);
* with ``getsizeof``, eviction runs until the new entry fits; an entry larger
  than ``maxsize`` is not stored, and no older value of its key stays behind;
* with ``ttl``, an entry inserted at ``t`` is live while ``now < t + ttl``;
  expired entries are dropped before an insertion evicts anything live;
* storing a key that is already cached (a refresh) is a new insertion.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import cachetools
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from proxycache import CachedProxy
from proxycache.testing import FakeClock, use_clock

KEYS = st.integers(0, 5)  # as many keys as SIZES
#: Sizes of results for size-based eviction; 7 never fits in SIZED_MAX.
SIZES = (1, 2, 3, 1, 2, 7)
SIZED_MAX = 6
TTL = 2.0


def size_of(value: tuple[int, int, int]) -> int:
    return value[2]


class Backend:
    """The wrapped object: answers with the current version of each key."""

    user = "u"  # what the key_attrs machines key by, besides the argument

    def __init__(self) -> None:
        self.versions: dict[int, int] = {}
        self.ran = 0

    def answer(self, key: int) -> tuple[int, int, int]:
        version = self.versions.get(key, 0)
        return (key, version, SIZES[(key + version) % len(SIZES)])

    def get(self, key: int) -> tuple[int, int, int]:
        self.ran += 1
        return self.answer(key)


@dataclass
class Entry:
    value: Any
    size: int
    uses: int
    seq: int
    expires: float | None


class Model:
    """What the cache of one method must hold, per the rules in the module docstring."""

    def __init__(self, policy: str, maxsize: int | None, sized: bool, ttl: float | None) -> None:
        self.policy = policy
        self.maxsize = maxsize
        self.sized = sized
        self.ttl = ttl
        # In eviction order for LRU (recency) and FIFO (insertion).
        self.entries: OrderedDict[int, Entry] = OrderedDict()
        self.hits = self.misses = 0
        self.seq = itertools.count()

    def purge(self, now: float) -> None:
        for key in [k for k, e in self.entries.items() if e.expires is not None and e.expires <= now]:
            del self.entries[key]

    def live(self, key: int, now: float) -> Entry | None:
        entry = self.entries.get(key)
        if entry is None or (entry.expires is not None and entry.expires <= now):
            return None
        return entry

    def live_keys(self, now: float) -> set[int]:
        return {k for k in self.entries if self.live(k, now) is not None}

    def currsize(self) -> int:
        return sum(e.size for e in self.entries.values())

    def hit(self, key: int, now: float) -> Entry | None:
        entry = self.live(key, now)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        entry.uses += 1
        if self.policy == "lru":
            self.entries.move_to_end(key)
        return entry

    def put(self, key: int, value: Any, now: float) -> None:
        """Store *value*; for RR, eviction is left to the caller (it syncs with the cache)."""
        self.purge(now)
        size = size_of(value) if self.sized else 1
        self.entries.pop(key, None)
        if self.maxsize is not None and size > self.maxsize:
            return
        if self.maxsize is not None and self.policy != "rr":
            while self.entries and self.currsize() + size > self.maxsize:
                del self.entries[self.victim()]
        expires = None if self.ttl is None else now + self.ttl
        self.entries[key] = Entry(value, size, 0, next(self.seq), expires)

    def victim(self) -> int:
        if self.policy == "lfu":
            return min(self.entries, key=lambda k: (self.entries[k].uses, self.entries[k].seq))
        return next(iter(self.entries))  # LRU: least recent; FIFO: oldest

    def clear(self) -> None:
        self.entries.clear()
        self.hits = self.misses = 0


class CacheMachine(RuleBasedStateMachine):
    """Base machine; subclasses say which options and which model."""

    POLICY: ClassVar[str] = "lru"
    OPTIONS: ClassVar[dict[str, Any]] = {}
    MAXSIZES: ClassVar[tuple[int | None, ...]] = (0, 1, 2, 3, 4)
    SIZED: ClassVar[bool] = False
    LIFETIME: ClassVar[float | None] = None
    #: key_attrs=["user"]: the storage's keys are (argument, "u"), found through its index (_storage_index).
    KEYED: ClassVar[bool] = False

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock(start=100.0)
        self.backend = Backend()

    @initialize(data=st.data())
    def build(self, data: st.DataObject) -> None:
        maxsize = data.draw(st.sampled_from(self.MAXSIZES), label="maxsize")
        options = dict(self.OPTIONS)
        if "cache" in options:
            factory = options["cache"]
            options["cache"] = lambda: factory(maxsize)
        else:
            options["maxsize"] = maxsize
        if self.SIZED:
            options["getsizeof"] = size_of
        if self.LIFETIME is not None:
            options["ttl"] = self.LIFETIME
        if self.KEYED:
            options["key_attrs"] = ["user"]
        self.proxy = CachedProxy(self.backend, **options)
        # The hit path binds the TTL clock when the cached callable is built.
        with use_clock(self.clock):
            self.get = self.proxy.get
        self.get.cache_info()  # a method's storage is made on first use: this is one
        self.storage = self.get.__proxycache__.storage
        self.model = Model(self.POLICY, maxsize, self.SIZED, self.LIFETIME)

    # -- steps -------------------------------------------------------------------

    @rule(key=KEYS)
    def call(self, key: int) -> None:
        now = self.clock.now
        before = self.model.live_keys(now)
        entry = self.model.hit(key, now)
        ran = self.backend.ran
        result = self.get(key)
        if entry is not None:
            assert result == entry.value
            assert self.backend.ran == ran, "a hit ran the method"
        else:
            assert result == self.backend.answer(key)
            assert self.backend.ran == ran + 1
            self.store(key, result, now, before)

    # Calls aimed at what eviction depends on: hits on entries already there
    # (recency, use counts) and misses that must evict one of them.

    @precondition(lambda self: bool(self.model.entries))
    @rule(data=st.data())
    def call_a_cached_key(self, data: st.DataObject) -> None:
        self.call(data.draw(st.sampled_from(sorted(self.model.entries)), label="cached key"))

    @precondition(lambda self: len(self.model.entries) < len(SIZES))
    @rule(data=st.data())
    def call_an_uncached_key(self, data: st.DataObject) -> None:
        absent = sorted(set(range(len(SIZES))) - set(self.model.entries))
        self.call(data.draw(st.sampled_from(absent), label="uncached key"))

    @rule(key=KEYS)
    def refresh(self, key: int) -> None:
        now = self.clock.now
        before = self.model.live_keys(now)
        result = self.get.cache_refresh(key)
        assert result == self.backend.answer(key)
        self.store(key, result, now, before)

    def store(self, key: int, value: Any, now: float, before: set[int]) -> None:
        self.model.put(key, value, now)
        if self.POLICY == "rr":
            self.follow_random_eviction(key, before)

    def held(self) -> set[int]:
        """The arguments of the entries the storage holds."""
        held = set(self.storage.keys())
        return {key[0] for key in held} if self.KEYED else held

    def follow_random_eviction(self, key: int, before: set[int]) -> None:
        kept = self.held()
        assert kept <= before | {key}, "the cache holds a key nobody stored"
        assert kept >= set(self.model.entries) - (before - {key}) or key not in self.model.entries
        if key in self.model.entries:
            assert key in kept, "the new entry was not stored though it fits"
        for gone in set(self.model.entries) - kept:
            del self.model.entries[gone]
        if not self.SIZED and self.model.maxsize:
            # One in, at most one out.
            assert len(kept) == min(len(before | {key}), self.model.maxsize)

    @rule(key=KEYS)
    def invalidate(self, key: int) -> None:
        present = self.model.live(key, self.clock.now) is not None
        assert self.get.cache_invalidate(key) is present
        self.model.entries.pop(key, None)

    @rule()
    def clear(self) -> None:
        self.get.cache_clear()
        self.model.clear()

    @rule(key=KEYS)
    def change_the_data(self, key: int) -> None:
        self.backend.versions[key] = self.backend.versions.get(key, 0) + 1

    @precondition(lambda self: self.LIFETIME is not None)
    @rule(seconds=st.sampled_from([0.5, 1.0, TTL]))
    def wait(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @precondition(lambda self: self.LIFETIME is not None and bool(self.model.entries))
    @rule(seconds=st.sampled_from([0.5, 1.0, TTL]), data=st.data())
    def wait_then_call(self, seconds: float, data: st.DataObject) -> None:
        # No check (which purges expired entries) in between: the hit path
        # itself must see that an entry has just expired.
        key = data.draw(st.sampled_from(sorted(self.model.entries)), label="cached key")
        self.clock.advance(seconds)
        self.call(key)

    # -- after every step ------------------------------------------------------

    @invariant()
    def agrees_with_the_model(self) -> None:
        if not hasattr(self, "model"):
            return
        self.model.purge(self.clock.now)
        info = self.get.cache_info()
        assert (info.hits, info.misses) == (self.model.hits, self.model.misses)
        assert info.currsize == self.model.currsize()
        assert info.maxsize == self.model.maxsize
        if self.model.maxsize is not None:
            assert info.currsize <= self.model.maxsize
        assert self.held() == set(self.model.entries)

    @invariant()
    def the_index_finds_every_key_held(self) -> None:
        if not (hasattr(self, "model") and self.KEYED):
            return
        storage = getattr(self.storage, "inner", self.storage)  # under ttl, the policy's storage
        held = list(storage.data)
        for key in held:
            assert storage.index[key[1]][key[0]] is key
        assert sum(map(len, storage.index.values())) == len(held), "the index holds a key the storage does not"


def machine(name: str, policy: str, **attrs: Any) -> type[CacheMachine]:
    return type(name, (CacheMachine,), {"POLICY": policy, **attrs})


MACHINES = [
    machine("LRU", "lru", OPTIONS={"policy": "lru"}),
    machine("FIFO", "fifo", OPTIONS={"policy": "fifo"}),
    machine("LFU", "lfu", OPTIONS={"policy": "lfu"}),
    machine("RR", "rr", OPTIONS={"policy": "rr"}),
    machine("Unbounded", "lru", MAXSIZES=(None,)),
    machine("SizedLRU", "lru", OPTIONS={"policy": "lru"}, SIZED=True, MAXSIZES=(SIZED_MAX,)),
    machine("SizedFIFO", "fifo", OPTIONS={"policy": "fifo"}, SIZED=True, MAXSIZES=(SIZED_MAX,)),
    machine("SizedLFU", "lfu", OPTIONS={"policy": "lfu"}, SIZED=True, MAXSIZES=(SIZED_MAX,)),
    machine("SizedRR", "rr", OPTIONS={"policy": "rr"}, SIZED=True, MAXSIZES=(SIZED_MAX,)),
    machine("TTLLRU", "lru", OPTIONS={"policy": "lru"}, LIFETIME=TTL),
    machine("TTLFIFO", "fifo", OPTIONS={"policy": "fifo"}, LIFETIME=TTL),
    machine("TTLLFU", "lfu", OPTIONS={"policy": "lfu"}, LIFETIME=TTL),
    machine("TTLRR", "rr", OPTIONS={"policy": "rr"}, LIFETIME=TTL),
    machine("TTLUnbounded", "lru", MAXSIZES=(None,), LIFETIME=TTL),
    machine("TTLSizedLFU", "lfu", OPTIONS={"policy": "lfu"}, SIZED=True, MAXSIZES=(SIZED_MAX,), LIFETIME=TTL),
    machine("CachetoolsLRU", "lru", OPTIONS={"cache": cachetools.LRUCache}),
    machine("CachetoolsFIFO", "fifo", OPTIONS={"cache": cachetools.FIFOCache}),
]
# The same machines with key_attrs, whose storage keeps an index of its keys (one of each way it is kept).
MACHINES += [
    type(f"Keyed{m.__name__}", (m,), {"KEYED": True})
    for m in MACHINES
    if m.__name__ in {"LRU", "FIFO", "LFU", "RR", "Unbounded", "SizedLRU", "SizedLFU", "TTLLRU"}
]

SETTINGS = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.mark.slow
@pytest.mark.parametrize("model", MACHINES, ids=lambda m: m.__name__)
def test_cache_follows_its_model(model: type[CacheMachine]) -> None:
    run = model.TestCase("runTest")
    run.settings = SETTINGS
    run.runTest()


# -- details the random runs rarely reach -------------------------------------------


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    with use_clock(FakeClock(start=100.0)) as fake:
        yield fake


def test_invalidating_an_expired_entry_reports_nothing_was_there(clock: FakeClock) -> None:
    backend = Backend()
    get = CachedProxy(backend, ttl=TTL).get
    get(1)
    assert get.cache_invalidate(1) is True
    get(1)
    clock.advance(TTL)
    assert get.cache_invalidate(1) is False  # expired: there was no entry to drop


@pytest.mark.parametrize("options", [{"getsizeof": size_of}, {"getsizeof": size_of, "ttl": TTL}], ids=["sized", "ttl"])
def test_refresh_with_a_value_too_large_drops_the_old_one(clock: FakeClock, options: dict[str, Any]) -> None:
    backend = Backend()
    get = CachedProxy(backend, maxsize=SIZED_MAX, **options).get
    assert get(0) == (0, 0, 1)
    backend.versions[0] = 5  # its answer now has size 7
    assert get.cache_refresh(0) == (0, 5, 7)
    assert get(0) == (0, 5, 7)  # not the stale (0, 0, 1)
    assert get.cache_info().currsize == 0


def test_refresh_too_large_for_a_cachetools_mapping_drops_the_old_one() -> None:
    backend = Backend()
    get = CachedProxy(backend, cache=lambda: cachetools.LRUCache(SIZED_MAX, getsizeof=size_of)).get
    assert get(0) == (0, 0, 1)
    backend.versions[0] = 5
    assert get.cache_refresh(0) == (0, 5, 7)
    assert get(0) == (0, 5, 7)
    assert backend.ran == 3
