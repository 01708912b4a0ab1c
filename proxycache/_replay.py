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

import inspect
import io
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from ._recording import Recording

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


async def aclose_stream(stream: Any) -> None:
    """Close an asynchronous stream: its ``aclose()``, else its ``close()``, awaited if it returns an awaitable."""
    close = getattr(stream, "aclose", None) or getattr(stream, "close", None)
    if callable(close):
        result = close()
        if inspect.isawaitable(result):
            await result


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
        await aclose_stream(self._source)

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


# -- wiring: what the cached method calls -------------------------------------------
