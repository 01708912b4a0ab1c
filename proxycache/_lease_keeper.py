"""The leases this process holds for single flight across processes, the one thread that renews them,
and a lease kept past its step while a stream is recorded (:class:`HeldLease`).

:class:`~proxycache._lease.StoreLease` starts a thread per lease, which costs
more than the three store calls of a miss; here one daemon thread renews
every held lease, each every third of its ttl, and ends after a while
without leases.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from ._lease import AsyncStoreLease
from ._store_base import in_thread


class KeptLease:
    """A lease held by a thread of this process, renewed by the process's one :class:`_Keeper` thread.

    :class:`~proxycache._lease.StoreLease` starts a thread per lease, which
    costs more than the three store calls of a miss; here one thread renews
    every held lease, each every third of its ttl.
    """

    __slots__ = ("key", "lost", "store", "token", "ttl")

    def __init__(self, store: Any, key: str, ttl: float) -> None:
        self.store = store
        self.key = key
        self.ttl = ttl
        self.token: str | None = None
        #: True once a renewal failed while the lease was held.
        self.lost = False

    def acquire(self) -> bool:
        """Take the lease if nobody holds it; store errors are raised."""
        token = self.store.acquire_lease(self.key, self.ttl)
        if token is None:
            return False
        self.token = token
        _keeper.hold(self)
        return True

    def release(self) -> bool:
        """Stop renewing and give the lease up; False if it had lapsed."""
        token = self.stop()
        if token is None:
            return False
        return bool(self.store.release_lease(self.key, token))

    def stop(self) -> str | None:
        """Stop renewing (no store call): the token to give the lease up with, or None if not held."""
        token, self.token = self.token, None
        if token is not None:
            _keeper.drop(self)
        return token


#: Seconds the keeper thread sleeps at most when it has nothing due, and the idle time after which it ends.
_KEEPER_NAP: Final = 1.0
_KEEPER_IDLE: Final = 30.0


class _Keeper:
    """One daemon thread renewing the held :class:`KeptLease` objects of this process when they fall due.

    Taking a lease must stay cheap (a miss takes one): it is a heap push,
    and the thread is woken only when the new lease falls due before the
    thread would wake anyway. The thread ends after a while without leases.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._due: list[tuple[float, int, KeptLease]] = []  # a heap; released leases are skipped when popped
        self._held: dict[int, KeptLease] = {}
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._wakes = 0.0  # when the thread wakes next on its own

    def hold(self, lease: KeptLease) -> None:
        due = time.monotonic() + lease.ttl / 3
        with self._cond:
            if self._pid != os.getpid():
                # A forked child: the parent's thread and leases are not ours.
                self._pid, self._thread = os.getpid(), None
                self._due.clear()
                self._held.clear()
            self._held[id(lease)] = lease
            heapq.heappush(self._due, (due, next(self._order), lease))
            if self._thread is None:
                self._wakes = due
                self._thread = threading.Thread(target=self._run, name="proxycache-lease-keeper", daemon=True)
                self._thread.start()
            elif due < self._wakes:
                self._cond.notify()

    def drop(self, lease: KeptLease) -> None:
        with self._cond:
            self._held.pop(id(lease), None)

    def _next(self) -> KeptLease | None:
        """Under the lock: wait for the next lease due, or None when idle long enough to end."""
        idle_since = time.monotonic()
        while True:
            due = self._due
            while due and self._held.get(id(due[0][2])) is not due[0][2]:
                heapq.heappop(due)  # released meanwhile
            now = time.monotonic()
            if not due:
                if now - idle_since >= _KEEPER_IDLE:
                    self._thread = None
                    return None
                self._wakes = now + _KEEPER_NAP
            elif due[0][0] <= now:
                return heapq.heappop(due)[2]
            else:
                idle_since = now
                self._wakes = min(due[0][0], now + _KEEPER_NAP)
            self._cond.wait(self._wakes - now)

    def _run(self) -> None:
        while True:
            with self._cond:
                lease = self._next()
                if lease is None:
                    return
                token = lease.token
            # Store I/O outside the lock: holders come and go meanwhile.
            try:
                renewed = token is not None and bool(lease.store.renew_lease(lease.key, token, lease.ttl))
            except Exception:
                renewed = False
            with self._cond:
                if self._held.get(id(lease)) is not lease or lease.token != token:
                    continue  # released while being renewed
                if renewed:
                    heapq.heappush(self._due, (time.monotonic() + lease.ttl / 3, next(self._order), lease))
                else:
                    lease.lost = True
                    del self._held[id(lease)]


