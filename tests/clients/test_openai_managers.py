"""openai's context managers, named in ``include=``: each caller gets its own, uncached.

``with_streaming_response.create`` and ``chat.completions.stream`` return an
object that makes its request on entering and closes it on leaving: shared,
one caller's exit would close what another reads, and every ``with`` would
make its request anyway. ``AsyncOpenAI``'s ``with_streaming_response.create``
is a plain function over the coroutine method ``create`` (``functools.wraps``):
it must stay a plain function, or ``async with`` gets a coroutine.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest

from proxycache import CachedProxy, cache_methods, cache_of

from .fakeserver import FakeServer
from .fakeserver import openai_aclient as aclient
from .fakeserver import openai_client as client

CHAT = "/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
ANSWER = "echo(m): What is the capital of France?"



def test_each_caller_gets_its_own_streaming_response(server: FakeServer) -> None:
    proxy = CachedProxy(client(server), include=["chat.completions.with_streaming_response.create"])
    create = proxy.chat.completions.with_streaming_response.create
    first, second = create(model="m", messages=MESSAGES), create(model="m", messages=MESSAGES)
    assert first is not second
    a = first.__enter__()
    b = second.__enter__()
    first.__exit__(None, None, None)  # the first caller's block ends...
    assert b.parse().choices[0].message.content == ANSWER  # ...and the second still reads its own
    second.__exit__(None, None, None)
    assert a.is_closed
    assert b.is_closed
    assert server.count(CHAT) == 2
    stats = cache_of(create).cache_stats()
    assert (stats["hits"], stats["uncached"]) == (0, 2)


def test_chat_completions_stream_is_per_caller(server: FakeServer) -> None:
    proxy = CachedProxy(client(server), include=["chat.completions.stream"])
    texts = []
    for _ in range(2):
        with proxy.chat.completions.stream(model="m", messages=MESSAGES) as stream:
            texts.append(stream.get_final_completion().choices[0].message.content)
    assert texts == [ANSWER + " "] * 2
    assert server.count(CHAT) == 2
    assert cache_of(proxy.chat.completions.stream).cache_stats()["uncached"] == 2


@pytest.mark.parametrize("kind", ["proxy", "inplace"])
def test_async_streaming_response_works_with_async_with(kind: str, server: FakeServer) -> None:
    if kind == "proxy":
        completions: Any = CachedProxy(
            aclient(server), include=["chat.completions.create", "chat.completions.with_streaming_response.create"]
        ).chat.completions
        streaming = completions.with_streaming_response
    else:
        completions = aclient(server).chat.completions
        streaming = cache_methods(completions.with_streaming_response, "create")
        cache_methods(completions, "create")
    # create stays a coroutine method; the wrapper over it returns a context manager, and says so.
    assert inspect.iscoroutinefunction(completions.create)
    assert not inspect.iscoroutinefunction(streaming.create)

    async def main() -> list[Any]:
        out = []
        for _ in range(2):
            async with streaming.create(model="m", messages=MESSAGES) as response:
                out.append((await response.parse()).choices[0].message.content)
        out += [(await completions.create(model="m", messages=MESSAGES)).choices[0].message.content for _ in "ab"]
        return out

    assert asyncio.run(main()) == [ANSWER] * 4
    assert server.count(CHAT) == 3  # each streaming response its own request; create once
    assert streaming.create.cache_stats()["uncached"] == 2
    assert completions.create.cache_stats()["hits"] == 1
