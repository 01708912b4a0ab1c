"""``streams="replay"``: record a one-shot stream while its caller consumes it, then replay it.

A method that returns a stream (a generator, an async generator, openai's
``Stream`` and ``AsyncStream``, any iterator) hands its first caller a
:class:`Recorder` (or :class:`AsyncRecorder`) in the stream's place: each
item is passed on as it arrives and remembered. Only when the stream ends
does the recorder report a :class:`Recording` (what the cache stores); a
partial read (``break``, ``close()``, leaving ``with`` early, dropping it) or
an exception reports ``None``, and nothing is stored.

A stored :class:`Recording` is never handed out itself: every hit gets a
fresh replay of its items (``_recording``, the values this module records).

The recorder reports through one callback, ``finish(recording or None)``,
called exactly once: that is where the cached method stores the recording
and releases the callers waiting on the same key (single flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import io
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from ._flight import RETRY
from ._recording import AsyncReplay, Recording

log = logging.getLogger("proxycache")

#: Reported once by a recorder: the recording when the stream ended, None when it did not.
Finish = Callable[["Recording | None"], None]

#: Generator methods that steer the stream from outside: using one ends the recording.
_STEERING = frozenset({"send", "throw", "asend", "athrow"})
_PLAIN = frozenset({type(None), bool, int, float, str, bytes, bytearray, tuple, list, dict, set, frozenset})


class _Recorder:
    """What both recorders share: the live stream, the items so far, and the one report."""

    __slots__ = ("_finish", "_items", "_source")

    def __init__(self, source: Any, finish: Finish) -> None:
        self._source = source
        self._items: list[Any] = []
        self._finish: Finish | None = finish

    def _report(self, ended: bool, is_async: bool) -> None:
        finish, self._finish = self._finish, None
        if finish is not None:
            items, self._items = self._items, []
            finish(Recording(items, is_async) if ended else None)

    @property
    def recording(self) -> bool:
        """Whether the stream is still being recorded (neither ended nor abandoned)."""
        return self._finish is not None

    def __getattr__(self, name: str) -> Any:
        # The stream's other attributes (openai's ``stream.response``) stay reachable.
        if name.startswith("__") or name in _Recorder.__slots__:
            raise AttributeError(name)
        if name in _STEERING:
            # Values sent into a generator steer what it yields: a replay could not repeat that.
            self._report(False, False)
        return getattr(self._source, name)

    def __del__(self) -> None:
        # Dropped before its end: a partial read. Waiters must not wait for ever.
        try:
            finish = self._finish
        except AttributeError:  # __init__ never ran
            return
        if finish is not None:
            self._finish = None
            try:
                finish(None)
            except Exception:  # a finalizer has nobody to raise to
                log.exception("proxycache: releasing an abandoned recording failed")


class Recorder(_Recorder, Iterator[Any]):
    """Stands in for a live stream, passing each item on and recording it; see the module docstring."""

    __slots__ = ()

    def __iter__(self) -> Recorder:
        return self

    def __next__(self) -> Any:
        if self._finish is None:
            return next(self._source)  # reported already: the stream's own behaviour from here
        try:
            item = next(self._source)
        except StopIteration:
            self._report(True, False)
            raise
        except BaseException:
            self._report(False, False)
            raise
        self._items.append(item)
        return item

    def close(self) -> Any:
        """Stop recording (nothing is stored) and close the stream."""
        self._report(False, False)
        close = getattr(self._source, "close", None)
        return close() if callable(close) else None

    def __enter__(self) -> Recorder:
        enter = getattr(type(self._source), "__enter__", None)
        if enter is not None:
            enter(self._source)
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        self._report(False, False)  # a stream read to its end has reported already
        exit_ = getattr(type(self._source), "__exit__", None)
        if exit_ is not None:
            return exit_(self._source, *exc_info)
        close = getattr(self._source, "close", None)
        if callable(close):
            close()
        return None

    def __repr__(self) -> str:
        return f"<recording {self._source!r}>"


class AsyncRecorder(_Recorder, AsyncIterator[Any]):
    """The async :class:`Recorder`: ``async for``, ``async with``, ``aclose()`` and ``await close()``."""

    __slots__ = ()

    def __aiter__(self) -> AsyncRecorder:
        return self

    async def __anext__(self) -> Any:
        if self._finish is None:
            return await self._source.__anext__()
        try:
            item = await self._source.__anext__()
        except StopAsyncIteration:
            self._report(True, True)
            raise
        except BaseException:  # cancellation too: the stream did not end
            self._report(False, True)
            raise
        self._items.append(item)
        return item

    async def aclose(self) -> None:
        """Stop recording (nothing is stored) and close the stream."""
        self._report(False, True)
        close = getattr(self._source, "aclose", None) or getattr(self._source, "close", None)
        if callable(close):
            result = close()
            if inspect.isawaitable(result):
                await result

    close = aclose

    async def __aenter__(self) -> AsyncRecorder:
        enter = getattr(type(self._source), "__aenter__", None)
        if enter is not None:
            await enter(self._source)
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        self._report(False, True)
        exit_ = getattr(type(self._source), "__aexit__", None)
        if exit_ is not None:
            return await exit_(self._source, *exc_info)
        await self.aclose()
        return None

    def __repr__(self) -> str:
        return f"<recording {self._source!r}>"


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
        close = getattr(stream, "aclose", None) or getattr(stream, "close", None)
        if callable(close):
            result = close()
            if inspect.isawaitable(result):
                await result

    close = aclose

    async def __aenter__(self) -> AsyncFollower:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return "<stream waiting for a recording in progress>"


def stream_kind(value: Any) -> str | None:
    """``"sync"`` or ``"async"`` for a result that can be recorded, else None.

    Files are iterators too, but code reads them with ``read()`` and
    ``seek()``, which a replay of their lines would not have: they stay
    one-shot results, returned uncached.
    """
    if type(value) in _PLAIN or isinstance(value, io.IOBase):
        return None
    if isinstance(value, Iterator):
        return "sync"
    if isinstance(value, AsyncIterator):
        return "async"
    return None


def record(value: Any, finish: Finish) -> Recorder | AsyncRecorder | None:
    """A recorder standing in for *value*, which reports to *finish*; None when *value* is not a stream."""
    kind = stream_kind(value)
    if kind is None:
        return None
    return Recorder(value, finish) if kind == "sync" else AsyncRecorder(value, finish)


def replayed(value: Any) -> Any:
    """What a caller gets for a stored or shared *value*: a fresh replay of a recording, anything else as it is."""
    return value.replay() if type(value) is Recording or type(value) is Following else value


# -- wiring: what the cached method calls -------------------------------------------


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


#: What a leader shares when its flight lands later: when the stream it hands back ends.
LATER: Any = type("_Later", (), {"__repr__": lambda self: "LATER"})()


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
        keep, land = method._keep_recording, method._land

        def finish(recording: Recording | None) -> None:
            try:
                keep(key, generation, recording)
            finally:
                try:
                    land(key, flights, flight, True, RETRY if recording is None else recording)
                finally:
                    if held is not None:
                        held.release()

        return record(result, finish)

    def refresh(self, method: Any, result: Any, key: Any, generation: int) -> Recorder | AsyncRecorder | None:
        """For ``cache_refresh``: a recorder that stores the recording at its end, no flight involved."""
        keep = method._keep_recording
        return record(result, lambda recording: keep(key, generation, recording))


class NoStreams:
    """``streams="skip"``: stream results are not recorded (they are returned uncached)."""

    __slots__ = ()

    def record(self, method: Any, result: Any, key: Any, flights: dict[Any, Any], flight: Any,
               args: tuple[Any, ...], kwargs: dict[str, Any], held: Any = None) -> None:
        return None

    def refresh(self, method: Any, result: Any, key: Any, generation: int) -> None:
        return None


NO_STREAMS = NoStreams()
STREAMS = StreamReplay()