_keeper = _Keeper()


# -- a lease kept past the compute step ------------------------------------------------------

#: Releases scheduled on an event loop, held while they run (the loop keeps only weak references).
_RELEASING: set[Any] = set()


class HeldLease:
    """A lease its leader keeps after the compute step, renewed until :meth:`release` gives it up.

    ``streams="replay"``: a stream result is stored only once read to its
    end, so the lease stays held (and renewed) until the recording is
    stored or the stream is abandoned; another process then finds the
    recording and replays it rather than call the method again.

    :meth:`release` may be called from any thread (a recorder reports where
    its stream ends, or where it is dropped), and more than once: only the
    first call does anything. It never blocks an event loop running in the
    calling thread: there, the store call is a task of that loop.
    """

    __slots__ = ("_after", "_lease", "_lock", "_loop", "_on_fault")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lease: Any = None
        self._loop: Any = None  # the loop of an async lease: its release is a coroutine of that loop
        self._on_fault: Callable[[str, Exception], None] | None = None
        self._after: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return f"<HeldLease {'held' if self._lease is not None else 'free'}>"

    def keep(self, lease: Any, on_fault: Callable[[str, Exception], None] | None) -> bool:
        """Take over *lease* (a :class:`KeptLease` or an :class:`~proxycache._lease.AsyncStoreLease`) if it is held."""
        if lease.token is None:
            return False
        loop = None
        if isinstance(lease, AsyncStoreLease):
            import asyncio

            loop = asyncio.get_running_loop()
        with self._lock:
            self._lease, self._loop, self._on_fault = lease, loop, on_fault
        return True

    def then(self, after: Callable[[], None]) -> None:
        """Call *after* once the lease is released (at once when none is kept)."""
        with self._lock:
            if self._lease is not None:
                self._after = after
                return
        after()

    def release(self) -> None:
        """Give the lease up (once); faults go to the flight's ``on_fault`` and are never raised."""
        with self._lock:
            lease, loop, self._lease = self._lease, self._loop, None
            after, self._after = self._after, None
        if lease is None:
            return
        try:
            # Either kind stops being renewed now: should its release wait on a loop that ends
            # first, it lapses rather than be renewed for the process's life.
            token = lease.stop()
            if token is None:
                return
            if _running_loop() is None and (loop is None or getattr(lease.store, "sync_io", True)):
                # No loop to block here: given up at once, even when the lease's loop has ended
                # (a stream's writer thread outlives asyncio.run()).
                lease.store.release_lease(lease.key, token)
            else:
                self._release_in_loop(lease.store, lease.key, token, loop)
        except Exception as error:
            self._fault(error)
        finally:
            if after is not None:
                after()

    def _release_in_loop(self, store: Any, key: str, token: str, loop: Any) -> None:
        import asyncio

        async def give_up() -> None:
            try:
                if loop is None:  # a sync lease, from a loop's thread: its store call in a thread
                    await in_thread(store.release_lease, key, token)
                else:
                    await store.arelease_lease(key, token)
            except Exception as error:
                self._fault(error)

        def start() -> None:
            task = asyncio.get_running_loop().create_task(give_up())
            _RELEASING.add(task)
            task.add_done_callback(_RELEASING.discard)

        if loop is None or _running_loop() is loop:
            start()
            return
        # Only a store with nothing but an asyncio client gets here from another thread. A closed
        # loop (RuntimeError) cannot run the release: that lease lapses on its own.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(start)

    def _fault(self, error: Exception) -> None:
        if self._on_fault is not None:
            self._on_fault("release", error)


def _running_loop() -> Any:
    """The event loop running in this thread, or None (without importing asyncio when nobody did)."""
    import sys

    asyncio = sys.modules.get("asyncio")
    return None if asyncio is None else asyncio._get_running_loop()
