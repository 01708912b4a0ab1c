"""One-shot results are never cached: generators, iterators, awaitables, context managers and nothing else.

A cached iterator would come back exhausted on the next call, and a cached
coroutine could be awaited only once. Generator and async-generator methods
are left unwrapped by the entry points that pick methods themselves; results
that turn out to be one-shot are returned as they are and counted in
``cache_stats()["uncached"]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from proxycache import CachedProxy, cache_info, cache_methods, cached_method

from .conftest import is_cached
from .test_async import ENTRY_POINTS, entry_points, make
from .test_single_flight import Runner, parked_in_proxycache, wait_until


class Reader:
    def __init__(self) -> None:
        self.calls = 0
        self.path: Path | None = None
        self.via: Any = self

    def rows(self, n: int) -> Iterator[int]:
        """A generator function."""
        self.calls += 1
        yield from range(n)

    async def arows(self, n: int) -> AsyncIterator[int]:
        """An async generator function."""
        self.calls += 1
        for i in range(n):
            yield i

    def listed(self, n: int) -> Iterator[int]:
        self.calls += 1
        return iter(list(range(n)))

    def lazy(self, n: int) -> Iterator[int]:
        self.calls += 1
        return (i for i in range(n))  # a generator object from a plain function

    def mapped(self, n: int) -> Iterator[int]:
        self.calls += 1
        return map(int, range(n))

    def text(self, n: int) -> io.StringIO:
        self.calls += 1
        return io.StringIO("".join(f"{i}\n" for i in range(n)))

    def opened(self, n: int) -> Any:
        self.calls += 1
        assert self.path is not None
        return self.path.open()

    def reusable(self, n: int) -> Any:
        """Iterable many times: cached like any value."""
        self.calls += 1
        return Again(n)

    def plain(self, n: int) -> list[int]:
        self.calls += 1
        return list(range(n))

    async def anext_batch(self, n: int) -> Iterator[int]:
        """A coroutine whose awaited result is a one-shot iterator."""
        self.calls += 1
        return iter(range(n))


class Again:
    """Iterable, but not an iterator: every ``iter()`` starts over."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.n))


class Waitable:
    """An awaitable that is neither a coroutine nor a future."""

    def __await__(self) -> Any:
        yield from asyncio.sleep(0).__await__()
        return 42


# -- generator methods are not wrapped ---------------------------------------------


def test_proxy_passes_generator_methods_through_uncached() -> None:
    obj = Reader()
    proxy = CachedProxy(obj)
    assert not is_cached(proxy.rows)
    assert not is_cached(proxy.arows)
    assert list(proxy.rows(3)) == [0, 1, 2]
    assert list(proxy.rows(3)) == [0, 1, 2]  # a fresh generator each time
    assert obj.calls == 2

    async def drain() -> list[int]:
        return [i async for i in proxy.arows(2)]

    assert asyncio.run(drain()) == [0, 1]
    assert asyncio.run(drain()) == [0, 1]
    assert obj.calls == 4
    assert "rows" not in cache_info(proxy)
    assert "arows" not in cache_info(proxy)


@pytest.mark.parametrize("kind", ["inplace", "mixin", "decorator"])
def test_entry_points_that_pick_methods_skip_generator_methods(kind: str) -> None:
    obj = make(kind, Reader)
    assert not is_cached(obj.rows)
    assert not is_cached(obj.arows)
    assert is_cached(obj.listed)  # the other methods are cached
    assert list(obj.rows(2)) == list(obj.rows(2)) == [0, 1]
    assert obj.calls == 2


@pytest.mark.parametrize("name", ["rows", "arows"])
def test_naming_a_generator_method_is_an_error(name: str) -> None:
    with pytest.raises(TypeError, match="generator"):
        cache_methods(Reader(), name)
    with pytest.raises(TypeError, match="generator"):
        cached_method(getattr(Reader, name))


# -- one-shot results are returned uncached ------------------------------------------


def _drain(result: Any) -> list[Any]:
    try:
        return [int(x) for x in result]
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


@entry_points
@pytest.mark.parametrize("method", ["listed", "lazy", "mapped", "text", "opened"])
def test_one_shot_iterator_results_are_not_cached(kind: str, method: str, tmp_path: Path) -> None:
    obj = make(kind, Reader)
    obj.path = tmp_path / "rows.txt"
    obj.path.write_text("0\n1\n2\n")
    call = getattr(obj, method)
    for _ in range(3):
        assert _drain(call(3)) == [0, 1, 2]  # a cached one would come back exhausted
    assert obj.calls == 3
    stats = call.cache_stats()
    assert stats["uncached"] == 3
    assert (stats["hits"], stats["misses"], stats["currsize"]) == (0, 3, 0)


