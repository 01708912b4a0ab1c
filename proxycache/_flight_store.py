"""Single flight across processes: one lease per key in the store (``single_flight="store"``).

The local flight runs first and elects one caller per key in this process
(threads and tasks); only that caller comes here, so a process holds at most
one lease per key. Here it either takes the key's lease and computes (the
lease is renewed while it runs, see ``_lease``), or another process holds it:
then it polls the store for the value and returns it when it lands, and
takes the lease itself when the lease lapses (a holder that died) or is
given up without a value (the holder raised, or its result was not stored).

The decisions are written once, as a generator of store operations
(:meth:`StoreFlight._steps`); :meth:`StoreFlight.run` and
:meth:`StoreFlight.arun` only carry them out, blocking or awaiting. A fault
anywhere in the lock path (the store is down, a lease call raises) ends the
flight: the caller computes on its own, as with the local flight alone, and
the call never fails because of the lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Final, NamedTuple

from ._lease import AsyncStoreLease, asked
from ._lease_keeper import HeldLease, KeptLease
from ._miss import MISS
from ._store_base import in_thread

#: Seconds a lease lives unless renewed (the holder renews it every third of
#: this while it computes): how long waiters wait for a holder that died.
LEASE_TTL: Final = 10.0
#: First and longest pause between two looks of a waiter at the store.
POLL_FIRST: Final = 0.005
POLL_MAX: Final = 0.1

# The operations _steps asks for, and its two verdicts.
_ACQUIRE: Final = "acquire"
_LOOK: Final = "look"
_SLEEP: Final = "sleep"
_LEFT: Final = "check"
_COMPUTE: Final = "compute"
_FOUND: Final = "found"


#: What the drivers answer to _LEFT for a store without ``lease_left``: its leases cannot be watched.
_UNKNOWN: Final = object()


class StuckLease(Exception):
    """A lease no live holder keeps: it never lapses, or it was not renewed for a whole lease ttl."""


class _Fault:
    """What a store operation raised, handed back to the steps instead of a result."""

    __slots__ = ("error", "op")

    def __init__(self, op: str, error: Exception) -> None:
        self.op = op
        self.error = error


class Waited(NamedTuple):
    """How a wait on another process's lease ended, for statistics and listeners."""

    seconds: float
    #: ``"value"`` (it landed), ``"lapsed"`` (the lease came free without one) or ``"fault"``
    #: (a store call failed, or the lease was nobody's: it never lapses, or went unrenewed a whole ttl).
    outcome: str


_Steps = Generator[tuple[str, float], Any, tuple[str, Any]]


def lease_ttl_of(store: Any) -> float:
    """The store's ``lease_ttl`` when it has a valid one, else :data:`LEASE_TTL`."""
    ttl = getattr(store, "lease_ttl", None)
    if isinstance(ttl, (int, float)) and not isinstance(ttl, bool) and 0 < ttl < float("inf"):
        return float(ttl)
    return LEASE_TTL


