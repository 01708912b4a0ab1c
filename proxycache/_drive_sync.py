"""Get-or-compute for threads: a miss looks, leads or waits, and the leader calls and stores (all blocking)."""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING, Any

from . import _bypass
from ._codegen import FLAGGED, MISSED, UNHASHABLE
from ._events import LISTENERS, emit
from ._flight import RETRY, Flight, LeanFlight, _get_ident
from ._getorcompute import _AGAIN, _HIT, _JOIN, _RECORD, _REENTER, _STALE, _WAIT, LATER, NO_STREAMS, GetOrCompute
from ._keys_strict import LEAVES, strict_key
from ._lifetime import OPTION, REJECT
from ._miss import MISS
from ._outcome import _PLAIN_RESULTS, Raised, Ready, is_awaitable_result, may_store, own_error, replayed, shared_error

if TYPE_CHECKING:
    from ._recording import Recording


class SyncDriver(GetOrCompute):
    """The thread driver of get-or-compute: the call, the wait and the store I/O of a sync method."""

    def _slow(self, why: int, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Misses, unhashable arguments, and calls while bypass() or listeners are active."""
        if why == FLAGGED and _bypass.is_bypassed():
            return self.call(*args, **kwargs)
        if why == UNHASHABLE:
            key = self._frozen(key)  # frozen, a boolean in a tuple argument is tagged already
        else:
            key = strict_key(self._hashable(key) if why != MISSED else key, args, kwargs)
        if self.returns_awaitable:
            return self._amiss(key, args, kwargs)
        return self._miss(key, args, kwargs)

    def _lean(self, why: int, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """:meth:`_slow` for a plain miss of a method cached in memory without the options that add steps.

        The same protocol as ``_miss``/``_lead`` (look again under the lock,
        lead a flight, compute, store, land), written out in two lock
        sections: a miss is most of a miss-heavy workload's cost. Anything
        else (a flight to wait on or re-enter, an awaitable result,
        listeners, unhashable arguments) takes the general path.
        """
        if why != MISSED:
            if why != UNHASHABLE or LISTENERS or self.returns_awaitable:
                return self._slow(why, key, args, kwargs)
            key = self._frozen(key)  # frozen, it is looked up (or computed) here like any key
        elif LISTENERS or self.returns_awaitable:
            return self._slow(why, key, args, kwargs)
        elif type(key) not in LEAVES:
            key = strict_key(key, args, kwargs)
        # One read for what the method never changes once armed (see CachedMethod._make_parts).
        lock, flights, find, storage, counters, clock, weak = self.lean_parts
        if why != MISSED:
            find = None  # a frozen key is mostly found (a dict argument passed again): one lookup, a use
        # acquire/release, not with: a third fewer instructions, and nothing in between can raise but the
        # storage's lookup (a key's __eq__), hence the try.
        lock.acquire()
        try:
            found = storage.lookup(key) if find is None else find(key, MISS)
            if found is not MISS:
                if find is not None:
                    found = storage.lookup(key)  # counts as a use (LRU order, LFU uses)
                counters.other_hits += 1
            elif key in flights:
                found = _JOIN
            else:
                # The flight the last lean miss landed without a waiter, or a bare new one.
                spare = self._spare
                if spare is None:
                    flight = LeanFlight()
                    flight.gate = None
                else:
                    flight, self._spare = spare, None
                flights[key] = flight
                flight.owner = _get_ident()
                generation = self.generation
                counters.misses += 1
        finally:
            lock.release()
        if found is _JOIN:
            return self._miss(key, args, kwargs)  # another caller computes it: wait (or re-enter) there
        if found is not MISS:
            return self._deliver(found)
        ok = landed = False
        shared: Any = RETRY
        try:
            started = clock()
            if weak is not None and not kwargs and (obj := weak[0]()) is not None:
                # The method itself: the call wrapper's frame saved. One argument (the common shape) is
                # passed as it is: f(obj, *args) makes a list and a tuple.
                result = weak[1](obj, args[0]) if len(args) == 1 else weak[1](obj, *args)
            else:
                result = self.call(*args, **kwargs) if kwargs else self.call(*args)
            elapsed = clock() - started
            if type(result) not in _PLAIN_RESULTS:
                if is_awaitable_result(result):
                    # See _compute: from now on this method's misses take the async path (waiters retry).
                    with lock:
                        self.returns_awaitable = True
                        counters.misses -= 1
                    ok = True
                    return self._amiss(key, args, kwargs, first=result)
                if not may_store(result):
                    self._timed(elapsed)
                    counters.uncached_result()  # one-shot: waiters retry
                    ok = True
                    return result
            # _timed, _store and _land in one lock section.
            lock.acquire()
            try:
                counters.computed += 1
                # max(0.0, elapsed) would cost ten times this (a clock swapped by a test may go back).
                counters.computed_seconds += elapsed if elapsed > 0.0 else 0.0
                if generation == self.generation:
                    storage.put(key, result)
                other = flights.pop(key, None)
                if other is not flight and other is not None:
                    flights[key] = other  # a clear or invalidate freed the key, and another caller took it
                # (self.finished, counted by _land, is read only where store I/O runs outside the lock.)
                gate = flight.gate
                if gate is None:
                    # Nobody joined it, and nobody can any more (see Flight): the next lean miss reuses it.
                    self._spare = flight
            finally:
                lock.release()
            landed = True
            if gate is not None:
                flight.finish(True, result)
            return result
        except Exception as error:
            shared = self._keep_error(key, generation, error)
            raise
        finally:
            if not landed:
                self._land(key, flights, flight, ok, shared)
            # See _lead: no local may keep the error (or the flight holding it) alive with this frame.
            del flight, shared

    def _miss(self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        looked_again = False
        while True:
            found, finished = MISS, self.finished
            if self.io_outside:
                found = self.storage.lookup(key)  # store I/O outside the lock
            role, item = self._enter(key, self.flights, self.flight_kind, found, finished, looked_again)
            if role == _HIT:
                if LISTENERS:
                    emit("hit", self.qualname, self._hit_detail(item))
                return self._deliver(item)
            if role == _STALE:
                self.stale.refresher.start(key, functools.partial(self._refresh, key, args, kwargs))
                return self._deliver(item)
            if role == _AGAIN:
                looked_again = True
                continue
            if role == _REENTER:
                return self.call(*args, **kwargs)
            if role == _WAIT:
                since = time.monotonic() if LISTENERS else 0.0
                ok, value = item.wait()
                if not self._settle(key, self.flights, item, ok, value, since):
                    continue
                del item
                if ok:
                    return replayed(value)
                try:
                    raise own_error(value)
                except Exception:
                    value = self._stale_on_error(key)
                    if value is MISS:
                        raise
                    return value
                finally:
                    del value  # see _lead
            try:
                return self._lead(key, item, args, kwargs)
            except Exception:
                found = self._stale_on_error(key)
                if found is MISS:
                    raise
                return found
            finally:
                del item  # see _lead

    def _lead(self, key: Any, flight: Flight, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if LISTENERS:
            emit("miss", self.qualname)
        ok = False
        shared: Any = RETRY
        compute: Any = None
        held = self._held_lease()
        try:
            # The lease step (single_flight="store"): compute, or take the value another process computed.
            compute = functools.partial(self._compute, key, flight.generation, args, kwargs)
            computed, outcome = self.lease.run(key, compute, held)
            if not computed:
                shared = self._from_elsewhere(outcome)
                ok = True
                return self._deliver(outcome)
            result, shared = outcome
            ok = True
            if shared is _RECORD:
                # streams="replay": a stream is recorded as it is read and lands the flight at its end.
                stream = self.streams.record(self, result, key, self.flights, flight, args, kwargs, held)
                if stream is not None:
                    shared = LATER  # and the recorder gives the lease up once the recording is stored
                    return stream
                shared = self._keep(key, flight.generation, result)
            return result
        except Exception as error:
            if shared is RETRY or shared is _RECORD:
                shared = self._keep_error(key, flight.generation, error)
            raise
        finally:
            # BaseException (KeyboardInterrupt, SystemExit) leaves shared at
            # RETRY: waiters compute for themselves rather than inherit it.
            if held is not None and shared is not LATER:
                held.release()  # after the store write: other processes find the value, not the key free
            self._land(key, self.flights, flight, ok, shared)
            # An error's traceback holds this frame (and the caller's): a
            # local still naming the error, or the flight that holds it (the
            # compute step holds the flight too), would make a cycle keeping
            # the instance alive until gc runs.
            del flight, shared, compute

    def _compute(self, key: Any, generation: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
        """``(result, what waiters share)``: call the method, time it, and keep what it returned."""
        started = self.clock()
        result = self.call(*args, **kwargs)
        if is_awaitable_result(result):
            # Classed as sync, but it hands back something to await (a
            # plain wrapper over a coroutine function): from now on its
            # misses take the async path, which awaits and caches the
            # value with single flight among tasks. Waiting threads retry.
            with self.lock:
                self.returns_awaitable = True
                self.counters.misses -= 1  # the async path counts this miss
            return self._amiss(key, args, kwargs, first=result), RETRY
        self._timed(self.clock() - started)
        if self.streams is not NO_STREAMS:
            return result, _RECORD  # the leader records it, or keeps it if it is no stream
        return result, self._keep(key, generation, result)

    def _keep(self, key: Any, generation: int, result: Any, ready: bool = False) -> Any:
        """Store a fresh result; return what waiters may share (RETRY for one-shot results).

        *ready*: the method looks synchronous and its callers await what it
        returns, so a hit must be awaitable too: the value is stored wrapped.
        """
        shared, ttl = self._admit(result)
        if ttl is not REJECT:
            self._store(key, generation, Ready(result) if ready else result, ttl)
        return shared

    def _keep_recording(self, key: Any, generation: int, recording: Recording | None) -> None:
        """A stream's end: store its recording; one read in part (None) was returned uncached."""
        if recording is None:
            self.counters.uncached_result()
        else:
            self._store(key, generation, recording)

    def _keep_error(self, key: Any, generation: int, error: Exception) -> Exception:
        """Store *error* if the options say so; what waiters get (``shared_error``)."""
        error = shared_error(error)
        ttl = self._error_ttl(error)
        if ttl is not REJECT:
            self._store(key, generation, Raised(error), ttl)
        return error

    def _refresh(self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """``stale_while_revalidate``'s background refresh (a thread): lead *key*'s flight unless one runs."""
        flight = self._lead_refresh(key, self.flights, self.flight_kind)
        if flight is not None:
            self._lead(key, flight, args, kwargs)


class AsyncOnFirstUse(GetOrCompute):
    """Stands in for the coroutine driver (``_drive_async.AsyncDriver``) until a coroutine first needs it.

    Most programs cache no coroutine method, and never load that driver: the
    first call of a stand-in below (or the first coroutine method armed) puts
    the driver's methods on this class in their place.
    """

    def _aslow(self, why: int, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        load_async_driver()
        return self._aslow(why, key, args, kwargs)

    def _amiss(self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any], first: Any = MISS) -> Any:
        load_async_driver()
        return self._amiss(key, args, kwargs, first)

    def _arefresh(self, key: Any, generation: int, pending: Any) -> Any:
        load_async_driver()
        return self._arefresh(key, generation, pending)

    def _astore(self, key: Any, generation: int, value: Any, ttl: Any = OPTION) -> Any:
        load_async_driver()
        return self._astore(key, generation, value, ttl)


_async_driver_loaded = False


def load_async_driver() -> None:
    """Put the coroutine driver's methods on :class:`AsyncOnFirstUse`, once (again is harmless: the same values)."""
    global _async_driver_loaded
    if _async_driver_loaded:
        return
    from ._drive_async import AsyncDriver

    for name, value in vars(AsyncDriver).items():
        if name.startswith("_a"):
            setattr(AsyncOnFirstUse, name, value)
    _async_driver_loaded = True
