"""httpx and requests against a fake JSON server: what is cached, what never is.

A response whose body is still unread (``stream=True``) is a stream from
the server, read once: it comes back uncached, and no store pickles it
(pickling would read the whole body into memory). Read, it is a value.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import requests

from proxycache import CachedProxy, DiskStore, RedisStore, cache_info, cache_of

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


LINES = ["line 0", "line 1", "line 2"]


def shared_store(kind: str, tmp_path: Any, request: pytest.FixtureRequest, **options: Any) -> dict[str, Any]:
    if kind == "disk":
        return {"store": DiskStore(tmp_path / "http"), "key_attrs": (), **options}
    if kind == "redis":
        return {"store": RedisStore(request.getfixturevalue("redis_server")), "key_attrs": (), **options}
    return {}


def sent(request: httpx.Request, **options: Any) -> Any:
    """A shared-store key for httpx's send(): a Request has no stable encoding, its method and URL do."""
    return (request.method, str(request.url), options.get("stream"))


@pytest.mark.parametrize("store", ["memory", "disk", "redis"])
def test_requests_stream_true_is_never_cached(
    store: str, server: FakeServer, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    url = f"{server.url}/lines"
    with CachedProxy(requests.Session(), **shared_store(store, tmp_path, request)) as session:
        for _ in range(2):
            response = session.get(url, stream=True, timeout=5)
            assert response.raw.tell() == 0  # the body is left to the caller: nothing read it whole
            assert [line.decode() for line in response.iter_lines()] == LINES
        first = session.get(url, timeout=5)  # read by requests itself: a value
        assert session.get(url, timeout=5).text == first.text == "".join(f"{line}\n" for line in LINES)
        stats = cache_of(session.get).cache_stats()
    assert (stats["uncached"], stats["misses"], stats["hits"]) == (2, 3, 1)
    assert server.count("/lines") == 3


def test_httpx_send_stream_true_is_never_cached(server: FakeServer) -> None:
    http = CachedProxy(httpx.Client(base_url=server.url), include=["build_request", "send"])
    for _ in range(3):
        response = http.send(http.build_request("GET", "/lines"), stream=True)
        assert not response.is_stream_consumed
        assert list(response.iter_lines()) == LINES
        response.close()
    assert server.count("/lines") == 3
    assert http.send.cache_stats()["uncached"] == 3
    assert http.build_request.cache_stats()["hits"] == 2  # a request without a body: a value
    read = http.send(http.build_request("GET", "/json/read"))  # read by httpx itself: a value
    assert http.send(http.build_request("GET", "/json/read")) is read
    assert server.count("/json/read") == 1


def test_an_httpx_request_with_a_streamed_body_is_never_cached(server: FakeServer) -> None:
    def chunks() -> Any:
        yield b'{"n": 1}'

    body = chunks()
    http = CachedProxy(httpx.Client(base_url=server.url), include=["build_request"])
    first = http.build_request("POST", "/json/up", content=body)
    assert http.build_request("POST", "/json/up", content=body) is not first  # its body is sent once
    assert http.build_request.cache_stats()["uncached"] == 2
    bytes_body = http.build_request("POST", "/json/up", content=b"{}")
    assert http.build_request("POST", "/json/up", content=b"{}") is bytes_body  # read already: a value


@pytest.mark.parametrize("store", ["memory", "disk"])
def test_httpx_async_send_stream_true_is_never_cached(
    store: str, server: FakeServer, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    async def main() -> list[list[str]]:
        http = CachedProxy(
            httpx.AsyncClient(base_url=server.url), include=["send"], **shared_store(store, tmp_path, request, key=sent)
        )
        async with http:
            out = []
            for _ in range(2):
                response = await http.send(http.build_request("GET", "/lines"), stream=True)
                out.append([line async for line in response.aiter_lines()])
                await response.aclose()
            assert http.send.cache_stats()["uncached"] == 2
            return out

    assert asyncio.run(main()) == [LINES, LINES]
    assert server.count("/lines") == 2
