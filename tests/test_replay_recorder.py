"""The recording and the replays behind ``streams="replay"``, as a caller of a cached method sees them.

While a stream is recorded its caller gets every item as it arrives; the
recording is stored once the stream ends, and nothing after a partial read,
a value sent in, a close, an exception, a cancellation or being dropped. A
replay is a fresh iterator of the recorded items with the stream's protocol.
(Through all four entry points, waiting callers and stores across processes:
``test_streams_replay.py``.)
"""

from __future__ import annotations

import asyncio
import gc
import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from proxycache import CachedProxy, DiskStore, cache_of


class Stream:
    """A stream object with attributes of its own (as an SDK's stream has ``response``)."""

    response = "the response"

    def __init__(self, items: list[int]) -> None:
        self.items = iter(items)

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> int:
        return next(self.items)


class Source:
    def __init__(self) -> None:
        self.calls = 0
        self.log: list[str] = []
        self.fail_at: int | None = None

    def numbers(self, n: int) -> Iterator[int]:
        self.calls += 1
        try:
            for i in range(n):
                self.log.append(f"made {i}")
                yield i
        finally:
            self.log.append("closed")

    async def anumbers(self, n: int) -> AsyncIterator[int]:
        self.calls += 1
        try:
            for i in range(n):
                await asyncio.sleep(0)
                if i == self.fail_at:
                    raise ConnectionError("dropped")
                yield i
        finally:
            self.log.append("closed")

    def stream(self, n: int) -> Stream:
        self.calls += 1
        return Stream(list(range(n)))

    def file(self) -> io.StringIO:
        self.calls += 1
        return io.StringIO("a\nb\n")

    def values(self) -> list[int]:
        self.calls += 1
        return [0, 1]


def replaying() -> tuple[Source, Any]:
    source = Source()
    return source, CachedProxy(source, streams="replay")


def stored(method: Any) -> int:
    return int(cache_of(method).cache_info().currsize)


# -- recording -----------------------------------------------------------------------------


def test_items_reach_the_caller_as_they_arrive() -> None:
    source, proxy = replaying()
    rec = proxy.numbers(3)
    assert next(rec) == 0
    assert source.log == ["made 0"]  # nothing read ahead
    assert stored(proxy.numbers) == 0
    assert list(rec) == [1, 2]
    assert stored(proxy.numbers) == 1  # stored at the stream's end
    assert source.log[-1] == "closed"
    assert list(proxy.numbers(3)) == [0, 1, 2]
    assert source.calls == 1


@pytest.mark.parametrize("how", ["close", "with", "send"])
def test_a_partial_read_stores_nothing(how: str) -> None:
    # (break, drop and an error, through every entry point: test_streams_replay.py)
    source, proxy = replaying()
    rec = proxy.numbers(5)
    if how == "close":
        next(rec)
        rec.close()
        assert "closed" in source.log  # the stream itself is closed too
    elif how == "with":
        with rec as stream:
            assert stream is rec
            next(stream)
        assert "closed" in source.log
    else:
        next(rec)
        assert rec.send(None) == 1  # a value sent in steers the generator: not replayable
        assert list(rec) == [2, 3, 4]
    assert stored(proxy.numbers) == 0
    assert list(proxy.numbers(5)) == [0, 1, 2, 3, 4]
    assert source.calls == 2  # computed again


def test_stored_once_whatever_follows() -> None:
    source, proxy = replaying()
    rec = proxy.numbers(2)
    with rec:
        assert list(rec) == [0, 1]
    rec.close()
    del rec
    gc.collect()
    assert stored(proxy.numbers) == 1
    assert list(proxy.numbers(2)) == [0, 1]
    assert source.calls == 1


def test_with_reads_to_the_end_then_stores() -> None:
    source, proxy = replaying()
    with proxy.numbers(2) as stream:
        assert list(stream) == [0, 1]
    assert stored(proxy.numbers) == 1
    assert list(proxy.numbers(2)) == [0, 1]
    assert source.calls == 1


def test_other_attributes_reach_the_stream() -> None:
    _, proxy = replaying()
    rec = proxy.stream(2)
    assert rec.response == "the response"
    with pytest.raises(AttributeError):
        rec.missing  # noqa: B018
    assert list(rec) == [0, 1]


# -- replaying -----------------------------------------------------------------------------


def test_replay_is_fresh_each_time_with_the_stream_protocol() -> None:
    source, proxy = replaying()
    assert list(proxy.numbers(3)) == [0, 1, 2]
    first, second = proxy.numbers(3), proxy.numbers(3)
    assert first is not second
    assert isinstance(first, Iterator)
    assert not isinstance(first, list)  # a replay, never the list of items
    assert next(first) == 0
    assert list(first) == [1, 2]
    with second as stream:
        assert stream is second
        assert list(stream) == [0, 1, 2]
    third = proxy.numbers(3)
    for chunk in third:
        third.close()  # closing inside the loop ends it, as with a generator
        assert chunk == 0
    assert list(third) == []
    assert source.calls == 1


