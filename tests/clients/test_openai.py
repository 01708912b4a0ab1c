"""openai (``OpenAI``, ``AsyncOpenAI``) and instructor against a fake OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import openai
import pytest

from proxycache import CachedProxy, DiskStore, cache_info

from .fakeserver import FakeServer
from .fakeserver import openai_aclient as aclient
from .fakeserver import openai_client as client

CHAT = "/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]



def test_sync_create_makes_one_request_and_matches_the_uncached_call(server: FakeServer) -> None:
    plain = client(server).chat.completions.create(model="m", messages=MESSAGES)
    proxy = CachedProxy(client(server), include=["chat.completions.create"])
    first = proxy.chat.completions.create(model="m", messages=MESSAGES)
    second = proxy.chat.completions.create(model="m", messages=MESSAGES)
    assert server.count(CHAT) == 2  # one uncached, one through the proxy
    assert first is second
    assert first == plain
    proxy.chat.completions.create(model="other", messages=MESSAGES)
    assert server.count(CHAT) == 3


def test_async_create_twice_makes_one_request(server: FakeServer) -> None:
    proxy = CachedProxy(aclient(server), include=["chat.completions.create"])

    async def main() -> tuple[Any, Any, Any]:
        plain = await aclient(server).chat.completions.create(model="m", messages=MESSAGES)
        first = await proxy.chat.completions.create(model="m", messages=MESSAGES)
        second = await proxy.chat.completions.create(model="m", messages=MESSAGES)
        return plain, first, second

    plain, first, second = asyncio.run(main())
    assert server.count(CHAT) == 2  # the uncached call and one miss
    assert first == second == plain
    info = cache_info(proxy)["chat.completions.create"]
    assert (info.hits, info.misses, info.currsize) == (1, 1, 1)
    stats = proxy.chat.completions.create.cache_stats()
    assert stats["uncached"] == 0


def test_async_create_twenty_gathered_make_one_request(server: FakeServer) -> None:
    proxy = CachedProxy(aclient(server), include=["chat.completions.create"])

    async def main() -> list[Any]:
        return await asyncio.gather(
            *[proxy.chat.completions.create(model="m", messages=MESSAGES) for _ in range(20)]
        )

    results = asyncio.run(main())
    assert server.count(CHAT) == 1
    assert all(r == results[0] for r in results)
    assert results[0].choices[0].message.content == "echo(m): What is the capital of France?"


def test_async_with_block_gives_the_proxy(server: FakeServer) -> None:
    async def main() -> None:
        async with CachedProxy(aclient(server), include=["chat.completions.create"]) as ai:
            assert isinstance(ai, CachedProxy)
            await ai.chat.completions.create(model="m", messages=MESSAGES)
            await ai.chat.completions.create(model="m", messages=MESSAGES)

    asyncio.run(main())
    assert server.count(CHAT) == 1


def test_with_block_gives_the_proxy(server: FakeServer) -> None:
    with CachedProxy(client(server), include=["chat.completions.create"]) as ai:
        assert isinstance(ai, CachedProxy)
        for _ in range(3):
            ai.chat.completions.create(model="m", messages=MESSAGES)
    assert server.count(CHAT) == 1


def test_streamed_completions_are_never_cached(server: FakeServer) -> None:
    proxy = CachedProxy(client(server), include=["chat.completions.create"])
    texts = []
    for _ in range(2):
        stream = proxy.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        texts.append("".join(chunk.choices[0].delta.content or "" for chunk in stream))
    assert texts[0] == texts[1] == "echo(m): What is the capital of France? "
    assert server.count(CHAT) == 2
    assert proxy.chat.completions.create.cache_stats()["uncached"] == 2


def test_methods_are_named_after_the_client(server: FakeServer) -> None:
    proxy = CachedProxy(client(server), include=["chat.completions.create"])
    assert proxy.chat.completions.create.__qualname__ == "OpenAI.chat.completions.create"
    aproxy = CachedProxy(aclient(server), include=["chat.completions.create"])
    assert aproxy.chat.completions.create.__qualname__ == "AsyncOpenAI.chat.completions.create"


def test_the_default_selection_leaves_the_raw_http_verbs_and_close_alone(
    server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    # Each skip is logged once per selection, and proxies with the default
    # options share one: an option of its own gives this proxy a fresh one.
    proxy = CachedProxy(client(server), maxsize=64)
    with caplog.at_level(logging.DEBUG, logger="proxycache"):
        for name in ("post", "put", "patch", "delete", "close", "copy"):
            getattr(proxy, name)
    assert cache_info(proxy) == {}
    skipped = [r.getMessage() for r in caplog.records if "DEFAULT_SKIP" in r.getMessage()]
    assert len(skipped) == 6
    assert any("post()" in m for m in skipped)


def test_a_disk_store_keyed_by_base_url(server: FakeServer, tmp_path: Any) -> None:
    # base_url is an httpx.URL (no stable encoding): its text joins the key.
    other = FakeServer().start()
    try:

        def make(url: str) -> Any:
            raw = openai.OpenAI(base_url=url, api_key="test", max_retries=0)
            return CachedProxy(
                raw,
                include=["chat.completions.create"],
                store=DiskStore(tmp_path / "cache"),
                key_attrs=(),
                key=lambda **call: (str(raw.base_url), call),
            )

        first = make(f"{server.url}/v1").chat.completions.create(model="m", messages=MESSAGES)
        again = make(f"{server.url}/v1").chat.completions.create(model="m", messages=MESSAGES)
        assert server.count(CHAT) == 1
        assert again == first
        make(f"{other.url}/v1").chat.completions.create(model="m", messages=MESSAGES)
        assert other.count(CHAT) == 1  # another server: another entry
    finally:
        other.stop()


# -- instructor ----------------------------------------------------------------------


def test_instructor_from_openai_is_cached(server: FakeServer) -> None:
    import instructor
    from pydantic import BaseModel

    class City(BaseModel):
        name: str
        letters: int

    raw = client(server)
    proxy = CachedProxy(raw, include=["chat.completions.create"])
    patched = instructor.from_openai(proxy, mode=instructor.Mode.TOOLS)
    first = patched.chat.completions.create(model="m", messages=MESSAGES, response_model=City)
    second = patched.chat.completions.create(model="m", messages=MESSAGES, response_model=City)
    assert server.count(CHAT) == 1
    assert first.model_dump() == second.model_dump()
    plain = instructor.from_openai(client(server), mode=instructor.Mode.TOOLS)
    uncached = plain.chat.completions.create(model="m", messages=MESSAGES, response_model=City)
    assert uncached.model_dump() == first.model_dump()
    assert first.name == MESSAGES[0]["content"]

    class Town(BaseModel):
        name: str

    # Another response model sends another schema: a miss, not the old shape.
    town = patched.chat.completions.create(model="m", messages=MESSAGES, response_model=Town)
    assert isinstance(town, Town)
    assert server.count(CHAT) == 3  # the cached City, the uncached City, the Town


def test_async_client_with_a_disk_store(server: FakeServer, tmp_path: Any) -> None:
    def make() -> Any:
        raw = aclient(server)
        return CachedProxy(
            raw,
            include=["chat.completions.create"],
            store=DiskStore(tmp_path / "cache"),
            key_attrs=(),
            key=lambda **call: (str(raw.base_url), call),
        )

    async def main() -> list[Any]:
        first = await make().chat.completions.create(model="m", messages=MESSAGES)
        others = await asyncio.gather(*[make().chat.completions.create(model="m", messages=MESSAGES) for _ in range(5)])
        return [first, *others]

    results = asyncio.run(main())
    assert server.count(CHAT) == 1  # the other clients read the stored answer
    assert all(r == results[0] for r in results)


# -- defaults behind openai's own decorator; the key= recipe on other methods ------------------


def test_create_behind_its_decorator_keys_spelled_out_defaults_as_the_defaults(server: FakeServer) -> None:
    # Completions.create is openai's required_args wrapper, a bare (*args, **kwargs) made with
    # functools.wraps: keyed by the signature it declares, create(temperature=omit) is create().
    proxy = CachedProxy(client(server), include=["chat.completions.create"])
    first = proxy.chat.completions.create(model="m", messages=MESSAGES)
    assert proxy.chat.completions.create(model="m", messages=MESSAGES, temperature=openai.omit) is first
    assert proxy.chat.completions.create(model="m", messages=MESSAGES, extra_headers=None) is first
    assert proxy.chat.completions.create(messages=MESSAGES, model="m", tools=openai.omit) is first
    assert server.count(CHAT) == 1
    with pytest.raises(TypeError):  # openai's own check of the arguments still runs
        proxy.chat.completions.create(model="m")


def test_omit_passed_explicitly_reaches_a_shared_store_as_the_default(server: FakeServer, tmp_path: Any) -> None:
    # Wrappers pass omit for "leave it out": a sentinel with no stable encoding, keyed as the default.
    def ask(prompt: str, tools: Any = None) -> Any:
        chat = CachedProxy(client(server), include=["chat.completions.create"], store=DiskStore(tmp_path),
                           key_attrs=()).chat
        return chat.completions.create(model="m", messages=[{"role": "user", "content": prompt}],
                                       tools=tools or openai.omit)

    first = ask("hello")
    assert ask("hello") == first
    assert ask("bye") != first
    assert server.count(CHAT) == 2


@pytest.mark.parametrize(
    ("method", "call", "path"),
    [
        ("chat.completions.create", lambda c: c.chat.completions.create(model="m", messages=MESSAGES), CHAT),
        ("embeddings.create", lambda c: c.embeddings.create(model="e", input="abc"), "/v1/embeddings"),
        ("responses.create", lambda c: c.responses.create(model="m", input="hi"), "/v1/responses"),
    ],
)
def test_the_documented_shared_store_key_works_for_every_method(
    server: FakeServer, tmp_path: Any, method: str, call: Any, path: str
) -> None:
    # docs/real-clients.md: key=lambda **call: (str(raw.base_url), call). The function is handed every
    # parameter, NOT_GIVEN and omit defaults too, which the store keys as those defaults.
    seen: list[dict[str, Any]] = []

    def make() -> Any:
        raw = client(server)

        def key(**call: Any) -> Any:
            seen.append(call)
            return (str(raw.base_url), call)

        return CachedProxy(raw, include=[method], store=DiskStore(tmp_path), key_attrs=(), key=key)

    first = call(make())
    assert call(make()) == first  # another client, another proxy: read from the store
    assert server.count(path) == 1
    assert any(value is openai.NOT_GIVEN or value is openai.omit for value in seen[0].values())
