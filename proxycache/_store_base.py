"""What the stores share: key layout helpers, the failure breaker, lease tokens, errors, calls off the loop."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from math import inf
from typing import Any, Final, TypeVar

from ._miss import DIGEST_LENGTH

_T = TypeVar("_T")


class StoreUnavailable(ConnectionError):
    """The store failed recently and is left alone until its retry interval passes."""


class ForeignEntry(ValueError):
    """A row of a disk store that proxycache did not write (a pickle, text): refused unread."""


def namespace_of(key: str) -> str:
    """The namespace part of a store key (digests never contain ``:``)."""
    return key.rpartition(":")[0]


#: A glob for the digest part of a store key: exactly DIGEST_LENGTH lowercase hex digits.
DIGEST_GLOB: Final = "[0-9a-f]" * DIGEST_LENGTH

#: What a lease row's key adds to the entry's key on disk and in memory: never a digest, so never listed.
LEASE_SUFFIX: Final = "#lease"


def new_token() -> str:
    """A lease token: unguessable, so only its holder can renew or release the lease."""
    import secrets  # on first use: import proxycache stays light

    return secrets.token_hex(16)


def check_lease_ttl(ttl: float) -> float:
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0:
        raise ValueError(f"a lease ttl must be positive seconds, not {ttl!r}")
    return float(ttl)


class Breaker:
    """After a connection-level error, fail fast for *retry_after* seconds instead of waiting on timeouts."""

    retry_after: float = 1.0
    _down_until: float = 0.0
    _down_because: BaseException | None = None

    def _check(self) -> None:
        if self._down_until:
            if time.monotonic() >= self._down_until:
                self._down_until = 0.0  # retry time: the hit path goes back to its short way
                return
            cause = self._down_because
            because = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
            error = StoreUnavailable(f"{self!r} failed recently{because}; trying again within {self.retry_after:g}s")
            # The reason the store is down, for the fault's warning and the demo.
            error.__cause__ = cause
            raise error

    def _trip(self, error: BaseException | None = None) -> None:
        self._down_until = time.monotonic() + self.retry_after
        self._down_because = error


def check_retry_after(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"retry_after must be seconds >= 0, not {value!r}")
    return float(value)


def check_saved(saved_seconds: float) -> float:
    if isinstance(saved_seconds, bool) or not isinstance(saved_seconds, (int, float)) or not 0 <= saved_seconds < inf:
        raise ValueError(f"saved_seconds must be seconds >= 0 (finite), not {saved_seconds!r}")
    return float(saved_seconds)


def require(module: str, what: str, extra: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ImportError(f"{what} needs the {module} package: pip install 'proxycache[{extra}]'")


async def in_thread(call: Callable[..., _T], *args: Any) -> _T:
    """*call* in a worker thread, as :func:`asyncio.to_thread`: a store call never blocks the running loop.

    Once ``asyncio.run()`` has begun shutting the loop's default executor
    down, tasks still run (an async generator's cleanup, a lease given up as
    the loop ends), and the executor refuses them: the call then gets a
    thread of its own rather than fail.
    """
    import asyncio
    import contextvars
    import functools

    loop = asyncio.get_running_loop()
    run = functools.partial(contextvars.copy_context().run, call, *args)
    try:
        future = loop.run_in_executor(None, run)
    except RuntimeError:  # refused at once ("Executor shutdown has been called"): the call has not run
        future = loop.create_future()
        threading.Thread(target=_settle, args=(loop, future, run), name="proxycache store call").start()
    return await future


def _settle(loop: Any, future: Any, run: Callable[[], Any]) -> None:
    """Run *run* and hand its outcome to *future* on *loop*."""
    try:
        result = run()
    except BaseException as error:  # as an executor's worker does: whatever it is, the caller gets it
        outcome, settle = error, future.set_exception
    else:
        outcome, settle = result, future.set_result

    def hand_over() -> None:
        if not future.cancelled():
            settle(outcome)

    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody awaits the outcome
        loop.call_soon_threadsafe(hand_over)
