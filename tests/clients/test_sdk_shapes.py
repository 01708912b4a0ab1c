"""The shapes SDKs give their methods, through all four entry points, without a server.

- a coroutine function behind a plain ``functools.wraps`` decorator (openai's
  ``required_args``): the method looks synchronous and returns a coroutine;
- ``@contextmanager`` / ``@asynccontextmanager`` methods (httpx's ``stream``):
  each result is spent by its first ``with``;
- a function made at run time over another object's bound coroutine method
  (openai's ``with_streaming_response.create``): it may return something
  else than the coroutine, so it is taken as the plain function it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from proxycache import CachedProxy, CachingMixin, cache_methods, cached_method

ENTRY_POINTS = ["proxy", "inplace", "mixin", "decorator"]


def plain_wrapper(func: Callable[..., Any]) -> Callable[..., Any]:
    """A sync decorator over whatever it is given, as SDKs write them."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper


class Api:
    def __init__(self) -> None:
        self.requests = 0
        self.opened = 0

    @plain_wrapper
    async def create(self, *, model: str, prompt: str) -> dict[str, str]:
        self.requests += 1
        await asyncio.sleep(0)
        return {"model": model, "text": prompt.upper()}

    @contextlib.contextmanager
    def stream(self, path: str) -> Iterator[list[str]]:
        self.opened += 1
        yield [path, "a", "b"]

    @contextlib.asynccontextmanager
    async def astream(self, path: str) -> AsyncIterator[list[str]]:
        self.opened += 1
        yield [path, "c"]


def make(kind: str) -> Any:
    if kind == "proxy":
        return CachedProxy(Api(), include=["create", "stream", "astream"])
    if kind == "inplace":
        return cache_methods(Api(), "create", "stream", "astream")
    if kind == "mixin":
        return type("MixedApi", (CachingMixin, Api), {}, include=["create", "stream", "astream"])()
    body = {name: cached_method(vars(Api)[name]) for name in ("create", "stream", "astream")}
    return type("DecoratedApi", (Api,), body)()


@pytest.mark.parametrize("kind", ENTRY_POINTS)
def test_a_wrapped_coroutine_function_is_cached_as_a_coroutine_method(kind: str) -> None:
    api = make(kind)
    assert inspect.iscoroutinefunction(api.create)  # seen through __wrapped__

    async def main() -> list[Any]:
        one = await api.create(model="m", prompt="hi")
        two = await api.create(model="m", prompt="hi")
        many = await asyncio.gather(*[api.create(model="m", prompt="yo") for _ in range(20)])
        return [one, two, *many]

    results = asyncio.run(main())
    assert results[0] is results[1]
    assert results[0] == {"model": "m", "text": "HI"}
    assert all(r == {"model": "m", "text": "YO"} for r in results[2:])
    assert api.requests == 2
    stats = api.create.cache_stats()
    assert (stats["misses"], stats["hits"], stats["uncached"]) == (2, 20, 0)


@pytest.mark.parametrize("kind", ENTRY_POINTS)
def test_generator_context_managers_are_one_shot(kind: str) -> None:
    api = make(kind)
    for _ in range(3):
        with api.stream("/x") as lines:
            assert lines == ["/x", "a", "b"]

    async def main() -> None:
        for _ in range(2):
            async with api.astream("/y") as lines:
                assert lines == ["/y", "c"]

    asyncio.run(main())
    assert api.opened == 5
    assert api.stream.cache_stats()["uncached"] == 3
    assert api.astream.cache_stats()["uncached"] == 2
    assert api.stream.cache_info().currsize == 0


def test_a_wrapper_that_returns_a_plain_value_is_taken_as_it_is() -> None:
    # __wrapped__ says coroutine, but this wrapper answers with a value: the
    # cached callable is awaited as a coroutine method, and the value is cached.
    class Blocking:
        def __init__(self) -> None:
            self.calls = 0

        async def _fetch(self, x: int) -> int:  # pragma: no cover - never awaited
            return x

        @functools.wraps(_fetch)
        def fetch(self, x: int) -> int:
            self.calls += 1
            return x * 3

    blocking = CachedProxy(Blocking())

    async def main() -> list[int]:
        return [await blocking.fetch(2), await blocking.fetch(2)]

    assert asyncio.run(main()) == [6, 6]
    assert blocking.calls == 1


def test_an_awaitable_result_read_back_from_a_shared_store(tmp_path: Any) -> None:
    from proxycache import DiskStore

    class Lazy:
        calls = 0

        async def _load(self, x: int) -> list[int]:
            Lazy.calls += 1
            return [x, x]

        def load(self, x: int) -> Any:  # no __wrapped__: only the call shows it is async
            return self._load(x)

    async def main() -> list[Any]:
        first = CachedProxy(Lazy(), store=DiskStore(tmp_path), key_attrs=())
        second = CachedProxy(Lazy(), store=DiskStore(tmp_path), key_attrs=())
        return [await first.load(4), await first.load(4), await second.load(4)]

    assert asyncio.run(main()) == [[4, 4]] * 3
    assert Lazy.calls == 1


def test_an_awaitable_that_resolves_to_an_iterator_is_not_cached() -> None:
    class Pager:
        calls = 0

        async def _page(self) -> Any:
            Pager.calls += 1
            return iter([1, 2])

        def page(self) -> Any:
            return self._page()

    pager = CachedProxy(Pager())

    async def main() -> list[list[int]]:
        return [list(await pager.page()) for _ in range(3)]

    assert asyncio.run(main()) == [[1, 2]] * 3
    assert Pager.calls == 3
    assert pager.page.cache_stats()["uncached"] == 3


class Opened:
    """What openai's ``with_streaming_response.create`` returns: an async context manager over a coroutine."""

    def __init__(self, pending: Any) -> None:
        self.pending = pending

    async def __aenter__(self) -> Any:
        return await self.pending

    async def __aexit__(self, *exc: object) -> None:
        pass


class Adapters:
    """Functions made at run time over another object's bound coroutine method (openai's with_* views)."""

    def __init__(self, api: Api) -> None:
        self.calls = 0

        @functools.wraps(api.create)
        def streamed(**kwargs: Any) -> Any:
            self.calls += 1
            return Opened(api.create(**kwargs))

        @functools.wraps(api.create)
        def passed_on(**kwargs: Any) -> Any:
            self.calls += 1
            return api.create(**kwargs)

        self.streamed, self.passed_on = streamed, passed_on


@pytest.mark.parametrize("kind", ["proxy", "inplace"])
def test_an_adapter_over_a_bound_coroutine_method_is_a_plain_function(kind: str) -> None:
    api = Api()
    adapters = Adapters(api)
    views = (
        CachedProxy(adapters, include=["streamed", "passed_on"])
        if kind == "proxy"
        else cache_methods(adapters, "streamed", "passed_on")
    )
    assert not inspect.iscoroutinefunction(views.streamed)

    async def main() -> list[Any]:
        out = []
        for _ in range(2):
            async with views.streamed(model="m", prompt="hi") as answer:  # not a coroutine: a context manager
                out.append(answer)
        return out + [await views.passed_on(model="m", prompt="yo") for _ in range(2)]

    assert asyncio.run(main()) == [{"model": "m", "text": "HI"}] * 2 + [{"model": "m", "text": "YO"}] * 2
    assert views.streamed.cache_stats()["uncached"] == 2  # each caller its own
    assert views.passed_on.cache_stats()["hits"] == 1  # a coroutine handed back is still awaited and cached
    assert (adapters.calls, api.requests) == (3, 3)
