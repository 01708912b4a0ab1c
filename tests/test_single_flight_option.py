"""single_flight=: its values, its default per store, and the errors at wrap time through every entry point."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from proxycache import (
    CachedProxy,
    CachingMixin,
    DiskStore,
    Event,
    MemoryStore,
    add_listener,
    cache_methods,
    cached_method,
)

from .conftest import CountingClient


class _NoLeases:
    """A shared store of bytes without leases (a third-party store)."""

    shared = True

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        from proxycache import MISS

        return self.data.get(key, MISS)

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        self.data[key] = value

    def delete(self, key: str) -> bool:
        return self.data.pop(key, None) is not None

    def clear(self, namespace: str | None = None) -> int:
        n = len(self.data)
        self.data.clear()
        return n


@pytest.mark.parametrize("bad", ["processes", "Store", 1, True, "thread"])
def test_unknown_values_name_the_accepted_ones(bad: Any) -> None:
    with pytest.raises(ValueError, match=r"single_flight must be 'process'.*'store'.*False.*None") as info:
        CachedProxy(CountingClient(), single_flight=bad)
    assert repr(bad) in str(info.value)


def test_store_flight_needs_a_store_through_every_entry_point() -> None:
    expected = r"single_flight='store' needs store="
    with pytest.raises(TypeError, match=expected):
        CachedProxy(CountingClient(), single_flight="store")
    with pytest.raises(TypeError, match=expected):
        cache_methods(CountingClient(), "get", single_flight="store")
    with pytest.raises(TypeError, match=expected):

        class Mixed(CachingMixin, CountingClient, single_flight="store"):
            pass

    with pytest.raises(TypeError, match=expected):

        class Own:
            @cached_method(single_flight="store")
            def get(self, x: int) -> int:
                return x


def test_store_flight_needs_a_store_with_leases() -> None:
    with pytest.raises(TypeError, match=r"has no acquire_lease, renew_lease, release_lease.*single_flight='process'"):
        CachedProxy(CountingClient(), store=_NoLeases(), key_attrs=(), single_flight="store")


@pytest.mark.parametrize("mode", ["process", False, None])
def test_other_values_work_with_any_store(mode: Any) -> None:
    proxy = CachedProxy(CountingClient(), store=_NoLeases(), key_attrs=(), single_flight=mode)
    assert proxy.get(1) == proxy.get(1)
    assert len(proxy.calls) == 1


class _Gated:
    """Counts its calls; each waits for the gate."""

    def __init__(self, gate: threading.Event) -> None:
        self.gate = gate
        self.calls = 0

    def get(self, x: int) -> int:
        self.calls += 1
        self.gate.wait(30)
        return x


def _flight_between_two_caches(store: Any, **options: Any) -> tuple[int, list[Any]]:
    """Two caches of one method over *store* (as two processes would have), missing one key at once.

    The first computes under a gate; the second asks while it runs. Returns how
    often the second computed and the scopes of the waits listeners heard.
    """
    gate = threading.Event()
    first, second = _Gated(gate), _Gated(gate)
    proxies = [CachedProxy(o, store=store, key_attrs=(), **options) for o in (first, second)]
    seen: list[Event] = []
    remove = add_listener(seen.append)
    try:
        leader = threading.Thread(target=proxies[0].get, args=(1,))
        leader.start()
        deadline = time.monotonic() + 10
        while first.calls < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        waiter = threading.Thread(target=proxies[1].get, args=(1,))
        waiter.start()
        time.sleep(0.2)  # the second caller is at the lease, or computing
        gate.set()
        leader.join(30)
        waiter.join(30)
    finally:
        remove()
    return second.calls, [e.detail["scope"] for e in seen if e.kind == "wait"]


def test_the_default_is_store_with_a_shared_store_with_leases_else_process(tmp_path: Path) -> None:
    # "store": the second cache waits on the first's lease and takes its value.
    assert _flight_between_two_caches(DiskStore(tmp_path / "a")) == (0, ["store"])
    assert _flight_between_two_caches(MemoryStore()) == (0, ["store"])
    # "process": only callers of one cache share a computation; the other cache computes.
    assert _flight_between_two_caches(_NoLeases()) == (1, [])
    assert _flight_between_two_caches(DiskStore(tmp_path / "b"), single_flight="process") == (1, [])
    assert _flight_between_two_caches(DiskStore(tmp_path / "c"), single_flight=False) == (1, [])


def test_cache_parameters_show_it() -> None:
    proxy = CachedProxy(CountingClient(), single_flight=False)
    assert proxy.get.cache_parameters()["single_flight"] is False


def test_false_lets_every_concurrent_caller_compute() -> None:
    import threading

    gate = threading.Event()
    entered = threading.Semaphore(0)

    class Slow:
        def __init__(self) -> None:
            self.calls = 0

        def get(self, x: int) -> int:
            self.calls += 1
            entered.release()
            gate.wait(30)
            return x

    shared = CachedProxy(Slow())
    lone = CachedProxy(Slow(), single_flight=False)
    for proxy in (shared, lone):
        threads = [threading.Thread(target=proxy.get, args=(1,)) for _ in range(3)]
        for t in threads:
            t.start()
        assert entered.acquire(timeout=30)
        if proxy is lone:
            assert entered.acquire(timeout=30)  # a second caller computes beside the first...
            assert entered.acquire(timeout=30)  # ...and a third
        gate.set()
        for t in threads:
            t.join(30)
        gate.clear()
    assert shared.calls == 1
    assert lone.calls == 3
