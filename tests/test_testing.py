"""``proxycache.testing``: the fake clock, the reset, and the store conformance suite for other stores."""

from __future__ import annotations

import fnmatch
import logging
import time
import unittest
import warnings
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import cachetools
import pytest

from proxycache import MISS, CachedProxy, add_listener, cache_methods, cached_method
from proxycache.testing import FakeClock, StoreConformance, check_store, reset, use_clock

from .conftest import CountingClient

# -- the clock -------------------------------------------------------------------------


def test_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock(start=5)
    assert clock() == clock.now == 5.0
    assert clock.advance(1.5) == 6.5
    assert clock.advance(timedelta(minutes=1)) == 66.5
    assert clock() == 66.5
    assert repr(clock) == "FakeClock(now=66.5)"


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "1", True, None])
def test_fake_clock_refuses_to_go_back_or_to_nonsense(bad: Any) -> None:
    clock = FakeClock()
    with pytest.raises((TypeError, ValueError), match="seconds"):
        clock.advance(bad)
    assert clock() == 0.0


def test_use_clock_times_ttl_through_every_entry_point() -> None:
    class Client:
        def __init__(self) -> None:
            self.calls = 0

        def get(self, key: int) -> int:
            self.calls += 1
            return key

    class Own:
        def __init__(self) -> None:
            self.calls = 0

        @cached_method(ttl=10)
        def get(self, key: int) -> int:
            self.calls += 1
            return key

    with use_clock() as clock:
        objects = [CachedProxy(Client(), ttl=10), cache_methods(Client(), "get", ttl=10), Own()]
        for obj in objects:
            obj.get(1)
        clock.advance(9.999)
        for obj in objects:
            obj.get(1)
            assert obj.calls == 1
        clock.advance(0.001)  # exactly ttl after the write: expired
        for obj in objects:
            obj.get(1)
            assert obj.calls == 2


def test_caches_keep_the_clock_they_were_built_with() -> None:
    with use_clock() as clock:
        inside = CachedProxy(CountingClient(), ttl=10)
        inside.get(1)  # the method's cache is built on first use
    after = CachedProxy(CountingClient(), ttl=10)
    after.get(1)
    clock.advance(11)  # moves the first cache's time only
    inside.get(1)
    after.get(1)
    assert inside.__wrapped__.count("get") == 2
    assert after.__wrapped__.count("get") == 1



def test_a_method_looked_up_in_the_block_keeps_its_clock_when_first_called_after() -> None:
    with use_clock() as clock:
        api = CachedProxy(CountingClient(), ttl=10)
        get = api.get  # built here, as the docs say; first called below, after the block
    get(1)
    get(1)
    clock.advance(11)
    get(1)
    assert api.__wrapped__.count("get") == 2

def test_blocks_nest_and_restore_the_clock_before_them() -> None:
    outer, inner = FakeClock(), FakeClock()
    with use_clock(outer) as got:
        assert got is outer
        with use_clock(inner):
            nested = CachedProxy(CountingClient(), ttl=1)
            nested.get(1)
        restored = CachedProxy(CountingClient(), ttl=1)
        restored.get(1)
    inner.advance(2)
    nested.get(1)
    restored.get(1)
    assert nested.__wrapped__.count("get") == 2
    assert restored.__wrapped__.count("get") == 1  # reads outer, which stood still
    outer.advance(2)
    restored.get(1)
    assert restored.__wrapped__.count("get") == 2


def test_use_clock_takes_any_clock_function() -> None:
    now = [100.0]
    with use_clock(lambda: now[0]):
        proxy = CachedProxy(CountingClient(), ttl=timedelta(seconds=5))
        proxy.get(1)
    now[0] += 5
    proxy.get(1)
    assert proxy.__wrapped__.count("get") == 2


def test_the_fake_clock_also_drives_cachetools_caches() -> None:
    clock = FakeClock()
    proxy = CachedProxy(CountingClient(), cache=lambda: cachetools.TTLCache(8, ttl=5, timer=clock))
    proxy.get(1)
    proxy.get(1)
    clock.advance(5)
    proxy.get(1)
    assert proxy.__wrapped__.count("get") == 2


