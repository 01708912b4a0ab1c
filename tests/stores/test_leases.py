"""Leases, for single flight across processes: every store, a Redis Cluster too, and real processes."""

from __future__ import annotations

import asyncio
import inspect
import multiprocessing
import time
from typing import Any

import pytest

from proxycache import CachedProxy

NS = "tests.Leases.get"


@pytest.fixture(
    params=["disk", pytest.param("redis", marks=pytest.mark.redis), pytest.param("cluster", marks=pytest.mark.redis)]
)
def kind_of_lease_store(request: pytest.FixtureRequest) -> str:
    """The stores whose lease lifetime is set (``lease_ttl=``)."""
    return str(request.param)


def key(n: int, ns: str = NS) -> str:
    return f"{ns}:{n:040x}"


def test_every_store_has_the_lease_calls(any_store: Any) -> None:
    for name in ("acquire_lease", "renew_lease", "release_lease"):
        assert callable(getattr(any_store, name)), name
    for name in ("aacquire_lease", "arenew_lease", "arelease_lease"):
        assert inspect.iscoroutinefunction(getattr(any_store, name)), name


def test_one_holder_at_a_time(any_store: Any) -> None:
    token = any_store.acquire_lease(key(1), 30)
    assert isinstance(token, str)
    assert len(token) >= 32
    assert any_store.acquire_lease(key(1), 30) is None
    other = any_store.acquire_lease(key(2), 30)  # another key: its own lease
    assert other is not None
    assert other != token


def test_only_the_owner_releases(any_store: Any) -> None:
    token = any_store.acquire_lease(key(1), 30)
    assert token is not None
    assert any_store.release_lease(key(1), "not-the-token") is False
    assert any_store.acquire_lease(key(1), 30) is None  # still held
    assert any_store.release_lease(key(1), token) is True
    assert any_store.release_lease(key(1), token) is False  # released once
    assert any_store.acquire_lease(key(1), 30) is not None


def test_only_the_owner_renews(any_store: Any) -> None:
    token = any_store.acquire_lease(key(1), 30)
    assert token is not None
    assert any_store.renew_lease(key(1), "not-the-token", 30) is False
    assert any_store.renew_lease(key(1), token, 30) is True


def test_a_lapsed_lease_can_be_taken_and_is_nobodys(any_store: Any) -> None:
    token = any_store.acquire_lease(key(1), 0.05)
    assert token is not None
    time.sleep(0.2)
    assert any_store.renew_lease(key(1), token, 30) is False
    successor = any_store.acquire_lease(key(1), 30)
    assert successor is not None
    assert any_store.release_lease(key(1), token) is False  # the old holder cannot free the new lease
    assert any_store.acquire_lease(key(1), 30) is None


def test_renew_extends_the_lease(any_store: Any) -> None:
    token = any_store.acquire_lease(key(1), 0.3)
    assert token is not None
    for _ in range(4):  # well past the first 0.3s, kept alive by renewals
        time.sleep(0.1)
        assert any_store.renew_lease(key(1), token, 0.3) is True
    assert any_store.acquire_lease(key(1), 30) is None
    time.sleep(0.5)  # no more renewals: it lapses
    assert any_store.acquire_lease(key(1), 30) is not None


def test_leases_are_not_entries(any_store: Any) -> None:
    any_store.set(key(1), b"value")
    assert any_store.acquire_lease(key(1), 30) is not None
    assert any_store.acquire_lease(key(2), 30) is not None
    assert list(any_store.keys()) == [key(1)]
    assert any_store.get(key(2)) is not None
    assert not any_store.get(key(2))
    assert any_store.clear() == 1
    assert any_store.acquire_lease(key(1), 30) is None  # clearing entries leaves leases to their holders


@pytest.mark.parametrize("ttl", [0, -1, True, "1"])
def test_a_lease_needs_positive_seconds(any_store: Any, ttl: Any) -> None:
    with pytest.raises(ValueError, match="lease ttl must be positive seconds"):
        any_store.acquire_lease(key(1), ttl)


def test_async_leases(any_store: Any) -> None:
    async def main() -> None:
        token = await any_store.aacquire_lease(key(1), 30)
        assert token is not None
        assert await any_store.aacquire_lease(key(1), 30) is None
        assert await any_store.arenew_lease(key(1), "nope", 30) is False
        assert await any_store.arenew_lease(key(1), token, 30) is True
        assert await any_store.arelease_lease(key(1), "nope") is False
        assert await any_store.arelease_lease(key(1), token) is True
        # A lease taken by a coroutine is the same lease the sync calls see.
        assert any_store.acquire_lease(key(1), 30) is not None
        assert await any_store.aacquire_lease(key(1), 30) is None

    asyncio.run(main())


