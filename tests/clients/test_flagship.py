"""The LLM recipe end to end: AsyncOpenAI (and instructor on top) cached in Redis.

``CachedProxy(AsyncOpenAI(...), include=["chat.completions.create"],
store=RedisStore(url), key_attrs=..., streams="replay", ttl=...)`` against
the fake server and a real redis-server: concurrent identical requests make
one upstream call, a new process reads the entries back, a changed
``response_model`` misses, and streams replay.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from typing import Any

import openai
from pydantic import BaseModel

from proxycache import CachedProxy, RedisStore

from .fakeserver import FakeServer

CHAT = "/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "Ada Lovelace"}]


def cached_llm(base_url: str, redis_url: str) -> Any:
    """The recipe: one function every process (web worker, batch job) calls."""
    return CachedProxy(
        openai.AsyncOpenAI(base_url=base_url, api_key="test", max_retries=0),
        include=["chat.completions.create"],
        store=RedisStore(redis_url),
        key_attrs=["base_url.host"],  # entries per API host
        serializer="pydantic",  # completions and chunks are Pydantic models: no pickle in Redis
        streams="replay",
        ttl=24 * 3600,
    )


class Person(BaseModel):
    name: str


class PersonV2(BaseModel):  # the same model with a field added
    name: str
    born: int


def extract(llm: Any, model: type[BaseModel]) -> Any:
    import instructor

    patched = instructor.from_openai(llm, mode=instructor.Mode.TOOLS)
    return patched.chat.completions.create(model="m", messages=MESSAGES, response_model=model)


def _in_a_new_process(base_url: str, redis_url: str, out: Any) -> None:
    async def main() -> tuple[str, str, str]:
        llm = cached_llm(base_url, redis_url)
        answer = await llm.chat.completions.create(model="m", messages=MESSAGES)
        person = await extract(llm, Person)
        stream = await llm.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream])
        return answer.choices[0].message.content, person.name, text

    out.put(asyncio.run(main()))


def _read_back(base_url: str, redis_url: str) -> tuple[str, str, str]:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_in_a_new_process, args=(base_url, redis_url, out))
    proc.start()
    try:
        result: tuple[str, str, str] = out.get(timeout=60)
        return result
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.kill()


def test_concurrent_requests_one_call_and_a_changed_model_misses(server: FakeServer, redis_server: str) -> None:
    # One event loop for the client's life: an AsyncOpenAI client's connections belong to its loop.
    llm = cached_llm(f"{server.url}/v1", redis_server)

    async def main() -> tuple[list[Any], list[Any], Any]:
        answers = await asyncio.gather(*[llm.chat.completions.create(model="m", messages=MESSAGES) for _ in range(8)])
        assert server.count(CHAT) == 1
        people = await asyncio.gather(*[extract(llm, Person) for _ in range(4)])
        assert server.count(CHAT) == 2  # the tool call instructor sends is another request, made once
        # A changed response model sends another schema: a miss, never the old shape.
        return answers, people, await extract(llm, PersonV2)

    answers, people, v2 = asyncio.run(main())
    assert all(a == answers[0] for a in answers)
    assert all(p.model_dump() == people[0].model_dump() for p in people)
    assert people[0].name == "Ada Lovelace"
    assert isinstance(v2, PersonV2)
    assert server.count(CHAT) == 3


def test_streams_replay_and_a_restart_reads_everything_back(server: FakeServer, redis_server: str) -> None:
    base_url = f"{server.url}/v1"
    llm = cached_llm(base_url, redis_server)

    async def one() -> str:
        stream = await llm.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            return "".join([chunk.choices[0].delta.content or "" async for chunk in stream])

    async def main() -> list[str]:
        texts = await asyncio.gather(*[one() for _ in range(4)])
        assert server.count(CHAT) == 1
        await llm.chat.completions.create(model="m", messages=MESSAGES)
        await extract(llm, Person)
        return texts

    assert asyncio.run(main()) == ["echo(m): Ada Lovelace "] * 4
    assert server.count(CHAT) == 3
    assert _read_back(base_url, redis_server) == ("echo(m): Ada Lovelace", "Ada Lovelace", "echo(m): Ada Lovelace ")
    assert server.count(CHAT) == 3  # the new process paid for nothing