@pytest.mark.parametrize(
    ("clock", "message"),
    [(1.0, "must be a callable"), (lambda: "noon", "must return seconds"), (lambda: None, "must return seconds")],
)
def test_use_clock_rejects_what_is_not_a_clock(clock: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        use_clock(clock)


def test_after_the_block_new_caches_read_the_real_clock() -> None:
    with use_clock() as clock:
        pass
    proxy = CachedProxy(CountingClient(), ttl=0.05)
    proxy.get(1)
    clock.advance(3600)
    time.sleep(0.1)
    proxy.get(1)
    assert proxy.__wrapped__.count("get") == 2  # the real clock expired it, not the fake one


# -- reset ---------------------------------------------------------------------------


class Down:
    """A store whose every operation fails, as a server that went away does."""

    shared = True

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("store down")

    get = set = delete = clear = keys = _fail


def _unserializable_warnings(proxy: Any) -> int:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        proxy.echo({1, 2})  # JSON has no sets
    return sum("cannot store" in str(w.message) for w in caught)


def test_reset_forgets_warnings_given_once() -> None:
    # (a memory store keeps objects as they are: a store of bytes is needed here)
    proxy = CachedProxy(
        CountingClient(), store=_BytesStore(), serializer="json", key_attrs=(), namespace="tests.reset.warn"
    )
    assert _unserializable_warnings(proxy) == 1
    assert _unserializable_warnings(proxy) == 0  # once per method
    reset()
    assert _unserializable_warnings(proxy) == 1


def test_reset_forgets_the_fault_log_throttle(caplog: pytest.LogCaptureFixture) -> None:
    proxy = CachedProxy(CountingClient(), store=Down(), key_attrs=())
    with caplog.at_level(logging.WARNING, logger="proxycache"):
        proxy.get(1)
        proxy.get(2)
        logged = [r for r in caplog.records if "store down" in r.getMessage()]
        assert len(logged) == 1  # later faults within the interval are counted, not logged
        reset()
        proxy.get(3)
        logged = [r for r in caplog.records if "store down" in r.getMessage()]
        assert len(logged) == 2
    assert proxy.get.cache_stats()["faults"] >= 3


def test_reset_removes_listeners_and_leaves_the_hit_path_working() -> None:
    seen: list[str] = []
    remove = add_listener(lambda event: seen.append(event.kind))
    proxy = CachedProxy(CountingClient())
    proxy.get(1)
    assert seen == ["miss"]
    reset()
    proxy.get(1)
    proxy.get(2)
    assert seen == ["miss"]
    remove()  # removing one that reset already removed is harmless
    info = proxy.get.cache_info()
    assert (info.hits, info.misses) == (1, 2)


def test_reset_restores_the_real_clock() -> None:
    with use_clock() as clock:
        reset()
        proxy = CachedProxy(CountingClient(), ttl=60)
        proxy.get(1)
        clock.advance(120)
        proxy.get(1)
    assert proxy.__wrapped__.count("get") == 1


# -- the conformance suite, for stores written elsewhere ----------------------------


class _BytesStore:
    """A third party's store: a dict of bytes with expiry, meeting the Store protocol."""

    shared = True

    def __init__(self) -> None:
        self.entries: dict[str, tuple[bytes, float | None]] = {}

    def __reduce__(self) -> Any:
        return (_BytesStore, ())

    def __copy__(self) -> _BytesStore:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _BytesStore:
        return self

    def _live(self) -> dict[str, bytes]:
        now = time.monotonic()
        return {k: v for k, (v, until) in self.entries.items() if until is None or until > now}

    def get(self, key: str) -> Any:
        return self._live().get(key, MISS)

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self.entries[key] = (value, None if ttl is None else time.monotonic() + ttl)

    def delete(self, key: str) -> bool:
        live = key in self._live()  # an expired entry was not there to delete
        self.entries.pop(key, None)
        return live

    def clear(self, namespace: str | None = None) -> int:
        doomed = [k for k in self._live() if namespace is None or k.rpartition(":")[0] == namespace]
        for k in doomed:
            del self.entries[k]
        return len(doomed)

    def keys(self, namespace: str | None = None) -> Iterator[str]:
        return iter([k for k in self._live() if namespace is None or k.rpartition(":")[0] == namespace])

    def scan(self, namespace: str | None = None) -> Iterator[tuple[str, int]]:
        # Optional (the CLI's inspect uses it); the suite skips its check for a store without it.
        live = self._live()
        return iter([(k, len(live[k])) for k in self.keys(namespace)])


class TestAThirdPartyStore(StoreConformance):
    """How a store's author runs the suite with pytest: a ``store`` fixture and a subclass."""

    @pytest.fixture
    def store(self) -> _BytesStore:
        return _BytesStore()


def test_check_store_runs_the_suite_without_pytest() -> None:
    made: list[_BytesStore] = []

    def factory() -> _BytesStore:
        made.append(_BytesStore())
        return made[-1]

    check_store(factory)
    checks = [n for n in dir(StoreConformance) if n.startswith("test_")]
    assert len(made) == len(checks)  # a fresh store per check
    assert len(checks) >= 20


class _Forgetful(_BytesStore):
    """Deletes nothing, yet says it did; and lists keys by a glob, so brackets in namespaces misfire."""

    def delete(self, key: str) -> bool:
        return True

    def keys(self, namespace: str | None = None) -> Iterator[str]:
        pattern = "*" if namespace is None else f"{namespace}:*"
        return iter([k for k in self._live() if fnmatch.fnmatchcase(k, pattern)])


def test_check_store_names_every_check_a_broken_store_fails() -> None:
    with pytest.raises(AssertionError) as failure:
        check_store(_Forgetful)
    report = str(failure.value)
    assert "test_delete_says_whether_there_was_an_entry" in report
    assert "test_namespace_with_glob_characters_is_taken_literally" in report
    assert "test_get_of_an_absent_key_is_miss" not in report


def test_optional_parts_are_skipped_not_passed() -> None:
    class NoScan(_BytesStore):
        scan = None  # type: ignore[assignment]  # a store without the optional scan()

    suite = StoreConformance()
    with pytest.raises(unittest.SkipTest, match="no scan"):
        suite.test_scan_reports_sizes(NoScan())  # type: ignore[arg-type]
