"""Get-or-compute, the part both modes share: what a caller of a key does next, and the leader's steps."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from ._events import LISTENERS, emit
from ._flight import RETRY, AsyncFlight, Flight, LeanFlight
from ._lifetime import NO_RULES, NO_STALE, OPTION, REJECT, Expired
from ._miss import MISS
from ._options import Options
from ._outcome import REPLAYED, Raised, Ready, may_store, own_error
from ._stats import Counters
from ._storage import Storage

if TYPE_CHECKING:
    from ._lease_keeper import HeldLease


class NoLease:
    """The lease step of a miss without ``single_flight="store"``: the leader just computes."""

    __slots__ = ()

    def run(self, key: Any, compute: Callable[[], Any], held: HeldLease | None = None) -> tuple[bool, Any]:
        """``(True, compute())``."""
        return True, compute()

    async def arun(
        self, key: Any, compute: Callable[[], Awaitable[Any]], held: HeldLease | None = None
    ) -> tuple[bool, Any]:
        """``(True, await compute())``."""
        return True, await compute()


NO_LEASE: Final = NoLease()


#: What a caller of a key does next (see CachedMethod._enter).
_HIT, _LEAD, _WAIT, _REENTER, _AGAIN, _STALE = range(6)
#: What a compute step shares when the leader must first see whether its result is a stream to record.
_RECORD = object()
#: Found by CachedMethod._lean: another caller computes the key.
_JOIN = object()
#: What a leader shares when its flight lands later: when the stream it hands back ends (``_streams``).
LATER: Any = type("_Later", (), {"__repr__": lambda self: "LATER"})()


class NoStreams:
    """``streams="skip"``: stream results are not recorded (they are returned uncached).

    Here, not in ``_streams``: a method without ``streams="replay"`` never
    loads the recorders (``_streams``, ``_replay``).
    """

    __slots__ = ()

    def record(self, method: Any, result: Any, key: Any, flights: dict[Any, Any], flight: Any,
               args: tuple[Any, ...], kwargs: dict[str, Any], held: Any = None) -> None:
        return None

    def refresh(self, method: Any, result: Any, key: Any, generation: int) -> None:
        return None


NO_STREAMS: Final = NoStreams()


class GetOrCompute:
    """Get-or-compute for one cached method: the steps both drivers take, and what they read.

    A driver per mode (``_drive_sync``, ``_drive_async``) asks :meth:`_enter`
    what a caller of a key does next (hit, lead, wait, re-enter, look again),
    waits with :meth:`_settle` and, as a leader, ends with :meth:`_land`. Only
    the call, the wait and the store I/O differ between the two.
    """

    # What most methods have is said once, here: an instance sets only what differs (a first access
    # makes one for every new owner). What a plain miss or a first access writes has no default here:
    # __init__ or arming sets it (see CachedMethod._make_parts and tests/test_miss_attributes.py).
    #: Set when a method classed as sync returned an awaitable: its misses take the async path.
    returns_awaitable: bool
    #: Bumped by cache_clear()/cache_invalidate()/cache_refresh(): a result computed under
    #: an older generation is never stored, and its flight is never joined.
    generation: int
    #: Flights finished so far: a miss that looked in the store before one
    #: finished looks again rather than compute the value a second time.
    finished = 0
    #: Store I/O (slow, remote) happens outside the lock; memory storage under it.
    io_outside = False
    #: streams="replay": a stream result is recorded, stored at its end and replayed (``_replay``).
    streams: Any = NO_STREAMS
    #: cache_if and ttl from the result; stale_if_error and stale_while_revalidate (null objects without them).
    rules: Any = NO_RULES
    stale: Any = NO_STALE
    # Who shares a computation (single_flight=): the flight kinds the
    # drivers hand to _enter, and the lease step a leader goes through.
    flight_kind: Any = Flight
    aflight_kind: Any = AsyncFlight
    lease: Any = NO_LEASE
    holds_lease = False
    #: The lean miss's first look: the storage's dict read when its lookup is a plain one, else None.
    _find: Any = None
    #: What a lean miss reads at once: ``(lock, flights, _find, storage, counters, clock, weak)``, made on arming.
    lean_parts: tuple[Any, ...]
    #: A lean miss's flight that landed without a waiter, for the next lean miss to lead (see ``_lean``).
    _spare: LeanFlight | None
    #: ``(weak reference to the instance, plain function, owner's and method's names)`` when ``call``
    #: holds its instance weakly.
    weak: tuple[Any, Callable[..., Any], str, str] | None

    # Set by CachedMethod.__init__.
    call: Callable[..., Any]
    options: Options
    qualname: str
    is_async: bool
    lock: Any
    flights: dict[Any, Flight]
    aflights: dict[Any, AsyncFlight]
    counters: Counters
    clock: Callable[[], float]
    storage: Storage

    if TYPE_CHECKING:
        # Each driver calls into the other when a method's mode turns out otherwise.
        def _amiss(self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any], first: Any = MISS) -> Any: ...
        def _hashable(self, key: Any) -> Any: ...
        def _frozen(self, key: Any) -> Any: ...

    def _store(self, key: Any, generation: int, value: Any, ttl: Any = OPTION) -> None:
        """Store *value* (fresh for *ttl* seconds) unless a clear or invalidate came after *generation* began."""
        # A lifetime of its own goes to the timed storages (_storage_wrapped.TimedStorage, SharedStorage).
        lifetime: dict[str, Any] = {} if ttl is OPTION else {"ttl": ttl}
        with self.lock:
            if generation != self.generation:
                return
            if not self.io_outside:
                self.storage.put(key, value, **lifetime)
                return
        self.storage.put(key, value, **lifetime)  # store I/O: other keys' misses go on meanwhile
        with self.lock:
            overtaken = generation != self.generation
        if overtaken:
            # A clear or invalidate ran while this was being written, maybe
            # before it landed: it wins, so take the entry out again.
            self.storage.delete(key)

    def _hit_detail(self, stored: Any) -> dict[str, Any]:
        """What a ``"hit"`` event tells listeners: the stored result (or error) and the time it saved."""
        if type(stored) is Raised:
            return {"error": stored.error, "saved_seconds": self.counters.saved_per_hit()}
        value = stored.value if type(stored) is Ready else stored
        return {"value": value, "saved_seconds": self.counters.saved_per_hit()}

    @staticmethod
    def _deliver(value: Any) -> Any:
        if type(value) is Raised:
            raise own_error(value.error).with_traceback(value.tb)
        if type(value) in REPLAYED:  # a recording (streams="replay")
            return value.replay()
        return value

    def _enter(
        self, key: Any, flights: dict[Any, Any], new: Any, found: Any, finished: int, looked_again: bool
    ) -> tuple[int, Any]:
        """What a caller of *key* does next (``_HIT``, ``_LEAD``, ``_WAIT``, ``_REENTER``, ``_AGAIN``), with what.

        *found* is what the store held when it was read outside the lock
        (stores), *finished* the count of finished flights before that read.
        """
        with self.lock:
            if not self.io_outside:
                found = self.storage.lookup(key)
            if type(found) is Expired:
                if self.stale.at_once(found.entry, found.now):
                    return _STALE, found.entry.value
                found = MISS
            if found is not MISS:
                self.counters.other_hits += 1
                return _HIT, found
            flight = flights.get(key)
            if flight is None and finished != self.finished and self.io_outside and not looked_again:
                return _AGAIN, None  # a flight landed since the store said "miss"
            if flight is None or not flight.joinable():
                lead = new(self.generation)
                if lead.replaces(flight):
                    flights[key] = lead
                self.counters.misses += 1
                return _LEAD, lead
            if flight.mine():
                self.counters.misses += 1  # the method calling itself with the same key
                return _REENTER, None
            if isinstance(flight, Flight):  # a thread's flight (a lean miss's too), not a task's
                flight.join()
            return _WAIT, flight

    def _settle(self, key: Any, flights: dict[Any, Any], flight: Any, ok: bool, value: Any, since: float) -> bool:
        """After a wait (begun at *since*, 0.0 unless listeners are on): False to go round again, else count it."""
        if since and LISTENERS:
            outcome = "retry" if value is RETRY else "value"
            emit("wait", self.qualname, {"scope": "process", "seconds": time.monotonic() - since, "outcome": outcome})
        with self.lock:
            if value is RETRY:
                # A leader that could not share (or vanished without finishing:
                # its thread is gone in a forked child) may have left its
                # flight behind: drop it so this retry can lead instead.
                if flights.get(key) is flight:
                    del flights[key]
                return False
            if ok:
                self.counters.other_hits += 1
                self.counters.coalesced += 1
            else:
                self.counters.misses += 1
        return True

    def _land(self, key: Any, flights: dict[Any, Any], flight: Any, ok: bool, shared: Any) -> None:
        """The leader's last step, however it ended: the key is free and waiters get *shared*.

        A leader that hands back a stream being recorded shares LATER: its
        recorder lands the flight when the stream ends (``_replay``).
        """
        if shared is LATER:
            return
        with self.lock:
            if flights.get(key) is flight:
                del flights[key]
            self.finished += 1
        flight.finish(ok, shared)

    def _timed(self, seconds: float) -> None:
        """A computation took *seconds*: counted under the method's lock (as the lean miss counts it)."""
        counters = self.counters
        with self.lock:
            counters.computed += 1
            counters.computed_seconds += max(0.0, seconds)

    def _from_elsewhere(self, value: Any) -> Any:
        """Count a value another process computed (single_flight="store"); what waiters share: it, or its error."""
        with self.lock:
            self.counters.misses -= 1  # a hit after all: the other process's miss
            self.counters.other_hits += 1
            self.counters.coalesced += 1
        return value.error if type(value) is Raised else value

    def _held_lease(self) -> HeldLease | None:
        """A lease the leader hands on to its stream's recorder (``streams="replay"`` over a store lease), or None."""
        if not self.holds_lease:
            return None
        from ._lease_keeper import HeldLease  # loaded by those who use single_flight="store"

        return HeldLease()

    def _admit(self, result: Any) -> tuple[Any, Any]:
        """What keeping a fresh *result* means: ``(what waiters may share, its ttl)``, the ttl REJECT when not stored.

        A one-shot result is shared with nobody (RETRY); one that ``cache_if=``
        or ``ttl=`` from the result refuses is still shared, only not stored.
        """
        if not may_store(result):
            self.counters.uncached_result()
            return RETRY, REJECT
        ttl = self.rules.admit(result)
        if ttl is REJECT:
            self.counters.uncached_result()
            if LISTENERS:
                emit("uncached", self.qualname, {"reason": "cache_if or ttl"})
        return result, ttl

    def _error_ttl(self, error: Exception) -> Any:
        """How long to store *error* (``cache_exceptions=``), or REJECT."""
        if isinstance(error, self.options.cache_exceptions):
            return self.rules.admit_error(error)
        return REJECT

    def _stale_of(self, found: Any) -> Any:
        """What a lookup after an error gives the caller: the stale value when ``stale_if_error`` allows it, or MISS."""
        if type(found) is Expired and self.stale.on_error(found.entry, found.now):
            return self._deliver(found.entry.value)
        return MISS

    def _lead_refresh(self, key: Any, flights: dict[Any, Any], new: Any) -> Any:
        """A flight to recompute *key* in the background, or None when a caller already computes it."""
        with self.lock:
            flight = flights.get(key)
            if flight is not None and flight.joinable():
                return None
            lead = new(self.generation)
            if lead.replaces(flight):
                flights[key] = lead
            self.counters.misses += 1
            return lead

    def _stale_on_error(self, key: Any) -> Any:
        """The value to return instead of the error just raised (``stale_if_error``), or MISS."""
        if not self.stale:
            return MISS
        if self.io_outside:
            return self._stale_of(self.storage.lookup(key))
        with self.lock:
            found = self.storage.lookup(key)
        return self._stale_of(found)
