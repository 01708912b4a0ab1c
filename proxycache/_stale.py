"""Stale serving: an expired entry given out while a refresh runs, or in place of an error.

The one place that knows "a value plus when it was made" (an
:class:`~proxycache._entry.Entry`) and what that allows:

- ``stale_while_revalidate``: within that many seconds after expiry the
  stale value is returned at once, and :class:`Refresher` recomputes the
  key in the background (a thread for sync methods, a task for coroutine
  methods), once per key at a time;
- ``stale_if_error``: within that many seconds after expiry, a recomputation
  that raises an ``Exception`` gives the stale value instead.

Methods without either option get ``_lifetime.NO_STALE``, a null object whose
answers cost nothing, and never load this module.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ._events import LISTENERS, emit

if TYPE_CHECKING:
    from ._entry import Entry
    from ._options import Options

log = logging.getLogger("proxycache")


class StaleServing:
    """When an expired entry of one method is served instead of a computed value.

    The storages answer a lookup of such an entry with ``_lifetime.Expired``
    (the :class:`Entry` and the time it was read); this decides what it is
    good for, and counts what it served.
    """

    __slots__ = ("_lock", "if_error", "qualname", "refresher", "revalidate", "served")

    def __init__(self, options: Options, qualname: str) -> None:
        self.qualname = qualname
        self.if_error = options.stale_if_error or 0.0
        self.revalidate = options.stale_while_revalidate or 0.0
        self.refresher = Refresher(qualname)
        self._lock = threading.Lock()
        #: Calls answered with a stale value (``cache_stats()["stale"]``).
        self.served = 0

    def __bool__(self) -> bool:
        return True

    def at_once(self, entry: Entry, now: float) -> bool:
        """Whether *entry* (expired, read at *now*) is returned now while a refresh runs: ``stale_while_revalidate``."""
        if now < entry.expires + self.revalidate:
            self._count("revalidate", entry, now)
            return True
        return False

    def on_error(self, entry: Entry, now: float) -> bool:
        """Whether *entry* (expired, read at *now*) is returned in place of an error: ``stale_if_error``."""
        if now < entry.expires + self.if_error:
            self._count("error", entry, now)
            return True
        return False

    def _count(self, reason: str, entry: Entry, now: float) -> None:
        with self._lock:
            self.served += 1
        if LISTENERS:
            emit("stale", self.qualname, {"reason": reason, "age": max(0.0, now - entry.expires)})

    def reset(self) -> None:
        """Statistics back to zero (``cache_clear()``)."""
        with self._lock:
            self.served = 0


class Refresher:
    """Runs at most one background refresh per key at a time; failures are logged, never raised.

    ``start(key, refresh)`` runs ``refresh()`` in a daemon thread;
    ``astart(key, refresh)`` runs the coroutine ``refresh()`` as a task of
    the running loop. Either is skipped while the key's previous refresh
    runs. The refresh itself goes through the method's single flight, so a
    caller missing the key meanwhile (and, with ``single_flight="store"``,
    another process) shares it rather than compute again.
    """

    def __init__(self, qualname: str) -> None:
        self.qualname = qualname
        self._lock = threading.Lock()
        self._running: set[Any] = set()
        # The loop keeps only weak references to its tasks: hold them while they run.
        self._tasks: set[asyncio.Task[None]] = set()

    def _claim(self, key: Any) -> bool:
        with self._lock:
            if key in self._running:
                return False
            self._running.add(key)
            return True

    def _done(self, key: Any, error: BaseException | None) -> None:
        with self._lock:
            self._running.discard(key)
        if error is not None:
            log.warning(
                "%s: background refresh failed (%s: %s); the stale value is served until it expires",
                self.qualname, type(error).__name__, str(error),  # a kept record would keep the frames
            )
        if LISTENERS:
            emit("refresh", self.qualname, {"ok": error is None, "error": error})

    def running(self, key: Any) -> bool:
        """Whether a refresh of *key* runs now."""
        with self._lock:
            return key in self._running

    def start(self, key: Any, refresh: Callable[[], Any]) -> bool:
        """Refresh *key* in a daemon thread unless one already does; True if this call started it."""
        if not self._claim(key):
            return False

        def run() -> None:
            error: BaseException | None = None
            try:
                refresh()
            except Exception as caught:
                error = caught
            finally:
                self._done(key, error)
                del error

        try:
            threading.Thread(target=run, name=f"proxycache refresh {self.qualname}", daemon=True).start()
        except RuntimeError as error:  # no new threads (interpreter shutting down)
            self._done(key, error)
            return False
        return True

    def astart(self, key: Any, refresh: Callable[[], Awaitable[Any]]) -> bool:
        """Refresh *key* in a task of the running loop unless one already does; True if this call started it."""
        if not self._claim(key):
            return False

        async def run() -> None:
            error: BaseException | None = None
            try:
                await refresh()
            except asyncio.CancelledError as caught:  # the loop closed under it: report, then go
                error = caught
                raise
            except Exception as caught:
                error = caught
            finally:
                self._done(key, error)
                del error

        task = asyncio.get_running_loop().create_task(run(), name=f"proxycache refresh {self.qualname}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True
