"""The store-lease flight (single_flight="store") step by step: every store, a Redis Cluster, threads and tasks.

Each test plays "another process" by hand through the store's own lease
calls (``acquire_lease``, ``release_lease``) and entries, on the key a cached
call uses (keys are stable, so a call on a scratch store tells it), and
watches the cached call through its result, ``cache_stats()`` and listener
events. Whole processes racing on one key: ``test_fleet_flight.py``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from proxycache import CachedProxy, Event, MemoryStore, add_listener, cache_of, cache_stats

from ..ticker import Ticker

NS = "tests.Flight"


@pytest.fixture(params=["disk", pytest.param("redis", marks=pytest.mark.redis)])
def kind_of_lease_store(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def events() -> Iterator[list[Event]]:
    seen: list[Event] = []
    remove = add_listener(seen.append)
    yield seen
    remove()


def waits(events: list[Event]) -> list[str]:
    return [e.detail["outcome"] for e in events if e.kind == "wait" and e.detail["scope"] == "store"]


class Service:
    """Counts its calls; *hook* (given the argument) runs inside the computation."""

    def __init__(self, answer: str = "mine", hook: Callable[[int], Any] | None = None) -> None:
        self.answer = answer
        self.hook = hook
        self.calls = 0

    def get(self, n: int) -> str:
        self.calls += 1
        if self.hook is not None:
            self.hook(n)
        return f"{self.answer} {n}"

    async def aget(self, n: int) -> str:
        self.calls += 1
        if self.hook is not None:
            await self.hook(n)
        return f"{self.answer} {n}"


def cached(store: Any, service: Service | None = None) -> Any:
    return CachedProxy(service or Service(), store=store, key_attrs=(), namespace=NS, single_flight="store")


def key_of(n: int) -> str:
    """The store key (and lease name) of ``get(n)``: the same in every store."""
    scratch = MemoryStore()
    CachedProxy(Service(), store=scratch, key_attrs=(), namespace=NS).get(n)
    (name,) = scratch.keys(None)
    return name


def their_entry(store: Any, n: int) -> tuple[str, Any]:
    """The key of ``get(n)`` and what "another process" would store under it ("theirs n"), not stored yet."""
    name = key_of(n)
    CachedProxy(Service("theirs"), store=store, key_attrs=(), namespace=NS).get(n)
    data = store.get(name)
    assert store.delete(name) is True
    return name, data


def _holder_then(store: Any, name: str, token: str, value: Any, after: float) -> threading.Thread:
    def work() -> None:
        time.sleep(after)
        if value is not None:
            store.set(name, value)
        store.release_lease(name, token)

    thread = threading.Thread(target=work)
    thread.start()
    return thread


class Wrapped:
    """A store that hands every call to a built-in one, with some calls overridden (a third-party wrapper)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.shared = inner.shared

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"Wrapped({self.inner!r})"


# -- a leader ------------------------------------------------------------------------------


def test_a_free_key_is_computed_under_the_lease_and_the_lease_given_back(any_store: Any, events: list[Event]) -> None:
    name = key_of(1)
    seen_held: list[bool] = []
    proxy = cached(any_store, Service(hook=lambda n: seen_held.append(any_store.acquire_lease(name, 30) is None)))
    assert proxy.get(1) == "mine 1"
    assert seen_held == [True]  # held by this call meanwhile
    assert any_store.acquire_lease(name, 30) is not None  # released
    assert cache_of(proxy.get).cache_stats()["faults"] == 0
    assert waits(events) == []


def test_a_value_that_landed_before_the_lease_is_taken_is_not_computed_again(any_store: Any) -> None:
    name, theirs = their_entry(any_store, 2)

    class LandsFirst(Wrapped):
        def acquire_lease(self, key: str, ttl: float) -> Any:
            # Another process stores the value and lets go between this call's miss and its lease.
            self.inner.set(name, theirs)
            return self.inner.acquire_lease(key, ttl)

    service = Service()
    assert cached(LandsFirst(any_store), service).get(2) == "theirs 2"
    assert service.calls == 0
    assert any_store.acquire_lease(name, 30) is not None


def test_the_lease_is_renewed_while_a_long_computation_runs(make_store: Any, kind_of_lease_store: str) -> None:
    store = make_store(kind_of_lease_store, lease_ttl=0.3)
    name = key_of(13)
    held_meanwhile: list[bool] = []

    def slowly(n: int) -> None:
        for _ in range(6):  # 1.2 s: four times the lease's lifetime
            time.sleep(0.2)
            held_meanwhile.append(store.acquire_lease(name, 30) is None)

    assert cached(store, Service(hook=slowly)).get(13) == "mine 13"
    assert held_meanwhile == [True] * 6
    assert store.acquire_lease(name, 30) is not None


