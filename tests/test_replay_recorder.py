"""The recorder and replays behind ``streams="replay"``, on their own.

A recorder stands in for a live stream: its caller gets every item as it
arrives; it reports a recording once the stream ends, and nothing after a
partial read, a close, an exception or being dropped. A replay is a fresh
iterator of the recorded items with the stream's protocol.
"""

from __future__ import annotations

import asyncio
import gc
import io
import pickle
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from proxycache._recording import AsyncReplay, Recording, Replay
from proxycache._replay import AsyncRecorder, Recorder, record, replayed, stream_kind
from proxycache.serializers import JsonSerializer, PickleSerializer, PydanticSerializer


class Reports:
    def __init__(self) -> None:
        self.got: list[Recording | None] = []

    def __call__(self, recording: Recording | None) -> None:
        self.got.append(recording)


def numbers(n: int, log: list[str] | None = None) -> Iterator[int]:
    try:
        for i in range(n):
            if log is not None:
                log.append(f"made {i}")
            yield i
    finally:
        if log is not None:
            log.append("closed")


async def anumbers(n: int) -> AsyncIterator[int]:
    for i in range(n):
        await asyncio.sleep(0)
        yield i


def test_items_reach_the_caller_as_they_arrive() -> None:
    log: list[str] = []
    reports = Reports()
    rec = record(numbers(3, log), reports)
    assert isinstance(rec, Recorder)
    assert next(rec) == 0
    assert log == ["made 0"]  # nothing read ahead
    assert reports.got == []
    assert list(rec) == [1, 2]
    assert reports.got == [Recording([0, 1, 2])]
    assert log[-1] == "closed"


@pytest.mark.parametrize("how", ["break", "close", "with", "drop", "send"])
def test_a_partial_read_reports_nothing(how: str) -> None:
    log: list[str] = []
    reports = Reports()
    rec = record(numbers(5, log), reports)
    assert rec is not None
    if how == "break":
        for i in rec:
            if i == 1:
                break
        del rec
    elif how == "close":
        next(rec)
        rec.close()
        assert "closed" in log  # the stream itself is closed too
    elif how == "with":
        with rec as stream:
            assert stream is rec
            next(stream)
        assert "closed" in log
    elif how == "drop":
        next(rec)
        del rec
        gc.collect()
    elif how == "send":
        next(rec)
        rec.send(None)  # a value sent in steers the generator: not replayable
        list(rec)
    assert reports.got == [None]


def test_an_exception_reports_nothing_and_propagates() -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise ConnectionError("dropped")

    reports = Reports()
    rec = record(failing(), reports)
    assert rec is not None
    with pytest.raises(ConnectionError):
        list(rec)
    assert reports.got == [None]


def test_reported_once_whatever_follows() -> None:
    reports = Reports()
    rec = record(numbers(2), reports)
    assert rec is not None
    with rec:
        assert list(rec) == [0, 1]
    rec.close()
    del rec
    gc.collect()
    assert reports.got == [Recording([0, 1])]


def test_with_reads_to_the_end_then_stores() -> None:
    reports = Reports()
    rec = record(numbers(2), reports)
    assert rec is not None
    with rec as stream:
        assert list(stream) == [0, 1]
    assert reports.got == [Recording([0, 1])]


def test_replay_is_fresh_each_time_with_the_stream_protocol() -> None:
    recording = Recording(["a", "b", "c"])
    first, second = recording.replay(), replayed(recording)
    assert isinstance(first, Replay)
    assert first is not second
    assert next(first) == "a"
    assert list(first) == ["b", "c"]
    with second as stream:
        assert stream is second
        assert list(stream) == ["a", "b", "c"]
    third = recording.replay()
    assert isinstance(third, Iterator)
    for chunk in third:
        third.close()  # closing inside the loop ends it, as with a generator
        assert chunk == "a"
    assert list(third) == []
    assert replayed(42) == 42


def test_files_and_plain_values_are_not_streams() -> None:
    for value in ([1], (1,), "text", b"x", {"a": 1}, None, 3, io.StringIO("a\nb\n"), io.BytesIO(b"")):
        assert stream_kind(value) is None
        assert record(value, Reports()) is None
    assert stream_kind(iter([1])) == "sync"
    assert stream_kind(map(str, [1])) == "sync"
    assert stream_kind(anumbers(1)) == "async"


def test_other_attributes_reach_the_stream() -> None:
    class Stream:
        response = "the response"

        def __iter__(self) -> Stream:
            return self

        def __next__(self) -> int:
            raise StopIteration

    rec = record(Stream(), Reports())
    assert rec is not None
    assert rec.response == "the response"
    with pytest.raises(AttributeError):
        rec.missing  # noqa: B018


