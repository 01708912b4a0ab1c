"""Helpers for testing code that uses proxycache, and stores written for it.

* :func:`use_clock` swaps the clock that times ``ttl=`` entries, so a test
  moves time by hand instead of sleeping;
* :func:`reset` puts proxycache's process-wide state back as a fresh import
  has it (warnings given once, the fault log's throttle, listeners, the clock);
* :class:`StoreConformance` is the suite every store passes: subclass it in a
  pytest module with a ``store`` fixture, or run it with :func:`check_store`.

Nothing here is imported by ``import proxycache``; pytest is not needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import math
import pickle
import threading
import time
import unittest
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar, overload

from . import _clock
from ._api import cache_info, cache_of
from ._contract import Store
from ._miss import MISS
from ._proxy import CachedProxy

__all__ = ["FakeClock", "StoreConformance", "check_store", "reset", "use_clock"]

C = TypeVar("C", bound=Callable[[], float])


class FakeClock:
    """A monotonic clock that moves only when told to.

    ``clock()`` reads it (seconds, like ``time.monotonic()``) and
    ``clock.advance(seconds)`` moves it forward. It can also be given to
    cachetools' caches as ``timer=``.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = _seconds(start, "start", allow_zero=True)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self._now

    @property
    def now(self) -> float:
        """The time the clock shows."""
        return self._now

    def advance(self, seconds: float | timedelta) -> float:
        """Move the clock forward by *seconds* (a number or ``timedelta``); return the new time."""
        step = _seconds(seconds, "seconds", allow_zero=True)
        with self._lock:
            self._now += step
            return self._now

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now!r})"