def test_an_error_of_the_computation_gives_the_lease_back(any_store: Any) -> None:
    def boom(n: int) -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        cached(any_store, Service(hook=boom)).get(6)
    assert any_store.acquire_lease(key_of(6), 30) is not None


def test_the_lease_ttl_comes_from_the_store(make_store: Any) -> None:
    asked: list[float] = []

    class Asking(Wrapped):
        def acquire_lease(self, key: str, ttl: float) -> Any:
            asked.append(ttl)
            return self.inner.acquire_lease(key, ttl)

    for n, store in enumerate([make_store("disk", lease_ttl=2.5), make_store("memory")]):
        cached(Asking(store)).get(n)
    assert asked == [2.5, 10.0]  # the store's lease_ttl, else ten seconds
    assert make_store("disk").lease_ttl == 10.0
    with pytest.raises(ValueError, match="lease ttl"):
        make_store("disk", lease_ttl=0)


# -- a waiter --------------------------------------------------------------------------------


def test_a_waiter_takes_the_holders_value_when_it_lands(any_store: Any, events: list[Event]) -> None:
    name, theirs = their_entry(any_store, 3)
    token = any_store.acquire_lease(name, 30)
    assert token is not None
    holder = _holder_then(any_store, name, token, theirs, 0.3)
    service = Service()
    proxy = cached(any_store, service)
    assert proxy.get(3) == "theirs 3"
    holder.join()
    assert service.calls == 0
    assert waits(events) == ["value"]
    assert [e.detail["seconds"] > 0 for e in events if e.kind == "wait"] == [True]
    assert cache_of(proxy.get).cache_stats()["coalesced"] == 1


def test_a_waiter_computes_when_the_holder_gives_up_without_a_value(any_store: Any, events: list[Event]) -> None:
    name = key_of(4)
    token = any_store.acquire_lease(name, 30)
    assert token is not None
    holder = _holder_then(any_store, name, token, None, 0.2)  # the holder raised: no value
    service = Service()
    assert cached(any_store, service).get(4) == "mine 4"
    holder.join()
    assert service.calls == 1
    assert waits(events) == ["lapsed"]


def test_a_waiter_computes_when_a_dead_holders_lease_lapses(any_store: Any, events: list[Event]) -> None:
    assert any_store.acquire_lease(key_of(5), 0.3) is not None  # never renewed: its holder died
    service = Service()
    assert cached(any_store, service).get(5) == "mine 5"
    assert service.calls == 1
    assert waits(events) == ["lapsed"]


# -- faults ----------------------------------------------------------------------------------


@pytest.mark.redis
def test_a_store_that_is_down_degrades_to_computing_here(redis_process: Any, events: list[Event]) -> None:
    from proxycache import RedisStore

    store = RedisStore(redis_process.url, socket_timeout=0.2)
    redis_process.stop()
    service = Service()
    proxy = cached(store, service)
    with pytest.warns(Warning, match="connect"):
        assert proxy.get(7) == "mine 7"
    assert asyncio.run(proxy.aget(7)) == "mine 7"
    assert service.calls == 2
    ops = [e.detail["op"] for e in events if e.kind == "fault"]
    assert ops.count("lease acquire") == 2, ops  # once per call, sync and async
    assert sum(stats["faults"] for stats in cache_stats(proxy).values()) == len(ops)


def test_a_waiter_whose_looks_fail_computes_when_the_lease_lapses(any_store: Any, events: list[Event]) -> None:
    assert any_store.acquire_lease(key_of(8), 0.3) is not None  # another process took it, then died

    class Unreadable(Wrapped):
        reads = 0

        def get(self, key: str) -> Any:
            self.reads += 1
            if self.reads == 1:
                return self.inner.get(key)  # the miss that leads to the lease
            raise OSError("the read failed")  # every look while waiting

    service = Service()
    store = Unreadable(any_store)
    assert cached(store, service).get(8) == "mine 8"  # a failed look is "not there yet", never an error
    assert service.calls == 1
    assert store.reads > 1
    assert waits(events) == ["lapsed"]


# -- coroutines ------------------------------------------------------------------------


