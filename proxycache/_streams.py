"""What a cached method calls for ``streams="replay"``: :class:`StreamReplay` (``_getorcompute.NoStreams`` otherwise).

A leader whose result is a stream hands its caller a recorder (``_replay``)
and leaves its flight open (``_getorcompute.LATER``); the recorder's report stores the
recording and lands the flight. Tasks that call an async generator method
follow the recording in their own loop (:class:`FollowFlight`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from ._flight import RETRY
from ._outcome import REPLAYED
from ._recording import AsyncReplay, Recording
from ._replay import AsyncRecorder, Recorder, aclose_stream, record, stream_kind

log = logging.getLogger("proxycache")


class Ending:
    """How a recording in progress ends (its recording, or None), for tasks to await without blocking their loop.

    Set once, from any thread (a recorder may be dropped and finalized
    anywhere); every task waiting on it resumes in its own event loop.
    """

    __slots__ = ("_done", "_lock", "_waiters", "value")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = False
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[Recording | None]]] = []
        self.value: Recording | None = None

    def set(self, value: Recording | None) -> None:
        with self._lock:
            if self._done:
                return
            self.value, self._done = value, True
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # a loop closed meanwhile has nobody left to wake
                loop.call_soon_threadsafe(_settle, future, value)

    async def wait(self) -> Recording | None:
        """The recording once the stream ends (None: it did not end, nothing was recorded)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._done:
                return self.value
            future: asyncio.Future[Recording | None] = loop.create_future()
            self._waiters.append((loop, future))
        # shield: a waiter cancelled here must not cancel what the others wait for.
        return await asyncio.shield(future)


def _settle(future: asyncio.Future[Recording | None], value: Recording | None) -> None:
    if not future.done():
        future.set_result(value)


class AsyncFollower(AsyncIterator[Any]):
    """What a caller gets for an async stream another caller of its thread is recording.

    The call itself cannot wait (it is a plain call that returns the stream),
    so the stream does: its first step awaits the recording's end, then
    replays it, or, when nothing was recorded, reads a stream of its own
    from *fallback*.
    """

    __slots__ = ("_ending", "_fallback", "_stream")

    def __init__(self, ending: Ending, fallback: Callable[[], Any]) -> None:
        self._ending = ending
        self._fallback = fallback
        self._stream: Any = None

    async def _opened(self) -> Any:
        if self._stream is None:
            recording = await self._ending.wait()
            self._stream = recording.replay() if recording is not None else self._fallback()
        return self._stream

    def __aiter__(self) -> AsyncFollower:
        return self

    async def __anext__(self) -> Any:
        stream = self._stream if self._stream is not None else await self._opened()
        return await stream.__anext__()

    async def aclose(self) -> None:
        """Stop: later iteration ends at once."""
        stream, self._stream = self._stream, AsyncReplay(())
        await aclose_stream(stream)

    close = aclose

    async def __aenter__(self) -> AsyncFollower:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return "<stream waiting for a recording in progress>"


class Following:
    """What a flight hands its waiters while an async stream is recorded: each gets a follower of it."""

    __slots__ = ("ending", "fallback")

    def __init__(self, ending: Ending, fallback: Callable[[], Any]) -> None:
        self.ending = ending
        self.fallback = fallback

    def replay(self) -> AsyncFollower:
        return AsyncFollower(self.ending, self.fallback)


class FollowFlight:
    """The flight of a key whose async stream a sync call is recording (a generator method's).

    Its callers are tasks, maybe of the recording's own thread: they must
    not block on it. Waiting on it returns at once with a :class:`Following`,
    whose followers await the recording in their own loops. The protocol is
    ``_flight.Flight``'s.
    """

    __slots__ = ("following", "generation")

    def __init__(self, following: Following, generation: int) -> None:
        self.following = following
        self.generation = generation

    def hand_to(self, thread: threading.Thread) -> None:
        pass  # nobody leads it: its waiters follow the recording

    def mine(self) -> bool:
        return False  # never re-entered: a task of the recording's thread follows it too

    def joinable(self) -> bool:
        return True

    def replaces(self, other: Any) -> bool:
        return True

    def finish(self, ok: bool, value: Any) -> None:
        self.following.ending.set(value if type(value) is Recording else None)

    def wait(self) -> tuple[bool, Any]:
        return True, self.following