class StoreFlight:
    """Elects one computation per key among the processes sharing *store*, through a lease per key.

    *on_fault* ``(op, error)`` is told of a failed lease call or look (the
    caller then computes unleased); *on_wait* ``(Waited)`` of every wait on
    another process's lease. Both are optional and must not raise.
    """

    __slots__ = ("on_fault", "on_wait", "store", "ttl")

    def __init__(
        self,
        store: Any,
        *,
        ttl: float | None = None,
        on_fault: Callable[[str, Exception], None] | None = None,
        on_wait: Callable[[Waited], None] | None = None,
    ) -> None:
        self.store = store
        self.ttl = lease_ttl_of(store) if ttl is None else float(ttl)
        self.on_fault = on_fault
        self.on_wait = on_wait

    def __repr__(self) -> str:
        return f"<StoreFlight on {self.store!r}, lease {self.ttl:g}s>"

    # -- the decisions, once for both modes ----------------------------------

    def _steps(self) -> _Steps:
        """Ask for store operations (``yield (op, seconds)`` gets the result back); return the verdict.

        ``(_COMPUTE, None)``: compute (holding the lease if the driver got
        it); ``(_FOUND, value)``: another process's value landed.
        """
        started = 0.0
        delay = POLL_FIRST
        check_at = 0.0  # when to look at the lease itself next
        lapses = 0.0  # when it would lapse unless renewed, as last seen
        while True:
            held = yield _ACQUIRE, 0.0
            if isinstance(held, _Fault):
                return self._gave_up(held, started)
            # Holding the lease or not, look first: the holder may have stored
            # the value and let go between the caller's miss and this point.
            found = yield _LOOK, 0.0
            if isinstance(found, _Fault):
                return self._gave_up(found, started)
            if found is not MISS:
                self._waited(started, "value")
                return _FOUND, found
            if held:
                if started:
                    self._waited(started, "lapsed")
                return _COMPUTE, None
            if not started:
                started = time.monotonic()
            if time.monotonic() >= check_at:
                # Bound the wait: a holder that lives renews its lease (every third of its ttl), so
                # a lease that never lapses, or whose end has not moved for a whole ttl, is kept by
                # nobody (forged, or left by something else): computing beats waiting for ever.
                left = yield _LEFT, 0.0
                if isinstance(left, _Fault):
                    return self._gave_up(left, started)
                now = time.monotonic()
                if left is _UNKNOWN:
                    check_at = float("inf")  # a store that cannot tell: wait as long as the lease stands
                elif left is None:
                    check_at = 0.0  # given up meanwhile: take it next, or watch the next holder's
                elif left == float("inf") or (check_at and now + left <= lapses + self.ttl / 10):
                    why = "never lapses" if left == float("inf") else f"was not renewed for {self.ttl:g}s"
                    return self._gave_up(_Fault(_LEFT, StuckLease(f"the lease {why}: nobody alive holds it")), started)
                else:  # first seen, renewed, or taken by another holder since the last look
                    lapses, check_at = now + left, now + self.ttl
            yield _SLEEP, delay
            delay = min(delay * 2, POLL_MAX)

    def _gave_up(self, fault: _Fault, started: float) -> tuple[str, Any]:
        if self.on_fault is not None:
            self.on_fault(fault.op, fault.error)
        if started:
            self._waited(started, "fault")
        return _COMPUTE, None

    def _waited(self, started: float, outcome: str) -> None:
        if started and self.on_wait is not None:
            self.on_wait(Waited(time.monotonic() - started, outcome))

    # -- the two drivers ------------------------------------------------------

    def run(
        self, name: str, look: Callable[[], Any], compute: Callable[[], Any], held: HeldLease | None = None
    ) -> tuple[bool, Any]:
        """``(True, compute())`` when this process computed, ``(False, value)`` when another's value landed.

        *name* is the entry's store key; *look* reads it (the value, or
        :data:`~proxycache.MISS`); *compute* calls the method and stores the
        result, and runs while the lease is held when it could be taken.
        With *held*, a lease still held when *compute* returns is handed to
        it instead of given up: its holder releases it later.
        """
        lease = KeptLease(self.store, name, self.ttl)
        steps = self._steps()
        reply: Any = None
        kept = False
        # One try for the steps and the computation: a lease taken is given back whatever ends the call,
        # an interrupt while looking under it too (the keeper would renew an orphan lease for good).
        try:
            try:
                while True:
                    op, seconds = steps.send(reply)
                    try:
                        if op is _ACQUIRE:
                            reply = lease.acquire()
                        elif op is _LOOK:
                            reply = look()
                        elif op is _LEFT:
                            left = getattr(self.store, "lease_left", None)
                            reply = _UNKNOWN if left is None else left(name)
                        else:
                            time.sleep(seconds)
                            reply = None
                    except Exception as error:
                        reply = _Fault(op, error)
            except StopIteration as stop:
                verdict, value = stop.value
            if verdict is _FOUND:
                return False, value
            outcome = compute()
            kept = held is not None and held.keep(lease, self.on_fault)
            return True, outcome
        finally:
            if not kept and lease.token is not None:
                try:
                    lease.release()
                except Exception as error:
                    if self.on_fault is not None:
                        self.on_fault("release", error)

    async def arun(
        self, name: str, look: Callable[[], Awaitable[Any]], compute: Callable[[], Awaitable[Any]],
        held: HeldLease | None = None,
    ) -> tuple[bool, Any]:
        """:meth:`run` for coroutines: every store call is awaited, and the loop never blocks."""
        import asyncio

        lease: Any = (
            AsyncStoreLease(self.store, name, self.ttl)
            if callable(getattr(self.store, "aacquire_lease", None))
            else _ThreadLease(KeptLease(self.store, name, self.ttl))
        )
        steps = self._steps()
        reply: Any = None
        kept = False
        # As in run(): a caller cancelled while it looks under its lease (a timeout, a dropped request)
        # gives the lease back; its renewal task would otherwise hold it, for every process, for good.
        try:
            try:
                while True:
                    op, seconds = steps.send(reply)
                    try:
                        if op is _ACQUIRE:
                            reply = await lease.acquire()
                        elif op is _LOOK:
                            reply = await look()
                        elif op is _LEFT:
                            reply = await self._alease_left(name)
                        else:
                            await asyncio.sleep(seconds)
                            reply = None
                    except Exception as error:
                        reply = _Fault(op, error)
            except StopIteration as stop:
                verdict, value = stop.value
            if verdict is _FOUND:
                return False, value
            outcome = await compute()
            if held is not None:
                # A store without async lease calls: its lease is a sync one, given up in a thread.
                kept = held.keep(lease.lease if type(lease) is _ThreadLease else lease, self.on_fault)
            return True, outcome
        finally:
            if not kept and lease.token is not None:
                try:
                    # shield: a cancelled caller still gives the lease up.
                    await asyncio.shield(lease.release())
                except Exception as error:
                    if self.on_fault is not None:
                        self.on_fault("release", error)

    async def _alease_left(self, name: str) -> Any:
        aleft = getattr(self.store, "alease_left", None)
        if aleft is not None:
            return await aleft(name)
        left = getattr(self.store, "lease_left", None)
        return _UNKNOWN if left is None else await in_thread(left, name)