def test_async_waiter_takes_the_value_and_the_loop_keeps_running(any_store: Any, events: list[Event]) -> None:
    name, theirs = their_entry(any_store, 9)
    token = any_store.acquire_lease(name, 30)
    assert token is not None
    service = Service()
    proxy = cached(any_store, service)

    async def main() -> tuple[str, int]:
        async def holder() -> None:
            await asyncio.sleep(0.3)
            await any_store.aset(name, theirs)
            await any_store.arelease_lease(name, token)

        await any_store.aget(key_of(99))  # the loop's client connected before the race starts
        async with Ticker() as ticker:
            hold = asyncio.create_task(holder())
            got = await proxy.aget(9)
            await hold
        return got, ticker.ticks

    got, ticks = asyncio.run(main())
    assert got == "theirs 9"  # get(9) and aget(9) share the namespace given: one key
    assert service.calls == 0
    assert ticks > 5  # the loop ran while the call waited
    assert waits(events) == ["value"]


def test_async_leader_computes_under_the_lease(any_store: Any) -> None:
    name = key_of(10)
    seen_held: list[bool] = []

    async def check(n: int) -> None:
        seen_held.append(await any_store.aacquire_lease(name, 30) is None)

    assert asyncio.run(cached(any_store, Service(hook=check)).aget(10)) == "mine 10"
    assert seen_held == [True]
    assert any_store.acquire_lease(name, 30) is not None


class NoCoroutines(Wrapped):
    """A third-party store without coroutines: proxycache makes its calls in threads."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("a") and callable(getattr(self.inner, name[1:], None)):
            raise AttributeError(name)
        return getattr(self.inner, name)


@pytest.mark.parametrize("wrap", [lambda store: store, NoCoroutines], ids=["its coroutines", "no coroutines"])
def test_an_async_call_as_asyncio_run_shuts_the_executor_down_still_uses_the_store(
    any_store: Any, events: list[Event], wrap: Callable[[Any], Any]
) -> None:
    name = key_of(11)
    service = Service()

    async def main() -> str:
        # What asyncio.run() does as it ends, while tasks still run (an async generator's cleanup, a
        # lease given back): the loop's executor refuses new work from then on.
        await asyncio.get_running_loop().shutdown_default_executor()
        return await cached(wrap(any_store), service).aget(11)

    assert asyncio.run(main()) == "mine 11"
    assert service.calls == 1
    assert [e.detail for e in events if e.kind == "fault"] == []
    token = any_store.acquire_lease(name, 30)
    assert token is not None  # given back, not left to lapse
    any_store.release_lease(name, token)
    other = Service()
    assert cached(any_store, other).get(11) == "mine 11"  # stored
    assert other.calls == 0


class FarOffNoCoroutines(Wrapped):
    """A store some way off: a lease granted, or an entry read, reaches the caller 50 ms after the store acted.

    ``started`` lists the calls as they reach the store, so a test can cancel the caller at a chosen step.
    It has no coroutines: proxycache makes its calls in threads.
    """

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.started: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return NoCoroutines.__getattr__(self, name)  # type: ignore[arg-type]

    def acquire_lease(self, key: str, ttl: float) -> str | None:
        token = self.inner.acquire_lease(key, ttl)
        self.started.append("acquire")
        time.sleep(0.05)
        return token  # type: ignore[no-any-return]

    def get(self, key: str) -> Any:
        self.started.append("get")
        time.sleep(0.05)
        return self.inner.get(key)


class FarOff(FarOffNoCoroutines):
    """:class:`FarOffNoCoroutines` with the store's coroutines."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def aacquire_lease(self, key: str, ttl: float) -> str | None:
        token = await self.inner.aacquire_lease(key, ttl)
        self.started.append("acquire")
        await asyncio.sleep(0.05)
        return token  # type: ignore[no-any-return]

    async def aget(self, key: str) -> Any:
        self.started.append("get")
        await asyncio.sleep(0.05)
        return await self.inner.aget(key)


@pytest.mark.parametrize("step", ["acquire", "look"])
@pytest.mark.parametrize("wrap", [FarOff, FarOffNoCoroutines], ids=["its coroutines", "no coroutines"])
def test_a_caller_cancelled_while_it_takes_or_looks_under_the_lease_gives_it_back(
    any_store: Any, step: str, wrap: type[FarOffNoCoroutines]
) -> None:
    # asyncio.wait_for() running out, or a web request dropped: the caller's task is cancelled between
    # two store calls of its miss. The lease it was granted must not outlive it (renewed for good, or
    # left to lapse): every caller of the key, in every process, would wait on it.
    name = key_of(12)
    store = wrap(any_store)
    service = Service()

    async def main() -> str:
        caller = asyncio.create_task(cached(store, service).aget(12))
        # "acquire": the lease is granted, the answer on its way; "look": the read under the lease began.
        while "acquire" not in store.started or (step == "look" and store.started[-1] != "get"):
            await asyncio.sleep(0.001)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        await asyncio.sleep(0.3)  # the store's answer comes, and the lease goes back
        return await asyncio.wait_for(cached(any_store, service).aget(12), 5)

    assert asyncio.run(main()) == "mine 12"
    assert service.calls == 1  # the cancelled caller never computed
    token = any_store.acquire_lease(name, 30)
    assert token is not None  # free
    any_store.release_lease(name, token)