@entry_points
@pytest.mark.parametrize("method", ["reusable", "plain"])
def test_reiterable_results_are_cached(kind: str, method: str) -> None:
    obj = make(kind, Reader)
    call = getattr(obj, method)
    assert list(call(3)) == list(call(3)) == [0, 1, 2]
    assert obj.calls == 1
    assert call.cache_stats()["uncached"] == 0


@entry_points
def test_one_shot_result_of_a_coroutine_method_is_not_cached(kind: str) -> None:
    obj = make(kind, Reader)

    async def main() -> list[list[int]]:
        return [list(await obj.anext_batch(2)) for _ in range(3)]

    assert asyncio.run(main()) == [[0, 1]] * 3
    assert obj.calls == 3
    assert obj.anext_batch.cache_stats()["uncached"] == 3


class Deferred:
    """A context manager and nothing else: the work happens in its ``with``, for one caller."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def __enter__(self) -> list[str]:
        self.log.append("opened")
        return self.log

    def __exit__(self, *exc: object) -> None:
        self.log.append("closed")


class ADeferred:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def __aenter__(self) -> list[str]:
        return self.log

    async def __aexit__(self, *exc: object) -> None:
        pass


class Handle(Deferred):
    """A context manager that is a value besides (a client, a connection): its ``with`` is not all it is for."""

    def name(self) -> str:
        return "handle"


class Managers:
    def __init__(self) -> None:
        self.calls = 0
        self.via: Any = self

    def deferred(self, n: int) -> Any:
        self.calls += 1
        return Deferred([])

    def adeferred(self, n: int) -> Any:
        self.calls += 1
        return ADeferred([])

    def closing(self, n: int) -> Any:
        self.calls += 1
        return contextlib.closing(io.StringIO())

    def handle(self, n: int) -> Any:
        self.calls += 1
        return Handle([])


@entry_points
@pytest.mark.parametrize("method", ["deferred", "adeferred", "closing"])
def test_context_managers_and_nothing_else_are_one_shot(kind: str, method: str) -> None:
    obj = make(kind, Managers)
    call = getattr(obj, method)
    first, second = call(1), call(1)
    assert first is not second  # one caller's exit must not end another's block
    assert obj.calls == 2
    assert call.cache_stats()["uncached"] == 2


@entry_points
def test_context_managers_with_more_to_them_are_cached(kind: str) -> None:
    obj = make(kind, Managers)
    assert obj.handle(1) is obj.handle(1)
    assert obj.calls == 1


class Promises:
    def __init__(self) -> None:
        self.calls = 0
        self.via: Any = self

    def coroutine(self, x: int) -> Any:
        self.calls += 1

        async def run() -> int:
            return x

        return run()

    def future(self, x: int) -> Any:
        self.calls += 1
        future = asyncio.get_running_loop().create_future()
        future.set_result(x)
        return future

    def awaitable(self, x: int) -> Any:
        self.calls += 1
        return Waitable()


@entry_points
@pytest.mark.parametrize("method", ["coroutine", "future", "awaitable"])
def test_sync_methods_returning_awaitables_cache_the_awaited_value(kind: str, method: str) -> None:
    obj = make(kind, Promises)
    call = getattr(obj, method)

    async def main() -> list[Any]:
        return [await call(7) for _ in range(3)]

    results = asyncio.run(main())
    assert results == ([42] * 3 if method == "awaitable" else [7] * 3)
    assert obj.calls == 1  # the awaitable itself is one-shot; its value is not
    stats = call.cache_stats()
    assert (stats["uncached"], stats["currsize"], stats["misses"], stats["hits"]) == (0, 1, 1, 2)


# -- concurrent callers never share a one-shot result ---------------------------------


class Feed:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = 0
        self.gate = threading.Event()
        self.inside = threading.Event()
        self.via: Any = self

    def stream(self, n: int) -> Iterator[int]:
        with self.lock:
            self.calls += 1
            first = self.calls == 1
        if first:
            self.inside.set()
            assert self.gate.wait(10)
        return iter(range(n))


@pytest.mark.parametrize("kind", ENTRY_POINTS)
def test_threads_waiting_on_a_one_shot_result_each_get_their_own(kind: str) -> None:
    obj = make(kind, Feed)
    run = Runner()
    threads = run.start([lambda: list(obj.stream(4))] * 8)
    assert obj.inside.wait(10)
    wait_until(lambda: sum(map(parked_in_proxycache, threads)) == 7, "waiters parked")
    obj.gate.set()
    outcomes = run.join()
    assert outcomes == [(True, [0, 1, 2, 3])] * 8  # nobody got a drained iterator
    assert obj.calls == 8
    stats = obj.stream.cache_stats()
    assert stats["uncached"] == 8
    assert stats["hits"] + stats["misses"] == 8
