"""The leases this process holds for single flight across processes, and the one thread that renews them.

:class:`~proxycache._lease.StoreLease` starts a thread per lease, which costs
more than the three store calls of a miss; here one daemon thread renews
every held lease, each every third of its ttl, and ends after a while
without leases.
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
from typing import Any, Final


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
        token, self.token = self.token, None
        if token is None:
            return False
        _keeper.drop(self)
        return bool(self.store.release_lease(self.key, token))


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