def test_lease_left_tells_how_long_a_lease_lives_unless_renewed(any_store: Any) -> None:
    assert any_store.lease_left(key(1)) is None  # free
    token = any_store.acquire_lease(key(1), 30)
    assert token is not None
    assert 29 < any_store.lease_left(key(1)) <= 30
    assert any_store.renew_lease(key(1), token, 60) is True
    assert 59 < any_store.lease_left(key(1)) <= 60
    assert asyncio.run(any_store.alease_left(key(1))) == pytest.approx(60, abs=1)
    assert any_store.release_lease(key(1), token) is True
    assert any_store.lease_left(key(1)) is None
    assert asyncio.run(any_store.alease_left(key(1))) is None
    assert any_store.acquire_lease(key(2), 0.05) is not None
    time.sleep(0.1)
    assert any_store.lease_left(key(2)) is None  # lapsed
    assert any_store.lease_left(key(3)) is None  # never taken
    assert list(any_store.keys(None)) == []


# -- between processes --------------------------------------------------------------


def _contend(store: Any, name: str, start: Any, results: Any) -> None:
    start.wait(30)
    results.put(store.acquire_lease(name, 30))


@pytest.mark.parametrize("kind", ["disk", pytest.param("redis", marks=pytest.mark.redis)])
def test_processes_racing_for_a_lease_elect_one(make_store: Any, kind: str) -> None:
    store = make_store(kind)
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    results = ctx.Queue()
    procs = [ctx.Process(target=_contend, args=(store, key(7), start, results)) for _ in range(4)]
    for p in procs:
        p.start()
    start.set()
    tokens = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    winners = [t for t in tokens if t is not None]
    assert len(winners) == 1
    assert store.release_lease(key(7), winners[0]) is True  # a token taken elsewhere releases here


def _hold_and_die(store: Any, name: str, held: Any) -> None:
    held.put(store.acquire_lease(name, 0.5))
    time.sleep(60)  # killed before this ends


@pytest.mark.parametrize("kind", ["disk", pytest.param("redis", marks=pytest.mark.redis)])
def test_the_lease_of_a_killed_holder_lapses(make_store: Any, kind: str) -> None:
    store = make_store(kind)
    ctx = multiprocessing.get_context("spawn")
    held = ctx.Queue()
    proc = ctx.Process(target=_hold_and_die, args=(store, key(8), held))
    proc.start()
    try:
        assert held.get(timeout=60) is not None
        proc.kill()
        proc.join(10)
        assert store.acquire_lease(key(8), 30) is None  # still within the dead holder's 0.5s
        deadline = time.monotonic() + 10
        token = None
        while token is None and time.monotonic() < deadline:
            time.sleep(0.05)
            token = store.acquire_lease(key(8), 30)
        assert token is not None
    finally:
        proc.kill()
        proc.join(10)


# -- a lease as a lock, renewed while held ---------------------------------------------


class Slow:
    """A method that runs long enough for its lease to need renewing; *during* runs inside it."""

    def __init__(self, during: Any) -> None:
        self.during = during

    def get(self, n: int) -> int:
        self.during(n)
        return n

    async def aget(self, n: int) -> int:
        await self.during(n)
        return n


class Tokens:
    """A store that hands every call to a built-in one and notes the lease tokens it gives out."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.shared = inner.shared
        self.tokens: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def acquire_lease(self, name: str, ttl: float) -> Any:
        token = self.inner.acquire_lease(name, ttl)
        if token is not None:
            self.tokens.append(token)
        return token


def name_of(store: Any, n: int) -> str:
    """The store key (and lease name) a cached call with *n* uses: stable, so read off a scratch call."""
    from proxycache import MemoryStore

    scratch = MemoryStore()
    CachedProxy(Slow(lambda n: None), store=scratch, key_attrs=(), namespace=NS).get(n)
    (name,) = scratch.keys(None)
    return name


# A leader's lease renewed through a long computation: test_store_flight.py.


def test_a_lease_taken_over_is_never_freed_by_its_old_holder(make_store: Any, kind_of_lease_store: str) -> None:
    store = Tokens(make_store(kind_of_lease_store, lease_ttl=0.3))
    name = name_of(store, 10)
    taken: list[str] = []

    def during(n: int) -> None:
        (mine,) = store.tokens
        assert store.release_lease(name, mine) is True  # as if it lapsed...
        token = store.acquire_lease(name, 30)  # ...and another process took it
        assert token is not None
        taken.append(token)
        time.sleep(0.5)  # the renewer finds the lease lost, and leaves it to the new holder

    proxy = CachedProxy(Slow(during), store=store, key_attrs=(), namespace=NS, single_flight="store")
    assert proxy.get(10) == 10
    assert store.acquire_lease(name, 30) is None  # still the new holder's
    assert store.release_lease(name, taken[0]) is True


def test_a_coroutine_leaders_lease_is_renewed_while_it_awaits(make_store: Any, kind_of_lease_store: str) -> None:
    store = make_store(kind_of_lease_store, lease_ttl=0.3)
    name = name_of(store, 11)
    held: list[bool] = []

    async def during(n: int) -> None:
        await asyncio.sleep(1.0)
        held.append(await store.aacquire_lease(name, 30) is None)

    proxy = CachedProxy(Slow(during), store=store, key_attrs=(), namespace=NS, single_flight="store")
    assert asyncio.run(proxy.aget(11)) == 11
    assert held == [True]
    assert store.acquire_lease(name, 30) is not None
