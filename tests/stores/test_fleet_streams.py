"""streams="replay" with single_flight="store": a stream recorded in one process is replayed in the others.

The leader keeps its lease until the recording is stored, so a process that
calls meanwhile waits for the recording rather than read the stream from
the service once more. Two spawned processes call a slow stream method on
the same key at once (a barrier); the method's body appends a line to a
file when it starts, so the calls of both processes are counted in one place.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from proxycache import CachedProxy

from .conftest import run_processes

ITEMS = 5
#: Seconds between two items: a stream lasts 2.5 s, past two lifetimes of the lease, which renewals cover.
PAUSE = 0.5
LEASE_TTL = 1.0


class Streamer:
    """A slow streaming service: every stream it starts is a line in the file named by ``calls``."""

    def __init__(self, calls: str) -> None:
        self.calls = calls

    def _started(self) -> None:
        with open(self.calls, "a") as f:
            f.write(f"{os.getpid()}\n")

    def tokens(self, prompt: str) -> Iterator[str]:
        self._started()
        for i in range(ITEMS):
            time.sleep(PAUSE)
            yield f"{prompt}-{i}"

    async def atokens(self, prompt: str) -> AsyncIterator[str]:
        self._started()
        for i in range(ITEMS):
            await asyncio.sleep(PAUSE)
            yield f"{prompt}-{i}"

    async def create(self, prompt: str) -> AsyncIterator[str]:
        """A coroutine that returns an async stream, as openai's ``AsyncOpenAI`` create(stream=True)."""
        return self.atokens(prompt)


def _client(store: Any, calls: str) -> Any:
    return CachedProxy(Streamer(calls), store=store, key_attrs=(), streams="replay",
                       include=["tokens", "atokens", "create"])


async def _read(stream: Any) -> list[str]:
    return [item async for item in stream]


def _read_stream(client: Any, method: str) -> list[str]:
    if method == "tokens":
        return list(client.tokens("hi"))
    if method == "atokens":
        return asyncio.run(_read(client.atokens("hi")))

    async def main() -> list[str]:
        return await _read(await client.create("hi"))

    return asyncio.run(main())


def _worker(store: Any, calls: str, method: str, barrier: Any, results: Any) -> None:
    client = _client(store, calls)
    barrier.wait(60)
    results.put(_read_stream(client, method))


METHODS = ["tokens", "atokens", "create"]
STORES = ["disk", pytest.param("redis", marks=pytest.mark.redis)]


@pytest.mark.parametrize("method", METHODS, ids=["generator", "async-generator", "coroutine-returning-a-stream"])
@pytest.mark.parametrize("kind", STORES)
def test_two_processes_share_one_recorded_stream(make_store: Any, kind: str, method: str, tmp_path: Path) -> None:
    store = make_store(kind, lease_ttl=LEASE_TTL)
    calls = str(tmp_path / "calls")
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    got = run_processes(_worker, (store, calls, method, barrier, results), 2, results)
    whole = [f"hi-{i}" for i in range(ITEMS)]
    assert got == [whole, whole]  # both read the whole stream: one live, one replayed
    # One stream from the service: the other process waited, the lease renewed meanwhile, for the recording.
    assert len(Path(calls).read_text().splitlines()) == 1
    # The recording is stored: a third caller replays it too.
    assert _read_stream(_client(store, calls), method) == whole
    assert len(Path(calls).read_text().splitlines()) == 1


@pytest.mark.parametrize("kind", STORES)
def test_an_abandoned_stream_frees_the_lease_for_the_next_process(make_store: Any, kind: str, tmp_path: Path) -> None:
    store = make_store(kind, lease_ttl=60.0)
    calls = str(tmp_path / "calls")
    client = _client(store, calls)
    stream = client.tokens("hi")
    assert next(stream) == "hi-0"
    stream.close()  # a partial read: nothing is stored, and the lease is given up at once
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(1)
    results = ctx.Queue()
    other = ctx.Process(target=_worker, args=(store, calls, "tokens", barrier, results))
    other.start()
    try:
        # Well within the lease's 60 s: the other process did not wait for it to lapse.
        assert results.get(timeout=45) == [f"hi-{i}" for i in range(ITEMS)]
        other.join(30)
        assert other.exitcode == 0
    finally:
        other.kill()
        other.join(10)
    assert len(Path(calls).read_text().splitlines()) == 2


@pytest.mark.parametrize("kind", STORES)
def test_a_recording_holding_the_lease_does_not_hold_up_its_own_process_after_a_clear(
    make_store: Any, kind: str, tmp_path: Path
) -> None:
    # The first stream, unread, keeps the lease; after cache_clear() a new call of
    # this process must not wait for its own lease (it would wait for ever: the
    # lease is renewed while the stream is unread).
    client = _client(make_store(kind, lease_ttl=60.0), str(tmp_path / "calls"))
    first = client.tokens("hi")
    client.tokens.cache_clear()
    got: list[list[str]] = []
    second = threading.Thread(target=lambda: got.append(list(client.tokens("hi"))), daemon=True)
    second.start()
    second.join(30)
    assert got == [[f"hi-{i}" for i in range(ITEMS)]]
    assert list(first) == got[0]
