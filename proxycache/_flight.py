"""Single flight: while one caller computes a key, the other callers of that key wait for its outcome.

A flight is one small protocol, the same for threads and coroutines (the
shape of dogpile's ``lock.py``):

- a caller *enters* a key (``CachedMethod._enter``): it finds the value (a
  hit), *leads* a new flight, *waits* on another caller's, or *re-enters*
  its own (the method calling itself with the same key);
- the leader *finishes* the flight with the outcome, ``(ok, value)``, or
  with :data:`RETRY` when the value may not be shared (a one-shot result,
  an interrupted or vanished leader): its waiters then go round again.

A flight is a gate the leader holds from creation until it finishes:
something with acquire and release. Only how a waiter waits on that gate
differs by mode: a thread blocks on a plain lock (:class:`Flight`), a task
awaits an asyncio future (:class:`AsyncFlight`); a store lease that waiters
poll fits the same shape. This is the only module of proxycache that imports
asyncio.
"""

from __future__ import annotations

import _thread
import asyncio
import contextlib
import threading
from typing import Any


class _Retry:
    """Outcome telling waiters to compute for themselves (the result was not shareable)."""


RETRY: Any = _Retry()

_allocate_lock = _thread.allocate_lock
_get_ident = _thread.get_ident
#: Serializes finish() between a leader and a waiter that found the leader gone.
finish_lock = _allocate_lock()


class Flight:
    """A computation in progress that threads calling the same key wait on.

    Every miss makes one, and most never see a waiter, so it is cheap: the
    gate, a plain lock held until ``finish`` (a ``threading.Event`` costs
    several times more to build), is made by the first waiter (``join``).
    A waiter joins while the flight is its key's, under the cached method's
    lock, and the leader takes the flight out of its key under that lock
    before finishing: a flight finished without a gate has no waiter.
    """

    __slots__ = ("done", "gate", "generation", "ok", "owner", "value")

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.owner = _get_ident()
        self.gate: Any = None
        self.done = False
        self.ok = True
        self.value: Any = RETRY

    def mine(self) -> bool:
        """Whether the caller is this flight's leader (it re-enters)."""
        return self.owner == _get_ident()

    def joinable(self) -> bool:
        """Whether the caller can wait on this flight."""
        return True

    def hand_to(self, thread: threading.Thread) -> None:
        """*thread* finishes this flight now (a stream's recording being stored): its leader's call is over."""
        if thread.ident is not None:  # started: it has one
            self.owner = thread.ident

    def replaces(self, other: Any) -> bool:
        """Whether this new flight takes the key over from *other* (None: no flight)."""
        return True

    def join(self) -> None:
        """A caller will wait on this flight (called under the cached method's lock, while it is its key's)."""
        if self.gate is None:
            gate = _allocate_lock()
            gate.acquire()
            self.done = False  # a LeanFlight starts without it: only a flight with a gate reads it
            self.gate = gate

    def finish(self, ok: bool, value: Any) -> None:
        gate = self.gate
        if gate is None:  # nobody joined, and nobody can any more: see the class docstring
            self.ok, self.value, self.done = ok, value, True
            return
        with finish_lock:
            if self.done:
                return
            self.ok, self.value, self.done = ok, value, True
        gate.release()

    def wait(self) -> tuple[bool, Any]:
        """Block until the flight finishes; its outcome (the caller joined it first)."""
        gate = self.gate
        # Re-check now and then that the computing thread still lives: a
        # waiter must never hang on a leader that vanished without finishing
        # (in a forked child, only the forking thread survives).
        while not gate.acquire(timeout=0.5):
            if self.owner not in {t.ident for t in threading.enumerate()}:
                self.finish(True, RETRY)
        gate.release()
        return self.ok, self.value


class AsyncFlight:
    """A computation in progress that tasks of one event loop calling the same key await."""

    __slots__ = ("future", "generation", "loop", "task")

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.loop = asyncio.get_running_loop()
        self.task = asyncio.current_task()
        self.future: asyncio.Future[tuple[bool, Any]] = self.loop.create_future()

    def mine(self) -> bool:
        return self.task is asyncio.current_task()

    def joinable(self) -> bool:
        # A flight of another live loop too (loops in several threads: asyncio.run() per job in a thread
        # pool): wait() hears of its end through that loop. Only a closed loop's flight is not.
        return not self.loop.is_closed()

    def hand_to(self, thread: threading.Thread) -> None:
        """See :meth:`Flight.hand_to`: no task of this loop leads it any more."""
        self.task = None

    def replaces(self, other: Any) -> bool:
        # A flight still running keeps the key (this one runs beside it, unregistered: after a
        # cache_clear() or cache_invalidate(), whose callers must not wait for it).
        return other is None or other.loop.is_closed()

    def finish(self, ok: bool, value: Any) -> None:
        try:
            here = asyncio.get_running_loop() is self.loop
        except RuntimeError:
            here = False
        if here:
            if not self.future.done():
                self.future.set_result((ok, value))
        else:
            # From another thread (a stream recorder finalized there): through its loop. One that
            # closed meanwhile (RuntimeError, even after an is_closed() check) has nobody left to wake.
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._settle, ok, value)

    def _settle(self, ok: bool, value: Any) -> None:
        if not self.future.done():
            self.future.set_result((ok, value))

    async def wait(self) -> tuple[bool, Any]:
        here = asyncio.get_running_loop()
        if here is self.loop:
            # shield: a cancelled waiter must not cancel the shared computation.
            return await asyncio.shield(self.future)
        # The flight of another loop, in another thread: its future may only be touched from there.
        # A future of this loop is settled from there; a loop that closes first leaves the waiter to
        # look again (RETRY), as a thread's flight does when its thread ends.
        mine: asyncio.Future[tuple[bool, Any]] = here.create_future()

        def relay(done: asyncio.Future[tuple[bool, Any]]) -> None:
            with contextlib.suppress(RuntimeError):  # this loop closed: nobody is waiting
                here.call_soon_threadsafe(_settle_with, mine, (True, RETRY) if done.cancelled() else done.result())

        try:
            self.loop.call_soon_threadsafe(self.future.add_done_callback, relay)
        except RuntimeError:
            return True, RETRY  # that loop closed
        while True:
            done, _ = await asyncio.wait((mine,), timeout=0.5)
            if done:
                return mine.result()
            if self.loop.is_closed():
                return True, RETRY


class LeanFlight(Flight):
    """The flight of a lean miss (``SyncDriver._lean``): made without a Python ``__init__``.

    Calling a class's Python ``__init__`` from C costs about as much as the
    rest of the flight's work on a miss that nobody waits for, so the lean
    miss makes it bare and sets what a flight is read for before it
    finishes: ``owner`` and ``gate`` (``join`` sets ``done``; ``finish`` sets
    ``ok`` and ``value`` before anything reads them; its ``generation`` is
    the lean miss's own, never read from the flight). One that landed with
    no waiter is known to nobody else, and the method's next lean miss
    leads it again.
    """

    __slots__ = ()
    __init__ = object.__init__


class LoneFlight(Flight):
    """A thread's flight that nobody joins (``single_flight=False``): every caller computes for itself."""

    __slots__ = ()

    def replaces(self, other: Any) -> bool:
        return False


class LoneAsyncFlight(AsyncFlight):
    """A task's flight that nobody joins (``single_flight=False``)."""

    __slots__ = ()

    def replaces(self, other: Any) -> bool:
        return False


def _settle_with(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)