def _seconds(value: Any, name: str, *, allow_zero: bool) -> float:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite number of seconds or a timedelta, not {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must not be negative (a monotonic clock never goes back), not {value!r}")
    return float(value)


@overload
def use_clock() -> contextlib.AbstractContextManager[FakeClock]: ...


@overload
def use_clock(clock: C) -> contextlib.AbstractContextManager[C]: ...


def use_clock(clock: Callable[[], float] | None = None) -> contextlib.AbstractContextManager[Any]:
    """Time ``ttl=`` entries by *clock* (a new :class:`FakeClock` if none is given) inside the block.

    Caches built inside the block read this clock for good, also after it
    ends; caches built before it keep the clock they were built with. The
    cache of a method is built when the method is first looked up (on a
    ``CachedProxy``, an instance of a ``CachingMixin`` class or of a class
    with ``@cached_method``) or by ``cache_methods()``, so wrap inside the
    block::

        with use_clock() as clock:
            api = CachedProxy(Client(), ttl=60)
            api.get(1)
            clock.advance(61)
            api.get(1)  # expired: computed again

    The swap is process-wide (every thread), not per task; blocks nest.
    """
    if clock is None:
        clock = FakeClock()
    elif not callable(clock):
        raise TypeError(f"clock must be a callable returning seconds (like time.monotonic), not {clock!r}")
    else:
        reading = clock()
        if isinstance(reading, bool) or not isinstance(reading, (int, float)):
            raise TypeError(f"clock must return seconds as a number; {clock!r} returned {reading!r}")
    return _using(clock)


@contextlib.contextmanager
def _using(clock: Callable[[], float]) -> Iterator[Callable[[], float]]:
    previous = _clock.swap(clock)
    try:
        yield clock
    finally:
        _clock.swap(previous)


def reset() -> None:
    """Put proxycache's process-wide state back as a fresh import has it.

    Forgets which warnings were already given (an unserializable result is
    warned about once per method) and the fault log's throttle (a failing
    store is logged at most once per interval), removes every listener added
    with :func:`proxycache.add_listener`, and restores the real clock. The
    caches themselves belong to their instances and are left alone: use
    :func:`proxycache.cache_clear` for those. Call it between tests, e.g. in
    an autouse fixture.
    """
    from . import _events, _faults, _flags

    _clock.swap(time.monotonic)
    _faults._warned.clear()
    _faults._logged.clear()
    while True:
        try:
            _events.LISTENERS.pop()
        except IndexError:
            break
        # Each listener raised the hit path's flag once: lower it once.
        _flags.lower_flag()


# -- the store conformance suite -----------------------------------------------------

NS = "conformance.Service.get"
_TTL = 0.1  # seconds; short, since the checks of expiry sleep past it


def _key(n: Any, ns: str = NS) -> str:
    return f"{ns}:{n:040x}" if isinstance(n, int) else f"{ns}:{n}"


class _Service:
    """A client that counts the calls that reach it."""

    def __init__(self, base: str = "https://a.example") -> None:
        self.base = base
        self.calls: dict[str, int] = {}

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def get(self, item: Any, page: int = 1) -> tuple[Any, int]:
        self._count("get")
        return (item, page)

    def echo(self, value: Any) -> Any:
        self._count("echo")
        return value

    def nothing(self) -> object:
        self._count("nothing")
        return None

    def fail(self, value: Any) -> Any:
        self._count("fail")
        raise ValueError(value)

    async def aget(self, item: Any) -> Any:
        self._count("aget")
        return item

    def count(self, name: str) -> int:
        return self.calls.get(name, 0)


_SERVICE_NS = f"{_Service.__module__}.{_Service.__qualname__}.get"


class StoreConformance:
    """The behaviour every store passes: the :class:`proxycache.Store` protocol, then caching through it.

    Each ``test_*`` method takes a fresh, empty store. With pytest, subclass
    it in a test module and provide a ``store`` fixture::

        import pytest
        from proxycache.testing import StoreConformance

        class TestMyStore(StoreConformance):
            @pytest.fixture
            def store(self, tmp_path):
                return MyStore(tmp_path)

    Without pytest, :func:`check_store` runs every check. Checks of optional
    parts (``scan()``) are skipped for stores without them. A few checks
    sleep past a 0.1 s TTL; nothing asserts how long anything took.
    """

    # -- the protocol ------------------------------------------------------------

    def test_meets_the_store_protocol(self, store: Store) -> None:
        assert isinstance(store, Store), f"{store!r} lacks part of the proxycache.Store protocol"
        assert isinstance(store.shared, bool), f"{type(store).__name__}.shared must be True or False"

    def test_get_of_an_absent_key_is_miss(self, store: Store) -> None:
        assert store.get(_key(1)) is MISS

    def test_set_then_get_returns_the_bytes(self, store: Store) -> None:
        store.set(_key(1), b"one")
        store.set(_key(2), b"")
        assert store.get(_key(1)) == b"one"
        assert store.get(_key(2)) == b""  # empty, yet not a miss

    def test_set_replaces(self, store: Store) -> None:
        store.set(_key(1), b"old")
        store.set(_key(1), b"new")
        assert store.get(_key(1)) == b"new"
        assert list(store.keys(NS)) == [_key(1)]

    def test_large_value_round_trips(self, store: Store) -> None:
        value = bytes(range(256)) * 1024  # 256 KiB: beyond what some stores keep inline
        store.set(_key(1), value)
        assert store.get(_key(1)) == value

    def test_delete_says_whether_there_was_an_entry(self, store: Store) -> None:
        store.set(_key(1), b"x")
        assert store.delete(_key(1)) is True
        assert store.get(_key(1)) is MISS
        assert store.delete(_key(1)) is False

    def test_ttl_expires_entries(self, store: Store) -> None:
        start = time.monotonic()
        store.set(_key(1), b"brief", ttl=_TTL)
        store.set(_key(2), b"lasting", ttl=60)
        store.set(_key(3), b"forever")
        brief = store.get(_key(1))
        if time.monotonic() - start < _TTL:  # a slow machine may be past it already
            assert brief == b"brief"
        time.sleep(_TTL * 1.5)
        assert store.get(_key(1)) is MISS
        assert store.get(_key(2)) == b"lasting"
        assert store.get(_key(3)) == b"forever"
        assert sorted(store.keys(NS)) == [_key(2), _key(3)]

    def test_keys_and_clear_by_namespace(self, store: Store) -> None:
        other = "conformance.Other.get@2"
        for n in range(5):
            store.set(_key(n), b"a")
        store.set(_key(1, other), b"b")
        store.set(_key(1, NS + "x"), b"c")  # a namespace that merely starts alike
        assert sorted(store.keys(NS)) == sorted(_key(n) for n in range(5))
        assert list(store.keys(other)) == [_key(1, other)]
        assert len(list(store.keys())) == 7
        assert store.clear(NS) == 5
        assert list(store.keys(NS)) == []
        assert store.get(_key(1, other)) == b"b"
        assert store.get(_key(1, NS + "x")) == b"c"
        assert store.clear() == 2
        assert list(store.keys()) == []

    def test_namespace_with_glob_characters_is_taken_literally(self, store: Store) -> None:
        odd = "conformance.[odd]*?.get"
        store.set(_key(1, odd), b"x")
        store.set(_key(1, "conformance.o.get"), b"y")
        assert list(store.keys(odd)) == [_key(1, odd)]
        assert store.clear(odd) == 1
        assert store.get(_key(1, "conformance.o.get")) == b"y"

    def test_scan_reports_sizes(self, store: Store) -> None:
        scan = getattr(store, "scan", None)
        if scan is None:
            raise unittest.SkipTest(f"{type(store).__name__} has no scan() (optional: the CLI's inspect uses it)")
        large = bytes(range(256)) * 1024
        store.set(_key(1), b"12345")
        store.set(_key(2), large)
        store.set(_key(1, "conformance.Other.get"), b"1")
        assert sorted(scan(NS)) == [(_key(1), 5), (_key(2), len(large))]
        assert sorted(scan()) == sorted([(_key(1), 5), (_key(2), len(large)), (_key(1, "conformance.Other.get"), 1)])

    def test_copies_share_the_entries_and_pickle_gives_the_same_kind(self, store: Store) -> None:
        # Copying or pickling a proxy copies its options, the store among them.
        store.set(_key(1), b"x")
        for clone in (copy.copy(store), copy.deepcopy(store)):
            assert clone.get(_key(1)) == b"x", "a copy of a store must see the same entries"
        assert type(pickle.loads(pickle.dumps(store))) is type(store)

    # -- caching through the store --------------------------------------------------

    def test_repeated_call_hits_the_store(self, store: Store) -> None:
        service = _Service()
        proxy = CachedProxy(service, store=store, key_attrs=("base",))
        assert proxy.get(1) == (1, 1)
        assert proxy.get(1) == (1, 1)
        assert proxy.get(item=1, page=1) == (1, 1)
        assert service.count("get") == 1
        info = cache_of(proxy.get).cache_info()
        assert (info.hits, info.misses, info.currsize, info.maxsize) == (2, 1, 1, None)

    def test_none_and_unhashable_arguments(self, store: Store) -> None:
        service = _Service()
        proxy = CachedProxy(service, store=store, key_attrs=())
        assert proxy.nothing() is None
        assert proxy.nothing() is None
        assert proxy.echo({"a": [1, 2]}) == {"a": [1, 2]}
        assert proxy.echo({"a": [1, 2]}) == {"a": [1, 2]}
        assert proxy.echo([1, 2]) == [1, 2]  # a list is not the tuple below
        assert proxy.echo((1, 2)) == (1, 2)
        assert service.count("nothing") == 1
        assert service.count("echo") == 3

    def test_instances_share_entries_by_key_attrs(self, store: Store) -> None:
        a, b, c = _Service("https://a"), _Service("https://a"), _Service("https://c")
        pa, pb, pc = (CachedProxy(x, store=store, key_attrs=("base",)) for x in (a, b, c))
        pa.get(1)
        assert pb.get(1) == (1, 1)
        assert pc.get(1) == (1, 1)
        assert (a.count("get"), b.count("get"), c.count("get")) == (1, 0, 1)

    def test_invalidate_and_refresh(self, store: Store) -> None:
        service = _Service()
        proxy = CachedProxy(service, store=store, key_attrs=())
        proxy.get(1)
        proxy.get(2)
        assert cache_of(proxy.get).cache_invalidate(1) is True
        assert cache_of(proxy.get).cache_invalidate(1) is False
        proxy.get(1)
        proxy.get(2)
        assert service.count("get") == 3
        assert cache_of(proxy.get).cache_refresh(2) == (2, 1)
        assert service.count("get") == 4
        proxy.get(2)
        assert service.count("get") == 4

    def test_cache_clear_clears_the_namespace_only(self, store: Store) -> None:
        service = _Service()
        proxy = CachedProxy(service, store=store, key_attrs=())
        proxy.get(1)
        proxy.echo(1)
        cache_of(proxy.get).cache_clear()
        assert cache_of(proxy.get).cache_info() == (0, 0, None, 0)
        assert cache_of(proxy.echo).cache_info().currsize == 1
        proxy.get(1)
        proxy.echo(1)
        assert (service.count("get"), service.count("echo")) == (2, 1)

    def test_version_bump_starts_afresh(self, store: Store) -> None:
        first, second = _Service(), _Service()
        CachedProxy(first, store=store, key_attrs=(), version=1).get(1)
        CachedProxy(second, store=store, key_attrs=(), version=2).get(1)
        CachedProxy(second, store=store, key_attrs=(), version=2).get(1)
        assert second.count("get") == 1
        namespaces = {k.rpartition(":")[0] for k in store.keys(None)}
        assert namespaces == {f"{_SERVICE_NS}@1", f"{_SERVICE_NS}@2"}

    def test_ttl_option_reaches_the_store(self, store: Store) -> None:
        service = _Service()
        proxy = CachedProxy(service, store=store, key_attrs=(), ttl=_TTL)
        start = time.monotonic()
        proxy.get(1)
        proxy.get(1)
        if time.monotonic() - start < _TTL:  # a slow machine may be past it already
            assert service.count("get") == 1
        time.sleep(_TTL * 1.5)
        before = service.count("get")
        proxy.get(1)
        assert service.count("get") == before + 1

    def test_cached_exceptions_round_trip(self, store: Store) -> None:
        service = _Service()
        proxy = CachedProxy(service, store=store, key_attrs=(), cache_exceptions=ValueError)
        for _ in range(2):
            raised: BaseException | None = None
            try:
                proxy.fail("boom")
            except ValueError as error:
                raised = error
            assert isinstance(raised, ValueError), "the cached ValueError was not raised"
            assert str(raised) == "boom"
        assert service.count("fail") == 1

    def test_coroutine_results_are_awaited_then_stored(self, store: Store) -> None:
        service = _Service()
        proxy = CachedProxy(service, store=store, key_attrs=())

        async def twice() -> list[Any]:
            return [await proxy.aget(5), await proxy.aget(5)]

        assert asyncio.run(twice()) == [5, 5]
        assert service.count("aget") == 1

    def test_module_level_cache_info_sees_store_backed_methods(self, store: Store) -> None:
        proxy = CachedProxy(_Service(), store=store, key_attrs=())
        proxy.get(1)
        proxy.get(1)
        assert cache_info(proxy)["get"].hits == 1
        assert cache_of(proxy.get).cache_stats()["faults"] == 0


def check_store(make_store: Callable[[], Any]) -> None:
    """Run every :class:`StoreConformance` check, each on a fresh store from *make_store*.

    (Typed loosely: a store may declare ``shared`` as a class variable, which a
    type checker does not match with the protocol's attribute; the first check
    tests the protocol at run time.)

    Raises ``AssertionError`` naming every check that failed. For use outside
    pytest (with pytest, subclass :class:`StoreConformance` instead).
    """
    suite = StoreConformance()
    failed: list[str] = []
    for name in sorted(n for n in dir(StoreConformance) if n.startswith("test_")):
        try:
            getattr(suite, name)(make_store())
        except unittest.SkipTest:
            continue
        except Exception as error:
            failed.append(f"{name}: {type(error).__name__}: {error}")
    if failed:
        raise AssertionError(f"{len(failed)} store conformance check(s) failed:\n" + "\n".join(failed))
