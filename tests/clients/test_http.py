"""httpx and requests against a fake JSON server: what is cached, what never is."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import requests

from proxycache import CachedProxy, cache_info

from .fakeserver import FakeServer


def test_httpx_get_makes_one_request_and_matches_the_uncached_call(server: FakeServer) -> None:
    plain = httpx.Client(base_url=server.url).get("/json/items", params={"page": 2}).json()
    with CachedProxy(httpx.Client(base_url=server.url)) as http:
        assert isinstance(http, CachedProxy)  # the with block gets the proxy
        first = http.get("/json/items", params={"page": 2})
        second = http.get("/json/items", params={"page": 2})
        assert first is second
        assert first.json() == plain == {"path": "/json/items", "query": {"page": "2"}}
        http.get("/json/items", params={"page": 3})
    assert server.count("/json/items") == 3  # uncached, page 2 once, page 3 once


def test_httpx_post_and_close_are_not_cached(server: FakeServer) -> None:
    http = CachedProxy(httpx.Client(base_url=server.url))
    answers = [http.post("/json/orders", json={"item": 1}).json() for _ in range(2)]
    assert answers[0] == answers[1] == {"path": "/json/orders", "body": {"item": 1}}
    assert server.count("/json/orders") == 2  # every POST reaches the server
    assert cache_info(http) == {}
    http.close()
    assert http.is_closed


def test_httpx_stream_works_every_time(server: FakeServer) -> None:
    http = CachedProxy(httpx.Client(base_url=server.url), include=["get", "stream"])
    for _ in range(3):
        with http.stream("GET", "/lines") as response:
            assert list(response.iter_lines()) == ["line 0", "line 1", "line 2"]
    assert server.count("/lines") == 3
    assert http.stream.cache_stats()["uncached"] == 3  # a generator context manager is one-shot


def test_httpx_async_client(server: FakeServer) -> None:
    async def main() -> list[Any]:
        async with CachedProxy(httpx.AsyncClient(base_url=server.url)) as http:
            assert isinstance(http, CachedProxy)
            responses = await asyncio.gather(*[http.get("/json/a") for _ in range(10)])
            async with http.stream("GET", "/lines") as response:
                lines = [line async for line in response.aiter_lines()]
            async with http.stream("GET", "/lines") as response:
                again = [line async for line in response.aiter_lines()]
            return [r.json() for r in responses] + [lines, again]

    results = asyncio.run(main())
    assert results[:10] == [{"path": "/json/a", "query": {}}] * 10
    assert results[10] == results[11] == ["line 0", "line 1", "line 2"]
    assert server.count("/json/a") == 1
    assert server.count("/lines") == 2


def test_requests_session(server: FakeServer) -> None:
    plain = requests.get(f"{server.url}/json/r", params={"q": "x"}, timeout=5).json()
    with CachedProxy(requests.Session()) as session:
        assert isinstance(session, CachedProxy)
        first = session.get(f"{server.url}/json/r", params={"q": "x"}, timeout=5)
        second = session.get(f"{server.url}/json/r", params={"q": "x"}, timeout=5)
        assert first is second
        assert first.json() == plain
        for _ in range(2):
            session.post(f"{server.url}/json/r", json={"n": 1}, timeout=5)
        assert set(cache_info(session)) == {"get"}
    assert server.count("/json/r") == 1 + 1 + 2


@pytest.mark.parametrize("name", ["post", "put", "patch", "delete", "send", "request", "close", "mount"])
def test_requests_and_httpx_methods_that_change_things_are_left_alone(name: str) -> None:
    for client in (requests.Session(), httpx.Client()):
        if not hasattr(client, name):
            continue
        proxy = CachedProxy(client)
        assert getattr(proxy, name) == getattr(client, name)  # the plain bound method
        assert cache_info(proxy) == {}
        client.close()


def test_httpx_with_the_documented_shared_store_key(server: FakeServer, tmp_path: Any) -> None:
    # key= gets auth=, follow_redirects= and timeout= at httpx's USE_CLIENT_DEFAULT, which a shared
    # store keys as those defaults; a value passed instead is keyed as itself.
    from proxycache import DiskStore

    def make() -> Any:
        raw = httpx.Client(base_url=server.url)
        return CachedProxy(raw, include=["get"], store=DiskStore(tmp_path), key_attrs=(),
                           key=lambda *args, **call: (str(raw.base_url), args, call))

    first = make().get("/json/a", params={"q": 1})
    assert make().get("/json/a", params={"q": 1}).json() == first.json()
    assert make().get("/json/a", params={"q": 1}, timeout=httpx.USE_CLIENT_DEFAULT).json() == first.json()
    assert server.count("/json/a") == 1
    make().get("/json/a", params={"q": 1}, timeout=5)
    assert server.count("/json/a") == 2
