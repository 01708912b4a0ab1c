"""What a call's outcome becomes in the cache, and what may be stored at all.

A cached exception is stored as :class:`Raised`, the result of a method that
returned an awaitable as :class:`Ready`. :func:`may_store` is the one place
that decides whether a result is kept: today it refuses one-shot results
(iterators, awaitables, context managers that are nothing else, HTTP
responses whose body is still unread); a ``cache_if=`` predicate and a TTL
worked out from the result belong here too.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import Any, TypeVar

from ._flags import NO_GIL

#: The types of the values each caller gets a fresh replay of (``value.replay()``): ``_recording.Recording``
#: and ``_streams.Following`` (a recording in progress), each added when its module loads: none exists before.
REPLAYED: set[type] = set()


def replayed(value: Any) -> Any:
    """What a caller gets for a stored or shared *value*: a fresh replay of a recording, anything else as it is."""
    return value.replay() if type(value) in REPLAYED else value


#: Where proxycache's frames come from: its modules and its generated code.
_OWN_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_GENERATED = "<proxycache cached method>"


def trim(tb: TracebackType | None) -> TracebackType | None:
    """*tb* without the proxycache frames it starts with: it then starts at the user's frame.

    The cached callable re-raises the user's exception with it, so a
    traceback shows one proxycache frame (the cached callable's) between
    the caller and the method, not the whole miss path.
    """
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename != _GENERATED and not filename.startswith(_OWN_DIR):
            break
        tb = tb.tb_next
    return tb


#: CPython 3.13 without the GIL swaps an exception's traceback and context without a lock
#: (fixed in 3.14, python/cpython#128421): one exception object raised in two threads at once
#: can be freed under one of them. There an error that other threads raise too (a single
#: flight's, a cached one) is kept as a copy no thread raises, and each thread raises a copy of it.
COPY_ERRORS = NO_GIL and sys.version_info < (3, 14)

E = TypeVar("E", bound=BaseException)


def shared_error(error: E) -> E:
    """*error* as other threads will raise it, kept by the thread that caught it (see ``COPY_ERRORS``).

    The copy's traceback starts at the method's frame: the proxycache frames
    before it may still run in this thread, and another thread must not read them.
    """
    return _copied(error, trim(error.__traceback__)) if COPY_ERRORS else error


def own_error(error: E) -> E:
    """What this thread raises for a shared *error*: a copy of it where ``COPY_ERRORS``."""
    return _copied(error, error.__traceback__) if COPY_ERRORS else error


def _copied(error: E, tb: TracebackType | None) -> E:
    """An equal *error* (type, arguments, attributes, cause, context), with the traceback *tb*."""
    import copy  # only where errors are copied

    try:
        new = copy.copy(error)
    except Exception:  # its class cannot be made again from its arguments: raised as it is
        return error
    new.__cause__, new.__context__ = error.__cause__, error.__context__
    new.__suppress_context__ = error.__suppress_context__
    notes = getattr(error, "__notes__", None)
    if notes is not None:
        new.__notes__ = list(notes)  # type: ignore[attr-defined]  # (3.11+) the copy would share the list
    return new.with_traceback(tb)


class Raised:
    """A cached exception (``cache_exceptions=``): raised again on a hit."""

    __slots__ = ("error", "tb")

    def __init__(self, error: BaseException) -> None:
        self.error = error
        # Every raise adds the raising frames to the error's traceback: each
        # hit re-raises from the traceback as stored, or it grows without end.
        self.tb = trim(error.__traceback__)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Raised, (self.error,))  # tracebacks do not pickle



def result_sizer(getsizeof: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``getsizeof=`` as a storage calls it on what it holds: given only what the method gave.

    A cached exception is sized as the exception, an awaitable's result as
    its value, a recorded stream as the tuple of its items. A size function
    that raises, or answers something other than a number >= 0, sizes the
    result as too large to keep (logged): the caller still gets the method's
    own outcome, returned uncached, never the size function's error.
    """

    def size(stored: Any) -> Any:
        kind = type(stored)
        value = (
            stored.error if kind is Raised else stored.value if kind is Ready
            else stored.items if kind in REPLAYED else stored
        )
        try:
            found = getsizeof(value)
        except Exception:
            _log.exception("getsizeof=%r raised on a %s; it was returned uncached", getsizeof, type(value).__qualname__)
            return math.inf
        try:
            if found >= 0:  # and not NaN
                return found
        except TypeError:
            pass
        _log.error(
            "getsizeof=%r gave %r for a %s, not a size (a number >= 0); it was returned uncached",
            getsizeof, found, type(value).__qualname__,
        )
        return math.inf

    return size


_log = logging.getLogger("proxycache")

_PLAIN_RESULTS = frozenset({type(None), bool, int, float, str, bytes, tuple, list, dict, set, frozenset})

# What @contextmanager and @asynccontextmanager return: one generator each, spent
# by its first ``with`` (a second one raises from the spent generator).
_GENERATOR_CMS: tuple[type, ...] = tuple(
    t for t in (getattr(contextlib, "_GeneratorContextManagerBase", None),) if isinstance(t, type)
) or (contextlib._GeneratorContextManager, contextlib._AsyncGeneratorContextManager)


class Ready:
    """The stored result of a method that returned an awaitable: awaiting it gives the value, as often as asked.

    A method that looks synchronous but returns a coroutine (a plain wrapper
    over a coroutine function, a lambda) hands its callers something to
    await; a hit hands them this, so ``await client.method()`` keeps working.
    """

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Any:
        return self.value
        yield  # a generator: every await gets a fresh one

    def __reduce__(self) -> tuple[Any, ...]:
        return (Ready, (self.value,))

    def __eq__(self, other: object) -> bool:
        return type(other) is Ready and other.value == self.value

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<awaitable result {self.value!r}>"


def one_shot(value: Any) -> bool:
    """Results that can be consumed only once are never cached."""
    kind = type(value)
    if kind in _PLAIN_RESULTS:
        return False
    try:
        verdict = _verdicts.get(kind)
    except TypeError:  # a metaclass that makes its classes unhashable
        verdict = _one_shot_kind(value)
    else:
        if verdict is None:
            verdict = _one_shot_kind(value)
            if value.__class__ is kind:  # not a proxy that names another class (asked afresh each time)
                if len(_verdicts) >= _MAX_VERDICTS:
                    _verdicts.clear()  # classes made at run time must not pile up here
                _verdicts[kind] = verdict
    return verdict if type(verdict) is bool else verdict(value)


#: What one_shot found for each result type: True, False, or a test of the value (see _BODIES).
_verdicts: dict[type, Any] = {}
_MAX_VERDICTS = 1024


def _one_shot_kind(value: Any) -> Any:
    """one_shot's verdict for every value of *value*'s type."""
    if isinstance(value, (Iterator, AsyncIterator, _GENERATOR_CMS)) or inspect.isawaitable(value):
        return True
    kind = type(value)
    for cls in kind.__mro__:
        unread = _BODIES.get((cls.__module__, cls.__qualname__))
        if unread is not None:
            return unread
    return _only_a_context_manager(kind)


def _only_a_context_manager(kind: type) -> bool:
    """Whether *kind* is a context manager and nothing else: what it does happens in its ``with``.

    Such an object stands for work still to do, for one caller: openai's
    ``with_streaming_response`` managers make their request on entering and
    close it on leaving, its ``stream()`` managers likewise, and
    ``contextlib.closing`` closes what it holds. Handing one to two callers
    makes a request per ``with`` anyway, and one caller's exit closes what
    the other reads. A context manager with public methods or attributes
    besides (a client, a connection, a response whose ``with`` only closes
    it) is a value like any other: its ``with`` is not all it is for.
    """
    if not (
        (hasattr(kind, "__enter__") and hasattr(kind, "__exit__"))
        or (hasattr(kind, "__aenter__") and hasattr(kind, "__aexit__"))
    ):
        return False
    return not any(not name.startswith("_") for cls in kind.__mro__[:-1] for name in vars(cls))


def _requests_unread(response: Any) -> bool:
    # requests.Response keeps False in _content until the body is read (stream=True leaves it so; a read
    # one holds bytes). Unread, the body is a stream from the server, read once; pickled, it is read whole.
    return response.__dict__.get("_content") is False


def _httpx_unread(message: Any) -> bool:
    # httpx.Response has no _content until the body is read (send(..., stream=True) leaves it so); nor
    # has an httpx.Request whose body is a generator (build_request(content=...)): sent once, it is spent.
    return "_content" not in message.__dict__


#: Requests and responses of HTTP clients whose body may still be a stream: one-shot while it is unread,
#: a value once read. Known by module and name, so that neither client is imported here.
_BODIES: dict[tuple[str, str], Any] = {
    ("requests.models", "Response"): _requests_unread,
    ("httpx", "Response"): _httpx_unread,
    ("httpx", "Request"): _httpx_unread,
    ("httpx._models", "Response"): _httpx_unread,
    ("httpx._models", "Request"): _httpx_unread,
}


def is_awaitable_result(value: Any) -> bool:
    return type(value) not in _PLAIN_RESULTS and inspect.isawaitable(value)


async def awaited(value: Any) -> Any:
    return await value if is_awaitable_result(value) else value


def discard(awaitable: Any) -> None:
    # A coroutine that will never run: close it, or Python warns it was never awaited.
    close = getattr(awaitable, "close", None) if inspect.iscoroutine(awaitable) else None
    if close is not None:
        close()


def may_store(result: Any) -> bool:
    """Whether a fresh *result* may be stored (and shared with callers waiting for it)."""
    return not one_shot(result)