# Its waiters each get a follower: a replay of the recording once it ends.
REPLAYED.add(Following)


class StreamReplay:
    """``streams="replay"`` for one cached method: a stream result becomes a recorder, its flight lands at its end.

    It calls back the cached method it is given: ``_keep_recording`` stores a
    recording (or counts an abandoned one, None) under the generation the
    call began in, ``_land`` ends the flight. Holding no method itself, it is
    one object for every cached method.
    """

    __slots__ = ()

    def record(self, method: Any, result: Any, key: Any, flights: dict[Any, Any], flight: Any,
               args: tuple[Any, ...], kwargs: dict[str, Any], held: Any = None) -> Recorder | AsyncRecorder | None:
        """A recorder standing in for a stream *result* (None for anything else); see the class docstring.

        *held* is the leader's store lease (``_lease_keeper.HeldLease``,
        with ``single_flight="store"``): given up once the recording is
        stored, or the stream abandoned, so other processes wait for it.
        """
        kind = stream_kind(result)
        if kind is None:
            return None
        generation = flight.generation
        if kind == "async" and flights is method.flights:
            # Tasks call a generator method without awaiting the call (a thread flight):
            # hand them a flight that never blocks, whose waiters follow the recording.
            # Same key, same call: a follower left without a recording makes the leader's.
            following = Following(Ending(), functools.partial(method.call, *args, **kwargs))
            follow = FollowFlight(following, generation)
            with method.lock:
                if flights.get(key) is flight:
                    flights[key] = follow
            method._land(key, flights, flight, True, following)  # threads already waiting follow too
            flight = follow
        land = method._land

        def finish(recording: Recording | None) -> None:
            if _on_a_loop(method, recording):
                # Landed once stored, as below: a call that follows finds the recording, in the store or the flight.
                landing = functools.partial(land, key, flights, flight, True, recording)
                _store_later(method, key, generation, recording, held, landing, flight)
                return
            try:
                method._keep_recording(key, generation, recording)
            finally:
                try:
                    land(key, flights, flight, True, RETRY if recording is None else recording)
                finally:
                    if held is not None:
                        held.release()

        return record(result, finish)

    def refresh(self, method: Any, result: Any, key: Any, generation: int) -> Recorder | AsyncRecorder | None:
        """For ``cache_refresh``: a recorder that stores the recording at its end, no flight involved."""

        def finish(recording: Recording | None) -> None:
            if _on_a_loop(method, recording):
                _store_later(method, key, generation, recording, None)
            else:
                method._keep_recording(key, generation, recording)

        return record(result, finish)


def _on_a_loop(method: Any, recording: Recording | None) -> bool:
    """A recording to write to a store, from the thread of a running event loop: its write must not block it."""
    return recording is not None and method.io_outside and asyncio._get_running_loop() is not None


#: Recordings being written by tasks, held until done (a loop keeps only weak references to its tasks).
_WRITING: set[asyncio.Task[None]] = set()


def _store_later(
    method: Any, key: Any, generation: int, recording: Any, held: Any,
    landing: Callable[[], None] | None = None, flight: Any = None,
) -> None:
    """Write *recording* to the store off the running loop; then land the flight (*landing*) and give up *held*.

    Until then callers of the key in this process wait on the flight (tasks
    without blocking their loop) and other processes on the lease, rather
    than record the stream again. The write runs in a thread of its own,
    which outlives the loop (a script's ``asyncio.run()`` may end right
    after the stream). A store with nothing but an asyncio client writes as
    a task of the loop instead, and the flight lands at once: a caller on
    this loop must not wait for a task of it.
    """

    def write() -> None:
        try:
            method._keep_recording(key, generation, recording)
        finally:
            try:
                if landing is not None:
                    landing()
            finally:
                if held is not None:
                    held.release()

    async def awrite() -> None:
        try:
            await method._astore(key, generation, recording)
        finally:
            if held is not None:
                held.release()

    name = f"proxycache store {method.qualname}"
    if method.storage.sync_io:
        writer = threading.Thread(target=write, name=name)
        writer.start()
        if flight is not None:
            flight.hand_to(writer)  # a call of the key from here on waits: it is no re-entry
        return
    if landing is not None:
        landing()
    task = asyncio.get_running_loop().create_task(awrite(), name=name)
    _WRITING.add(task)
    task.add_done_callback(_WRITING.discard)


STREAMS = StreamReplay()