def test_async_recorder_records_and_replays() -> None:
    reports = Reports()

    async def main() -> tuple[list[int], list[int], list[int]]:
        rec = record(anumbers(3), reports)
        assert isinstance(rec, AsyncRecorder)
        got = [i async for i in rec]
        recording = reports.got[0]
        assert recording is not None
        assert recording.is_async
        replay = recording.replay()
        assert isinstance(replay, AsyncReplay)
        again = [i async for i in replay]
        async with recording.replay() as stream:
            assert await stream.__anext__() == 0
            rest = [i async for i in stream]
        return got, again, rest

    assert asyncio.run(main()) == ([0, 1, 2], [0, 1, 2], [1, 2])


@pytest.mark.parametrize("how", ["break", "aclose", "close", "async with", "raise", "cancel"])
def test_async_partial_read_reports_nothing(how: str) -> None:
    reports = Reports()
    closed: list[bool] = []

    async def source() -> AsyncIterator[int]:
        try:
            for i in range(5):
                await asyncio.sleep(0)
                if how == "raise" and i == 2:
                    raise ConnectionError("dropped")
                yield i
        finally:
            closed.append(True)

    async def main() -> None:
        rec = record(source(), reports)
        assert isinstance(rec, AsyncRecorder)
        if how == "break":
            async for i in rec:
                if i == 1:
                    break
            await rec.aclose()
        elif how in ("aclose", "close"):
            await rec.__anext__()
            await (rec.aclose() if how == "aclose" else rec.close())
            assert closed
        elif how == "async with":
            async with rec as stream:
                await stream.__anext__()
            assert closed
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
    assert reports.got == [None]


def test_async_replay_closes_like_openai_async_stream() -> None:
    async def main() -> list[int]:
        replay = Recording([1, 2, 3], is_async=True).replay()
        assert isinstance(replay, AsyncReplay)
        first = await replay.__anext__()
        await replay.close()
        return [first] + [i async for i in replay]

    assert asyncio.run(main()) == [1]


def test_recordings_go_through_pickle_and_pydantic_but_not_json() -> None:
    from pydantic import BaseModel

    class Chunk(BaseModel):
        content: str

    globals()["Chunk"] = Chunk  # the pydantic serializer finds model classes in their module
    Chunk.__qualname__ = "Chunk"
    try:
        recording = Recording([Chunk(content="a"), Chunk(content="b")], is_async=True)
        for serializer in (PickleSerializer(), PickleSerializer(secret="s3cret"), PydanticSerializer()):
            back = serializer.loads(serializer.dumps(recording))
            assert back == recording
            assert type(back.items[0]) is Chunk
        with pytest.raises(TypeError):
            JsonSerializer().dumps(recording)
    finally:
        del globals()["Chunk"]
    assert pickle.loads(pickle.dumps(Recording([1, (2, 3)]))) == Recording([1, (2, 3)])



def test_a_pickled_recording_reads_the_same_in_earlier_releases() -> None:
    # Processes of different releases may share a store: the bytes of a
    # pickled recording, class name included, are what earlier releases wrote.
    earlier = (
        b"\x80\x04\x95/\x00\x00\x00\x00\x00\x00\x00\x8c\x12proxycache._replay\x94\x8c\tRecording"
        b"\x94\x93\x94K\x01K\x02\x86\x94\x88\x86\x94R\x94."
    )
    assert pickle.dumps(Recording([1, 2], is_async=True), protocol=4) == earlier
    assert pickle.loads(earlier) == Recording([1, 2], is_async=True)

def test_a_recording_is_not_a_list() -> None:
    recording: Any = Recording([1, 2])
    assert recording != [1, 2]
    assert len(recording) == 2
    assert "2 items" in repr(recording)


def test_a_follower_waits_for_the_recording_then_replays() -> None:
    from proxycache._replay import AsyncFollower, Ending

    async def main() -> tuple[list[int], list[int], list[int]]:
        ending = Ending()
        calls: list[int] = []

        def fallback() -> AsyncIterator[int]:
            calls.append(1)
            return anumbers(2)

        rec = record(anumbers(3), ending.set)
        assert isinstance(rec, AsyncRecorder)
        follower = AsyncFollower(ending, fallback)
        started = asyncio.ensure_future(alist(follower))
        await asyncio.sleep(0)
        assert not started.done()
        got = [i async for i in rec]
        replayed_items = await started
        # Nothing recorded: the follower reads a stream of its own.
        abandoned = Ending()
        abandoned.set(None)
        own = await alist(AsyncFollower(abandoned, fallback))
        assert calls == [1]
        return got, replayed_items, own

    assert asyncio.run(main()) == ([0, 1, 2], [0, 1, 2], [0, 1])


def test_an_ending_set_from_another_thread_wakes_the_loop() -> None:
    import threading

    from proxycache._replay import Ending

    async def main() -> Recording | None:
        ending = Ending()
        threading.Timer(0.01, ending.set, args=(Recording([1]),)).start()
        return await ending.wait()

    assert asyncio.run(main()) == Recording([1])


async def alist(stream: Any) -> list[Any]:
    return [item async for item in stream]