class _ThreadLease:
    """A sync :class:`KeptLease` driven from a coroutine, for stores without async lease calls."""

    __slots__ = ("lease",)

    def __init__(self, lease: KeptLease) -> None:
        self.lease = lease

    @property
    def token(self) -> str | None:
        return self.lease.token

    async def acquire(self) -> bool:
        # The thread takes the lease even if this caller is cancelled meanwhile: then it gives it back.
        return bool(await asked(in_thread(self.lease.acquire), lambda _: in_thread(self.lease.release)))

    async def release(self) -> bool:
        return await in_thread(self.lease.release)


# -- the lease step of a miss, as the cached method sees it ------------------------------------


class KeyLease:
    """The lease step of a miss with ``single_flight="store"``: a :class:`StoreFlight` over the key's entry.

    *storage* is the method's store-backed storage: it names the key's entry
    (``store_key``) and reads whether a value landed (``landed``, ``alanded``).
    The local flight lets one caller per key lead (of every thread and event
    loop); a second one leads beside it only after ``cache_clear()`` or
    ``cache_invalidate()`` (whose callers must not wait for a computation that
    began before them), or once the first one's event loop closed: it computes
    without waiting for this method's own lease.
    """

    __slots__ = ("_leading", "_lock", "flight", "storage")

    def __init__(self, storage: Any, flight: StoreFlight) -> None:
        self.storage = storage
        self.flight = flight
        self._lock = threading.Lock()
        self._leading: dict[str, int] = {}  # store key -> leaders of this method inside run/arun

    def _enter(self, name: str) -> bool:
        """Count a leader in; True if it is the only one of this method for *name* (it takes the lease)."""
        with self._lock:
            n = self._leading.get(name, 0)
            self._leading[name] = n + 1
            return n == 0

    def _leave(self, name: str) -> None:
        with self._lock:
            n = self._leading[name] - 1
            if n:
                self._leading[name] = n
            else:
                del self._leading[name]

    def run(self, key: Any, compute: Callable[[], Any], held: HeldLease | None = None) -> tuple[bool, Any]:
        """:meth:`StoreFlight.run` for *key*: ``(True, computed)`` or ``(False, another process's value)``.

        With *held*, the lease outlives the call (see :class:`HeldLease`), and
        so does this leader's count: a second leader of this method meanwhile
        computes beside it rather than wait for its own process's lease.
        """
        storage = self.storage
        name = storage.store_key(key)
        first = self._enter(name)
        try:
            if not first:
                return True, compute()
            return self.flight.run(name, lambda: storage.landed(key, name), compute, held)
        finally:
            self._left(name, held)

    async def arun(
        self, key: Any, compute: Callable[[], Awaitable[Any]], held: HeldLease | None = None
    ) -> tuple[bool, Any]:
        """:meth:`StoreFlight.arun` for *key*."""
        storage = self.storage
        name = storage.store_key(key)
        first = self._enter(name)
        try:
            if not first:
                return True, await compute()
            return await self.flight.arun(name, lambda: storage.alanded(key, name), compute, held)
        finally:
            self._left(name, held)

    def _left(self, name: str, held: HeldLease | None) -> None:
        if held is None:
            self._leave(name)
        else:
            held.then(lambda: self._leave(name))