# -- a lease nobody keeps ------------------------------------------------------------------

LEASE_KINDS = ["disk", pytest.param("redis", marks=pytest.mark.redis), pytest.param("cluster", marks=pytest.mark.redis)]


def within(seconds: float, call: Callable[[], Any]) -> Any:
    """call() in a thread, failing the test (not hanging it) when it has not returned after *seconds*."""
    answers: list[Any] = []
    worker = threading.Thread(target=lambda: answers.append(call()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert answers, f"still waiting after {seconds}s"
    return answers[0]


def squat(store: Any, name: str, how: str) -> None:
    """Another program's key where the lease on *name* lives: it never lapses."""
    if store.kind == "disk":
        # A row with no expiry; or a pickle, which the store never reads.
        store.cache.set(name + "#lease", b"x" if how == "string" else ["x"])
        return
    from .conftest import redis_lease_name

    lease = redis_lease_name(store, name)
    if how == "string":
        store.client.set(lease, b"x")  # no PX
    else:
        store.client.rpush(lease, b"x")


@pytest.mark.parametrize("how", ["string", "another type"])
@pytest.mark.parametrize("kind", LEASE_KINDS)
def test_a_lease_that_never_lapses_is_computed_past_not_waited_for(
    make_store: Any, kind: str, how: str, events: list[Event]
) -> None:
    store = make_store(kind, lease_ttl=1)
    squat(store, key_of(20), how)
    squat(store, key_of(21), how)
    service = Service()
    proxy = cached(store, service)
    started = time.monotonic()
    assert within(10, lambda: proxy.get(20)) == "mine 20"
    assert within(10, lambda: asyncio.run(proxy.aget(21))) == "mine 21"
    assert time.monotonic() - started < 1  # at once: no live holder keeps such a lease
    assert service.calls == 2
    assert [e.detail["op"] for e in events if e.kind == "fault"] == ["lease check"] * 2
    assert waits(events) == ["fault"] * 2
    assert within(10, lambda: proxy.get(20)) == "mine 20"  # stored: a hit from now on
    assert service.calls == 2


@pytest.mark.parametrize("kind", LEASE_KINDS)
def test_a_lease_nobody_renews_lapses_for_the_waiters_after_the_lease_ttl(
    make_store: Any, kind: str, events: list[Event]
) -> None:
    store = make_store(kind, lease_ttl=0.5)
    for n in (22, 23):  # a holder's lease for an hour, never renewed: it died, or it was forged
        assert store.acquire_lease(key_of(n), 3600) is not None
    service = Service()
    proxy = cached(store, service)
    started = time.monotonic()
    assert within(10, lambda: proxy.get(22)) == "mine 22"
    assert within(10, lambda: asyncio.run(proxy.aget(23))) == "mine 23"
    assert 1.0 <= time.monotonic() - started < 3  # a lease ttl (0.5 s) each, then on
    assert service.calls == 2
    assert waits(events) == ["fault"] * 2


@pytest.mark.parametrize("kind", LEASE_KINDS)
def test_waiters_wait_for_a_live_holder_past_the_lease_ttl(make_store: Any, kind: str, events: list[Event]) -> None:
    store = make_store(kind, lease_ttl=0.3)
    leader_started = threading.Event()

    def slowly(n: int) -> None:
        leader_started.set()
        time.sleep(1.2)  # four lease ttls: its lease is renewed meanwhile

    async def aslowly(n: int) -> None:
        leader_started.set()
        await asyncio.sleep(1.2)

    for n, hook, run in ((24, slowly, lambda p: p.get(24)), (25, aslowly, lambda p: asyncio.run(p.aget(25)))):
        leader_started.clear()
        # Another process's leader: a proxy of its own, so it leads beside this one and takes the lease.
        leader = cached(store, Service("theirs", hook=hook))
        first = threading.Thread(target=run, args=(leader,))
        first.start()
        assert leader_started.wait(5)
        service = Service()
        waiter = cached(store, service)
        assert within(10, lambda run=run, waiter=waiter: run(waiter)) == f"theirs {n}"
        first.join()
        assert service.calls == 0
    assert waits(events) == ["value", "value"]
    assert [e for e in events if e.kind == "fault"] == []
