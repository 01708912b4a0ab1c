"""openai's streamed completions (``stream=True``) under ``streams="replay"``, against the fake SSE server.

The first call streams from the server while it is recorded; later calls
replay the chunks with the protocol streaming code uses (``for``, ``with``,
``async for``, ``async with``, ``close()``), through ``CachedProxy``,
``cache_methods`` and the mixin.
"""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest
from openai.resources.chat import AsyncCompletions, Completions

from proxycache import CachedProxy, CachingMixin, cache_methods

from .fakeserver import FakeServer
from .fakeserver import openai_aclient as aclient
from .fakeserver import openai_client as client

CHAT = "/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
TEXT = "echo(m): What is the capital of France? "



def text_of(chunks: list[Any]) -> str:
    return "".join(chunk.choices[0].delta.content or "" for chunk in chunks)


def dumped(chunks: list[Any]) -> list[dict[str, Any]]:
    return [chunk.model_dump() for chunk in chunks]


class CachedCompletions(CachingMixin, Completions, include=["create"], streams="replay"):
    pass


class AsyncCachedCompletions(CachingMixin, AsyncCompletions, include=["create"], streams="replay"):
    pass


def completions(kind: str, server: FakeServer) -> Any:
    """``chat.completions`` of a client, cached through entry point *kind*."""
    if kind == "proxy":
        return CachedProxy(client(server), include=["chat.completions.create"], streams="replay").chat.completions
    if kind == "inplace":
        return cache_methods(client(server).chat.completions, "create", streams="replay")
    return CachedCompletions(client(server))


def acompletions(kind: str, server: FakeServer) -> Any:
    if kind == "proxy":
        return CachedProxy(aclient(server), include=["chat.completions.create"], streams="replay").chat.completions
    if kind == "inplace":
        return cache_methods(aclient(server).chat.completions, "create", streams="replay")
    return AsyncCachedCompletions(aclient(server))


@pytest.mark.parametrize("kind", ["proxy", "inplace", "mixin"])
def test_a_stream_is_replayed_as_code_that_streams_uses_it(kind: str, server: FakeServer) -> None:
    plain = list(client(server).chat.completions.create(model="m", messages=MESSAGES, stream=True))
    chat = completions(kind, server)
    runs = []
    for _ in range(3):
        with chat.create(model="m", messages=MESSAGES, stream=True) as stream:
            runs.append([chunk for chunk in stream])  # noqa: C416  (the way streaming code reads)
    assert server.count(CHAT) == 2  # the uncached call and the recorded one
    assert text_of(runs[0]) == TEXT
    assert dumped(runs[0]) == dumped(runs[1]) == dumped(runs[2]) == dumped(plain)
    stream = chat.create(model="m", messages=MESSAGES, stream=True)
    first = next(stream)
    stream.close()
    assert first.model_dump() == plain[0].model_dump()
    assert list(stream) == []
    assert chat.create.cache_info().hits == 3
    # The same request without stream=True is another entry (a completion, not chunks).
    assert chat.create(model="m", messages=MESSAGES).choices[0].message.content == TEXT.strip()
    assert server.count(CHAT) == 3


@pytest.mark.parametrize("kind", ["proxy", "inplace", "mixin"])
def test_an_async_stream_is_replayed(kind: str, server: FakeServer) -> None:
    chat = acompletions(kind, server)

    async def main() -> list[list[Any]]:
        runs = []
        for _ in range(3):
            stream = await chat.create(model="m", messages=MESSAGES, stream=True)
            async with stream:
                runs.append([chunk async for chunk in stream])
        stream = await chat.create(model="m", messages=MESSAGES, stream=True)
        await stream.__anext__()
        await stream.close()  # AsyncStream's way to stop
        return runs

    runs = asyncio.run(main())
    assert server.count(CHAT) == 1
    assert text_of(runs[0]) == TEXT
    assert dumped(runs[0]) == dumped(runs[1]) == dumped(runs[2])


def test_concurrent_identical_streams_make_one_request(server: FakeServer) -> None:
    chat = acompletions("proxy", server)

    async def one() -> str:
        stream = await chat.create(model="m", messages=MESSAGES, stream=True)
        return text_of([chunk async for chunk in stream])

    async def main() -> list[str]:
        return await asyncio.gather(*[one() for _ in range(8)])

    assert asyncio.run(main()) == [TEXT] * 8
    assert server.count(CHAT) == 1


def test_a_stream_read_in_part_is_requested_again(server: FakeServer) -> None:
    chat = completions("proxy", server)
    for chunk in chat.create(model="m", messages=MESSAGES, stream=True):
        assert chunk.choices[0].delta.content
        break
    assert text_of(list(chat.create(model="m", messages=MESSAGES, stream=True))) == TEXT
    assert text_of(list(chat.create(model="m", messages=MESSAGES, stream=True))) == TEXT
    assert server.count(CHAT) == 2


def test_skip_stays_the_default(server: FakeServer) -> None:
    chat = CachedProxy(client(server), include=["chat.completions.create"]).chat.completions
    for _ in range(2):
        with chat.create(model="m", messages=MESSAGES, stream=True) as stream:
            assert isinstance(stream, openai.Stream)
            assert text_of(list(stream)) == TEXT
    assert server.count(CHAT) == 2