def test_files_are_not_recorded_and_plain_values_are_cached_as_values() -> None:
    source, proxy = replaying()
    first, second = proxy.file(), proxy.file()
    assert first is not second  # a file is one-shot, never replayed
    assert first.read() == second.read() == "a\nb\n"
    assert stored(proxy.file) == 0
    assert proxy.values() == proxy.values() == [0, 1]  # a list is a value: a hit gives the list
    assert stored(proxy.values) == 1
    assert source.calls == 3


# -- coroutines ----------------------------------------------------------------------------


def test_async_streams_record_and_replay_with_their_protocol() -> None:
    source, proxy = replaying()

    async def main() -> tuple[list[int], list[int], int, list[int]]:
        got = [i async for i in proxy.anumbers(3)]
        again = [i async for i in proxy.anumbers(3)]
        async with proxy.anumbers(3) as stream:
            first = await stream.__anext__()
            rest = [i async for i in stream]
        return got, again, first, rest

    assert asyncio.run(main()) == ([0, 1, 2], [0, 1, 2], 0, [1, 2])
    assert source.calls == 1


@pytest.mark.parametrize("how", ["break", "aclose", "close", "async with", "raise", "cancel"])
def test_an_async_partial_read_stores_nothing(how: str) -> None:
    source, proxy = replaying()
    if how == "raise":
        source.fail_at = 2

    async def main() -> None:
        rec = proxy.anumbers(5)
        if how == "break":
            async for i in rec:
                if i == 1:
                    break
            await rec.aclose()
        elif how in ("aclose", "close"):
            await rec.__anext__()
            await (rec.aclose() if how == "aclose" else rec.close())
            assert "closed" in source.log
        elif how == "async with":
            async with rec as stream:
                await stream.__anext__()
            assert "closed" in source.log
        elif how == "raise":
            with pytest.raises(ConnectionError):
                async for _ in rec:
                    pass
        else:
            started = asyncio.Event()

            async def consume() -> None:
                async for _ in rec:
                    started.set()
                    await asyncio.sleep(10)

            task = asyncio.create_task(consume())
            await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())
    assert stored(proxy.anumbers) == 0
    source.fail_at = None
    assert asyncio.run(alist(proxy.anumbers(2))) == [0, 1]
    assert source.calls == 2  # computed again


def test_an_async_replay_closes_like_openai_async_stream() -> None:
    _, proxy = replaying()

    async def main() -> list[int]:
        await alist(proxy.anumbers(3))
        replay = proxy.anumbers(3)
        first = await replay.__anext__()
        await replay.close()
        return [first] + [i async for i in replay]

    assert asyncio.run(main()) == [0]


def test_a_task_waiting_on_an_abandoned_recording_reads_a_stream_of_its_own() -> None:
    source, proxy = replaying()

    async def main() -> tuple[list[int], list[int]]:
        leader = proxy.anumbers(3)
        head = await leader.__anext__()  # recording: a second caller waits for its end
        follower = asyncio.ensure_future(alist(proxy.anumbers(3)))
        await asyncio.sleep(0.05)
        assert not follower.done()
        await leader.aclose()  # abandoned: nothing recorded
        return [head], await follower

    assert asyncio.run(main()) == ([0], [0, 1, 2])
    assert source.calls == 2


# -- in a store: through the serializer ----------------------------------------------------


class Chunks:
    calls = 0

    async def chunks(self) -> AsyncIterator[Any]:
        Chunks.calls += 1
        for text in ("a", "b"):
            await asyncio.sleep(0)
            yield Chunk(content=text)


try:
    from pydantic import BaseModel

    class Chunk(BaseModel):
        content: str

except ImportError:  # pragma: no cover - pydantic is installed with the test extras
    pass


@pytest.mark.parametrize("serializer", ["pickle", "signed", "pydantic"])
def test_recordings_go_through_pickle_and_pydantic(tmp_path: Path, serializer: str) -> None:
    from proxycache.serializers import PickleSerializer

    chosen: Any = PickleSerializer(secret="s3cret") if serializer == "signed" else serializer
    store = DiskStore(tmp_path)
    Chunks.calls = 0

    def fresh() -> Any:  # a new instance each time: only the store carries the recording
        return CachedProxy(Chunks(), store=store, key_attrs=(), streams="replay", serializer=chosen)

    first = asyncio.run(alist(fresh().chunks()))
    second = asyncio.run(alist(fresh().chunks()))
    assert first == second == [Chunk(content="a"), Chunk(content="b")]
    assert all(type(item) is Chunk for item in second)
    assert Chunks.calls == 1


def test_json_cannot_hold_a_recording_and_says_so_at_wrap_time(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"JSON cannot hold as they were.*serializer='pickle'"):
        CachedProxy(Chunks(), store=DiskStore(tmp_path), key_attrs=(), streams="replay", serializer="json")


async def alist(stream: Any) -> list[Any]:
    return [item async for item in stream]
