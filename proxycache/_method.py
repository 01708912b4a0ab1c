"""One cached method of one instance: the seam every entry point goes through.

:func:`make_cached` returns the cached callable (a generated function, see
``_codegen``) whose hit path is inlined. :class:`CachedMethod` holds the
cache API (``cache_info``, ``cache_clear``...) and get-or-compute: misses,
single flight and store access. Its plan (``_plan``), counters (``_stats``),
key errors (``_keyerror``) and what may be stored (``_outcome``) live apart.
"""

from __future__ import annotations

import _thread
import functools
import inspect
import logging
import os
import threading
import time
import types
import weakref
from collections.abc import Callable
from typing import Any

from . import _bypass, _clock, _codegen
from ._codegen import FLAGGED, MISSED, UNHASHABLE
from ._contract import MISS
from ._events import LISTENERS, emit
from ._flight import RETRY, AsyncFlight, Flight, LoneAsyncFlight, LoneFlight, finish_lock
from ._flight_store import NO_LEASE, KeyLease, StoreFlight, Waited
from ._keyerror import unkeyable_error
from ._keys import UnkeyableError, freeze
from ._lease_keeper import HeldLease
from ._lifetime import NO_RULES, OPTION, REJECT, Expired, storing_rules
from ._options import Options, flight_mode
from ._outcome import _PLAIN_RESULTS, Raised, Ready, awaited, discard, is_awaitable_result, may_store
from ._plan import Plan, _MethodType, attrs_reader, signature_and_slot
from ._recording import Recording
from ._replay import LATER, NO_STREAMS, STREAMS, replayed
from ._stale import NO_STALE, stale_serving
from ._stats import CacheInfo, Counters
from ._storage import FIFOStorage, LFUStorage, LRUStorage, RRStorage, Storage, UnboundedStorage
from ._storage_choice import POLICIES, make_storage

log = logging.getLogger("proxycache")


#: What a caller of a key does next (see CachedMethod._enter).
_HIT, _LEAD, _WAIT, _REENTER, _AGAIN, _STALE = range(6)
#: What a compute step shares when the leader must first see whether its result is a stream to record.
_RECORD = object()
#: Found by CachedMethod._lean: another caller computes the key.
_JOIN = object()
#: Storages whose entries are the values, in a dict read by key (no expiry, no mapping of the user's).
_PLAIN_STORAGES = frozenset({LRUStorage, LFUStorage, FIFOStorage, RRStorage, UnboundedStorage})

#: Weak references to every CachedMethod alive, for the fork handler below (each takes itself out).
_LIVE: set[weakref.ref[CachedMethod]] = set()
_weakref = weakref.ref
_RLock = _thread.RLock  # threading.RLock is a Python function that makes this one


def _after_fork_in_child() -> None:
    """Locks held by other threads at fork time stay held in the child forever: release them.

    Only the forking thread lives on in the child, so the flights of every
    other thread will never finish: drop them, and their callers' keys are
    computed afresh.
    """
    finish_lock._at_fork_reinit()  # type: ignore[attr-defined]
    me = threading.get_ident()
    for ref in list(_LIVE):
        state = ref()
        if state is None:
            continue
        if not state.lock._is_owned():  # type: ignore[attr-defined]  # held by the forking thread: it releases it
            state.lock._at_fork_reinit()  # type: ignore[attr-defined]
        state.counters.at_fork_reinit()
        for key, flight in list(state.flights.items()):
            if flight.owner != me:
                del state.flights[key]


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


#: The cache controls every cached callable carries (``proxycache.typing.CachedCallable`` types them).
#: (_dress writes them out: keep the two together.)
CACHE_API = ("cache_info", "cache_stats", "cache_clear", "cache_parameters", "cache_invalidate", "cache_refresh")


class _Blueprint:
    """What the caches of one method share across owners: worked out for the first, reused for the next.

    Kept per function (see ``_plan.signature_and_slot``), options, names and
    kind of owner: the plan without an owner (``ignore=`` checked, key layout
    made), who shares a computation, whether a miss may take the lean step,
    and the compiled factory of the cached callable once one was made.
    """

    __slots__ = ("built", "mode", "new_storage", "plain", "plan")

    def __init__(self, plan: Plan) -> None:
        options = plan.options
        self.plan = plan
        self.mode = flight_mode(options)
        #: Memory storage, no stream replay, no cache_if or ttl from the result, no stale serving:
        #: the null objects are shared, and a miss may take the lean step (``CachedMethod._lean``).
        self.plain = (
            options.store is None
            and options.streams != "replay"
            and storing_rules(options, plan.qualname) is NO_RULES
            and stale_serving(options, plan.qualname) is NO_STALE
        )
        #: ``(hit recipe, binding names, factory)`` of the last cached callable made.
        self.built: tuple[Any, tuple[str, ...], Any] | None = None
        #: What makes a plain method's storage: its policy's class, when that is all the options ask for.
        self.new_storage: Callable[[], Storage] = functools.partial(make_storage, options)
        if (
            self.plain and options.cache is None and options.ttl is None and isinstance(options.policy, str)
            and (options.maxsize is not None or options.getsizeof is not None)
        ):
            self.new_storage = functools.partial(POLICIES[options.policy], options.maxsize, options.getsizeof)


#: Blueprints kept per function, at most this many (options made per call would each add one).
_MAX_BLUEPRINTS = 32
#: Blueprints of plain functions by ``id``s and names (see make_cached): one look-up on every first access.
_blueprints: dict[tuple[Any, ...], tuple[Any, ...]] = {}


def _blueprint(
    slot: dict[Any, Any] | None, options: Options, name: str, qualname: str, signature: inspect.Signature | None,
    strict_ignore: bool, kind: Any,
) -> _Blueprint:
    """The blueprint of a method from the function's *slot* (None: a fresh one, not kept)."""
    if slot is not None:
        found = slot.get((id(options), name, qualname, strict_ignore, kind))
        if found is not None and found[0] is options:
            return found[1]  # type: ignore[no-any-return]
    blueprint = _Blueprint(Plan(
        name=name, qualname=qualname, options=options, signature=signature,
        attrs_of=None, wrapped=None, strict_ignore=strict_ignore,
    ))
    if slot is not None:
        if len(slot) >= _MAX_BLUEPRINTS:
            slot.clear()
        slot[(id(options), name, qualname, strict_ignore, kind)] = (options, blueprint)
    return blueprint


class CachedMethod:
    """The cache of one method for one owner (an instance, or a class for static methods)."""

    # What most methods have is said once, here: an instance sets only what differs (a first access
    # makes one for every new owner).
    #: Set when a method classed as sync returned an awaitable: its misses take the async path.
    returns_awaitable = False
    #: Bumped by cache_clear()/cache_invalidate(): a result computed under
    #: an older generation is never stored, and its flight is never joined.
    generation = 0
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
    #: ``(weak reference to the instance, plain function)`` when ``call`` holds its instance weakly.
    weak: tuple[Any, Callable[..., Any]] | None = None

    def __init__(
        self,
        call: Callable[..., Any],
        *,
        signature: inspect.Signature | None,
        options: Options,
        name: str,
        qualname: str,
        is_async: bool,
        attrs_of: Callable[[], Any] | None,
        wrapped: Any,
        strict_ignore: bool = True,
        blueprint: _Blueprint | None = None,
    ) -> None:
        if blueprint is None:
            blueprint = _blueprint(None, options, name, qualname, signature, strict_ignore, None)
        self.call = call
        plain = blueprint.plain
        # A store names its namespace after the owner and the method: its plan has them. In memory,
        # the plan every owner shares will do (only a key error reads it).
        self.plan = plan = blueprint.plan if plain else blueprint.plan.bound(attrs_of, wrapped)
        self.options = options
        self.qualname = qualname
        self.is_async = is_async
        self.lock = lock = _RLock()
        self.flights: dict[Any, Flight] = {}
        self.aflights: dict[Any, AsyncFlight] = {}
        # For the fork handler: a weak reference that takes itself out of the set when this goes.
        _LIVE.add(_weakref(self, _LIVE.discard))
        self.counters = Counters()
        #: Misses are timed on it: what a hit saves is their mean.
        self.clock = _clock._current
        mode = blueprint.mode
        if not mode:
            self.flight_kind, self.aflight_kind = LoneFlight, LoneAsyncFlight
        if plain:
            self.storage: Storage = blueprint.new_storage()
        else:
            self.io_outside = options.store is not None
            self.streams = STREAMS if options.streams == "replay" else NO_STREAMS
            self.storage = self._make_storage(plan, options)
            self.rules = storing_rules(options, qualname)
            self.stale = stale_serving(options, qualname)
            #: streams="replay" over a store lease: a leader keeps the lease until its recording is stored.
            self.holds_lease = mode == "store" and self.streams is STREAMS
            if mode == "store":
                self.lease = KeyLease(
                    self.storage, StoreFlight(options.store, on_fault=self._lease_fault, on_wait=self._lease_wait)
                )
        storage = self.storage
        if type(storage) in _PLAIN_STORAGES:
            self._find = storage.data.get
        key_attrs = options.key_attrs
        bindings = storage.bindings()
        bindings["_pc_lock"] = lock
        if is_async:
            bindings["_pc_slow"] = self._aslow
        else:
            bindings["_pc_slow"] = self._lean if plain and mode == "process" else self._slow
        bindings["_pc_userkey"] = options.key
        bindings["_pc_attrs"] = attrs_reader(attrs_of, key_attrs) if key_attrs and attrs_of else None
        bindings["_pc_owner"] = attrs_of
        hit = storage.HIT
        built = blueprint.built
        names = tuple(bindings)
        if built is not None and built[0] is hit and built[1] == names:
            factory = built[2]
        else:
            factory = _codegen.factory_for(
                plan.shape,
                hit=hit,
                is_async=is_async,
                raises=bool(options.cache_exceptions),
                bindings=bindings,
                replays=self.streams is STREAMS,  # a stored recording is replayed on a hit
            )
            blueprint.built = (hit, names, factory)
        self.func, self.keyof, self._hits = _codegen.instantiate(plan.shape, factory, bindings)

    def _get_hits(self) -> int:
        """The hits the cached callable counted (a float, in its closure's cell)."""
        return int(self._hits.cell_contents)

    def _set_hits(self, n: int) -> None:
        self._hits.cell_contents = float(n)

    def _make_storage(self, plan: Plan, options: Options) -> Storage:
        if options.store is not None:
            from ._shared import SharedStorage  # loaded by those who pass store=

            return SharedStorage(plan, self.counters, options, is_async=self.is_async)
        return make_storage(options)

    # -- statistics ----------------------------------------------------------

    def cache_info(self) -> CacheInfo:
        """Hits, misses, maxsize and current size of this method's cache."""
        counters = self.counters
        if self.io_outside:
            size = self.storage.currsize()  # a scan of the store: not under the lock
            with self.lock:
                return CacheInfo(self._get_hits() + counters.other_hits, counters.misses, self.storage.maxsize, size)
        with self.lock:
            return CacheInfo(
                self._get_hits() + counters.other_hits, counters.misses, self.storage.maxsize, self.storage.currsize()
            )

    def cache_stats(self) -> dict[str, Any]:
        """``cache_info()`` plus store faults and results returned uncached."""
        info = self.cache_info()._asdict()
        counters = self.counters
        info.update(
            faults=counters.faults,
            uncached=counters.uncached,
            stale=self.stale.served,
            coalesced=counters.coalesced,
            saved_seconds=info["hits"] * counters.saved_per_hit(),
            policy=self.storage.policy,
        )
        return info

    def _lease_fault(self, op: str, error: Exception) -> None:
        """A lease call failed: the leader computes without it (counted and logged like any store fault)."""
        fault = getattr(self.storage, "_fault", None)
        if fault is not None:
            fault(f"lease {op}", error)

    def _lease_wait(self, waited: Waited) -> None:
        if LISTENERS:
            emit("wait", self.qualname, {"scope": "store", "seconds": waited.seconds, "outcome": waited.outcome})

    def cache_clear(self) -> None:
        """Drop every entry and reset the statistics.

        It wins over misses in flight: what they compute is handed to the
        callers already waiting for it, never stored, and later calls do
        not join them.
        """
        with self.lock:
            self._new_generation(None)
            if not self.io_outside:
                self.storage.clear()
            self._set_hits(0)
            self.counters.reset()
            self.stale.reset()
        if self.io_outside:
            self.storage.clear()

    def _new_generation(self, key: Any) -> None:
        """Under the lock: nothing computed before now is stored, and calls of *key* (or any key) start afresh.

        One generation for the whole cache: an invalidate also keeps other
        keys' misses in flight from storing (their callers still get them).
        """
        self.generation += 1
        if key is None:
            self.flights.clear()
            self.aflights.clear()
        else:
            self.flights.pop(key, None)
            self.aflights.pop(key, None)

    def cache_parameters(self) -> dict[str, Any]:
        """The options this method was cached with."""
        return self.options.parameters()

    # -- keys ----------------------------------------------------------------

    def key_for(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The key a call with these arguments uses (hashable)."""
        return self._hashable(self.keyof(*args, **kwargs))

    def _hashable(self, key: Any) -> Any:
        try:
            hash(key)
        except TypeError:
            pass
        else:
            return key
        try:
            return freeze(key)
        except UnkeyableError as err:
            raise unkeyable_error(self.plan, key, err) from None

    # -- invalidate / refresh ------------------------------------------------

    def cache_invalidate(self, *args: Any, **kwargs: Any) -> bool:
        """Drop the entry a call with these arguments would use. True if there was one."""
        key = self.key_for(args, kwargs)
        with self.lock:
            self._new_generation(key)
            if not self.io_outside:
                return self.storage.delete(key)
        return self.storage.delete(key)

    def cache_refresh(self, *args: Any, **kwargs: Any) -> Any:
        """Call the method now and store the result, whatever the cache holds."""
        key = self.key_for(args, kwargs)
        generation = self.generation
        if self.is_async:
            return self._arefresh(key, generation, self.call(*args, **kwargs))
        try:
            result = self.call(*args, **kwargs)
        except Exception as error:
            self._keep_error(key, generation, error)
            raise
        if is_awaitable_result(result):
            self.returns_awaitable = True
            return self._arefresh(key, generation, result)
        stream = self.streams.refresh(self, result, key, generation)
        if stream is not None:
            return stream  # stored once read to its end
        self._keep(key, generation, result)
        return result

    async def _arefresh(self, key: Any, generation: int, pending: Any) -> Any:
        try:
            result = await awaited(pending)
        except Exception as error:
            await self._akeep_error(key, generation, error)
            raise
        stream = self.streams.refresh(self, result, key, generation)
        if stream is not None:
            return stream
        await self._akeep(key, generation, result, ready=self.returns_awaitable)
        return result

    # -- storage access (under the lock) -------------------------------------

    def _store(self, key: Any, generation: int, value: Any, ttl: Any = OPTION) -> None:
        """Store *value* (fresh for *ttl* seconds) unless a clear or invalidate came after *generation* began."""
        # A lifetime of its own goes to the timed storages (_lifetime.TimedStorage, SharedStorage).
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
            raise value.error.with_traceback(value.tb)
        if type(value) is Recording:
            return value.replay()
        return value

    # -- everything but a plain hit ------------------------------------------

    def _slow(self, why: int, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Misses, unhashable arguments, and calls while bypass() or listeners are active."""
        if why == FLAGGED and _bypass.is_bypassed():
            return self.call(*args, **kwargs)
        if why != MISSED:
            key = self._hashable(key)
        if self.returns_awaitable:
            return self._amiss(key, args, kwargs)
        return self._miss(key, args, kwargs)

    async def _aslow(self, why: int, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if why == FLAGGED and _bypass.is_bypassed():
            return await awaited(self.call(*args, **kwargs))
        if why != MISSED:
            key = self._hashable(key)
        return await self._amiss(key, args, kwargs)

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
            key = self._hashable(key)  # frozen, it is looked up (or computed) here like any key
        elif LISTENERS or self.returns_awaitable:
            return self._slow(why, key, args, kwargs)
        lock = self.lock
        flights = self.flights
        # acquire/release, not with: a third fewer instructions, and nothing in between can raise but the
        # storage's lookup (a key's __eq__), hence the try.
        lock.acquire()
        try:
            found = self.storage.lookup(key) if self._find is None else self._find(key, MISS)
            if found is not MISS:
                if self._find is not None:
                    found = self.storage.lookup(key)  # counts as a use (LRU order, LFU uses)
                self.counters.other_hits += 1
            elif key in flights:
                found = _JOIN
            else:
                generation = self.generation
                flight = flights[key] = Flight(generation)
                self.counters.misses += 1
        finally:
            lock.release()
        if found is _JOIN:
            return self._miss(key, args, kwargs)  # another caller computes it: wait (or re-enter) there
        if found is not MISS:
            return self._deliver(found)
        ok = landed = False
        shared: Any = RETRY
        try:
            clock = self.clock
            started = clock()
            weak = self.weak
            if weak is not None and not kwargs and (obj := weak[0]()) is not None:
                result = weak[1](obj, *args)  # the method itself: the call wrapper's frame saved
            else:
                result = self.call(*args, **kwargs) if kwargs else self.call(*args)
            elapsed = clock() - started
            if type(result) not in _PLAIN_RESULTS:
                if is_awaitable_result(result):
                    # See _compute: from now on this method's misses take the async path (waiters retry).
                    with lock:
                        self.returns_awaitable = True
                        self.counters.misses -= 1
                    ok = True
                    return self._amiss(key, args, kwargs, first=result)
                if not may_store(result):
                    self._timed(elapsed)
                    self.counters.uncached_result()  # one-shot: waiters retry
                    ok = True
                    return result
            # _timed, _store and _land in one lock section.
            counters = self.counters
            lock.acquire()
            try:
                counters.computed += 1
                counters.computed_seconds += max(0.0, elapsed)
                if generation == self.generation:
                    self.storage.put(key, result)
                if flights.get(key) is flight:
                    del flights[key]
                self.finished += 1
            finally:
                lock.release()
            landed = True
            if flight.gate is not None:
                flight.finish(True, result)  # else nobody joined it (see Flight)
            return result
        except Exception as error:
            shared = self._keep_error(key, generation, error)
            raise
        finally:
            if not landed:
                self._land(key, flights, flight, ok, shared)
            # See _lead: no local may keep the error (or the flight holding it) alive with this frame.
            del flight, shared

    # -- get-or-compute: one protocol (_enter, _settle, _land), a driver per mode --
    #
    # Only the call, the wait and the store I/O differ between _miss (threads)
    # and _amiss (coroutines); what a caller does next is decided in _enter.

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
            if type(flight) is Flight:
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
                    raise value
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
        held = HeldLease() if self.holds_lease else None
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
        if self.streams is STREAMS:
            return result, _RECORD  # the leader records it, or keeps it if it is no stream
        return result, self._keep(key, generation, result)

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

    def _keep(self, key: Any, generation: int, result: Any, ready: bool = False) -> Any:
        """Store a fresh result; return what waiters may share (RETRY for one-shot results).

        *ready*: the method looks synchronous and its callers await what it
        returns, so a hit must be awaitable too: the value is stored wrapped.
        """
        if not may_store(result):
            self.counters.uncached_result()
            return RETRY
        ttl = self.rules.admit(result)
        if ttl is REJECT:
            self._rejected()
            return result  # waiting callers may share it: only storing it was refused
        self._store(key, generation, Ready(result) if ready else result, ttl)
        return result

    def _rejected(self) -> None:
        """cache_if= or ttl= from the result refused to store a result (it is still returned)."""
        self.counters.uncached_result()
        if LISTENERS:
            emit("uncached", self.qualname, {"reason": "cache_if or ttl"})

    def _keep_recording(self, key: Any, generation: int, recording: Recording | None) -> None:
        """A stream's end: store its recording; one read in part (None) was returned uncached."""
        if recording is None:
            self.counters.uncached_result()
        else:
            self._store(key, generation, recording)

    def _keep_error(self, key: Any, generation: int, error: Exception) -> Exception:
        if isinstance(error, self.options.cache_exceptions):
            ttl = self.rules.admit_error(error)
            if ttl is not REJECT:
                self._store(key, generation, Raised(error), ttl)
        return error

    # -- stale serving: what a failed or expired call may get instead ----------

    def _stale_on_error(self, key: Any) -> Any:
        """The value to return instead of the error just raised (``stale_if_error``), or MISS."""
        if not self.stale:
            return MISS
        if self.io_outside:
            return self._stale_of(self.storage.lookup(key))
        with self.lock:
            found = self.storage.lookup(key)
        return self._stale_of(found)

    async def _astale_on_error(self, key: Any) -> Any:
        """:meth:`_stale_on_error` for the coroutine driver: the store awaited."""
        if not self.stale:
            return MISS
        if self.io_outside:
            return self._stale_of(await self.storage.alookup(key))
        return self._stale_on_error(key)  # memory: nothing to await

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

    def _refresh(self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """``stale_while_revalidate``'s background refresh (a thread): lead *key*'s flight unless one runs."""
        flight = self._lead_refresh(key, self.flights, self.flight_kind)
        if flight is not None:
            self._lead(key, flight, args, kwargs)

    async def _arefresh_key(self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """The same as a task, for coroutine methods."""
        flight = self._lead_refresh(key, self.aflights, self.aflight_kind)
        if flight is not None:
            await self._alead(key, flight, args, kwargs)

    async def _amiss(self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any], first: Any = MISS) -> Any:
        try:
            return await self._amiss_loop(key, args, kwargs, first)
        finally:
            del first

    async def _amiss_loop(self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any], first: Any) -> Any:
        looked_again = False
        while True:
            found, finished = MISS, self.finished
            if self.io_outside:
                found = await self.storage.alookup(key)  # store I/O outside the lock, awaited
            role, item = self._enter(key, self.aflights, self.aflight_kind, found, finished, looked_again)
            if role in (_HIT, _STALE):
                discard(first)
                if role == _STALE:
                    self.stale.refresher.astart(key, functools.partial(self._arefresh_key, key, args, kwargs))
                elif LISTENERS:
                    emit("hit", self.qualname, self._hit_detail(item))
                item = self._deliver(item)
                return item.value if type(item) is Ready else item
            if role == _AGAIN:
                looked_again = True
                continue
            if role == _REENTER:
                pending, first = (self.call(*args, **kwargs) if first is MISS else first), MISS
                return await awaited(pending)
            if role == _WAIT:
                since = time.monotonic() if LISTENERS else 0.0
                ok, value = await item.wait()
                if not self._settle(key, self.aflights, item, ok, value, since):
                    continue
                discard(first)
                del item
                if not ok:
                    try:
                        raise value
                    except Exception:
                        ok, value = True, await self._astale_on_error(key)
                        if value is MISS:
                            raise
                    finally:
                        if not ok:
                            del value  # see _lead
                return value.value if type(value) is Ready else replayed(value)
            pending, first = first, MISS
            try:
                return await self._alead(key, item, args, kwargs, pending)
            except Exception:
                found = await self._astale_on_error(key)
                if found is MISS:
                    raise
                return found.value if type(found) is Ready else found
            finally:
                del item, pending  # see _lead

    async def _alead(
        self, key: Any, flight: AsyncFlight, args: tuple[Any, ...], kwargs: dict[str, Any], pending: Any = MISS
    ) -> Any:
        if LISTENERS:
            emit("miss", self.qualname)
        ok = False
        shared: Any = RETRY
        compute: Any = None
        held = HeldLease() if self.holds_lease else None
        try:
            compute = functools.partial(self._acompute, key, flight.generation, args, kwargs, pending)
            del pending
            computed, outcome = await self.lease.arun(key, compute, held)
            if not computed:
                discard(compute.args[-1])  # a coroutine a sync-looking leader handed over, never awaited
                shared = self._from_elsewhere(outcome)
                ok = True
                outcome = self._deliver(outcome)
                return outcome.value if type(outcome) is Ready else outcome
            result, shared = outcome
            ok = True
            if shared is _RECORD:
                # streams="replay": a stream is recorded as it is read and lands the flight at its end.
                stream = self.streams.record(self, result, key, self.aflights, flight, args, kwargs, held)
                if stream is not None:
                    shared = LATER
                    return stream
                shared = await self._akeep(key, flight.generation, result, ready=self.returns_awaitable)
            return result
        except Exception as error:
            if shared is RETRY or shared is _RECORD:
                shared = await self._akeep_error(key, flight.generation, error)
            raise
        finally:
            # Cancellation leaves shared at RETRY: the key is not poisoned,
            # waiters retry and one of them computes.
            if held is not None and shared is not LATER:
                held.release()  # a task of this loop: nothing to await here
            self._land(key, self.aflights, flight, ok, shared)
            del flight, shared, compute  # see _lead

    async def _acompute(
        self, key: Any, generation: int, args: tuple[Any, ...], kwargs: dict[str, Any], pending: Any
    ) -> tuple[Any, Any]:
        """``(result, what waiters share)``: call (or finish) the method, time it, and keep what it returned."""
        started = self.clock()
        if pending is MISS:
            pending = self.call(*args, **kwargs)
        # A coroutine function seen through a wrapper may return a plain
        # value after all: take it as it is.
        result = await awaited(pending)
        del pending
        self._timed(self.clock() - started)
        if self.streams is STREAMS:
            return result, _RECORD  # the leader records it, or keeps it if it is no stream
        return result, await self._akeep(key, generation, result, ready=self.returns_awaitable)

    async def _akeep(self, key: Any, generation: int, result: Any, ready: bool = False) -> Any:
        """:meth:`_keep` for the coroutine driver: the store awaited."""
        if not may_store(result):
            self.counters.uncached_result()
            return RETRY
        ttl = self.rules.admit(result)
        if ttl is REJECT:
            self._rejected()
            return result  # waiting callers may share it: only storing it was refused
        await self._astore(key, generation, Ready(result) if ready else result, ttl)
        return result

    async def _akeep_error(self, key: Any, generation: int, error: Exception) -> Exception:
        if isinstance(error, self.options.cache_exceptions):
            ttl = self.rules.admit_error(error)
            if ttl is not REJECT:
                await self._astore(key, generation, Raised(error), ttl)
        return error

    async def _astore(self, key: Any, generation: int, value: Any, ttl: Any = OPTION) -> None:
        """:meth:`_store` for the coroutine driver: the store awaited."""
        if not self.io_outside:
            self._store(key, generation, value, ttl)  # memory: nothing to await
            return
        with self.lock:
            if generation != self.generation:
                return
        if ttl is OPTION:
            await self.storage.aput(key, value)
        else:
            await self.storage.aput(key, value, ttl)  # type: ignore[call-arg]  # SharedStorage.aput takes it
        with self.lock:
            overtaken = generation != self.generation
        if overtaken:
            await self.storage.adelete(key)  # see _store

def make_cached(
    target: Callable[..., Any],
    options: Options,
    *,
    name: str,
    qualname: str | None = None,
    instance: Any = None,
    weak_instance: bool = False,
    attrs_of: Callable[[], Any] | None = None,
    strict_ignore: bool = True,
) -> Any:
    """Build the cached callable for *target*.

    With ``instance`` given, *target* is the plain function and the instance
    is passed as its first argument; ``weak_instance`` holds the instance by
    weak reference so the callable can live in the instance's ``__dict__``
    without a reference cycle. Without ``instance``, *target* is called as is
    (a bound method, a function or any callable).
    """
    wrapped = target
    if instance is not None:
        func = target
        if weak_instance:
            ref = weakref.ref(instance)
            owner = type(instance).__qualname__

            def call(*args: Any, **kwargs: Any) -> Any:
                obj = ref()
                if obj is None:
                    raise ReferenceError(
                        f"{owner}.{name}() was called after its instance was garbage-collected: "
                        "cached methods do not keep their instance alive; keep a reference to it "
                        f"while you use them (obj = {owner}(...); obj.{name}(...), "
                        f"not {owner}(...).{name}(...))"
                    )
                return func(obj, *args, **kwargs)

            if attrs_of is None:
                attrs_of = ref
        else:
            bound = func.__get__(instance, type(instance))
            call = bound
            wrapped = bound
            if attrs_of is None:
                attrs_of = lambda: instance  # noqa: E731
        sig_target = func
        drop_first = True
    else:
        call = target
        sig_target = target
        drop_first = False
    if not qualname:
        found = getattr(target, "__qualname__", None)
        qualname = found if isinstance(found, str) else name
    func = sig_target.__func__ if type(sig_target) is _MethodType else sig_target
    # What every owner's cache of this method shares, found by the function, the options, the names and
    # the kind of owner (its plan is the same for all owners of one kind); kept while the function's code,
    # defaults and signature-setting attributes are the ones it was made with.
    fast_key = (id(func), type(sig_target) is _MethodType, drop_first, id(options), name, qualname, strict_ignore,
                attrs_of is None)
    entry = _blueprints.get(fast_key)
    if (
        entry is not None
        and entry[0]() is func
        and entry[1] is options
        and entry[2] is func.__code__
        and entry[3] is func.__defaults__
        and entry[4] is func.__kwdefaults__
        and not func.__dict__
    ):
        signature, is_async, blueprint = entry[5], entry[6], entry[7]
    else:
        signature, is_async, slot = signature_and_slot(sig_target, drop_first)
        blueprint = _blueprint(slot, options, name, qualname, signature, strict_ignore, fast_key[1:3] + fast_key[7:])
        if slot is not None and not func.__dict__:  # a plain function: its signature is cached
            if len(_blueprints) >= _MAX_BLUEPRINTS * 128:
                _blueprints.clear()
            _blueprints[fast_key] = (_weakref(func), options, func.__code__, func.__defaults__, func.__kwdefaults__,
                                     signature, is_async, blueprint)
    state = CachedMethod(
        call,
        signature=signature,
        options=options,
        name=name,
        qualname=qualname,
        is_async=is_async,
        attrs_of=attrs_of,
        wrapped=wrapped,
        strict_ignore=strict_ignore,
        blueprint=blueprint,
    )
    if state.options.key_attrs and attrs_of is None:
        raise TypeError(f"key_attrs= needs an instance, but {qualname} is not bound to one")
    if weak_instance and instance is not None:
        state.weak = (ref, func)
    fn = _dress(state, target, wrapped, name, qualname)
    if drop_first and signature is not None:
        # __wrapped__ is the plain function (self first): inspect.signature()
        # would follow it and show self, which a caller of this one never passes.
        fn.__signature__ = signature
    return fn


def _dress(state: CachedMethod, target: Any, wrapped: Any, name: str, qualname: str) -> Any:
    fn: Any = state.func  # a generated function that gets attributes set below
    # The function refers to the state (its miss path is a bound method of
    # it); the state must not refer back, or freeing the owner would wait
    # for the cycle collector.
    del state.func
    fn.__name__ = name
    fn.__qualname__ = qualname
    # cache_invalidate/cache_refresh bind their arguments with the key function:
    # a wrong call must name the method there too.
    state.keyof.__name__, state.keyof.__qualname__ = name, qualname
    # Only real metadata is copied: dynamic objects (xmlrpc's remote methods)
    # answer any attribute, and reading one may even call the server.
    # A bound method answers these from its function: read them there, directly.
    source = target.__func__ if type(target) is _MethodType else target
    module, doc = getattr(source, "__module__", None), getattr(source, "__doc__", None)
    fn.__module__ = module if isinstance(module, str) else None
    fn.__doc__ = doc if isinstance(doc, str) else None
    annotations = getattr(source, "__annotations__", None)
    if isinstance(annotations, dict) and annotations:  # the generated function's own start empty
        fn.__annotations__ = dict(annotations)
    # One dict, not eight attribute stores, written out (half the cost of zipping CACHE_API with
    # an attrgetter): this runs for every instance.
    fn.__dict__ = {
        "cache_info": state.cache_info,
        "cache_stats": state.cache_stats,
        "cache_clear": state.cache_clear,
        "cache_parameters": state.cache_parameters,
        "cache_invalidate": state.cache_invalidate,
        "cache_refresh": state.cache_refresh,
        "__wrapped__": wrapped,
        "__proxycache__": state,
    }
    return fn


def state_of(func: Any) -> CachedMethod | None:
    """The :class:`CachedMethod` behind a cached callable, or None."""
    kind = type(func)
    if kind is _MethodType:
        # Its function answers; asked through the method, a missing name
        # raises (and formats) an AttributeError first: every first access asks.
        func = func.__func__
        kind = type(func)
    if kind is _FunctionType:
        # Its own dict answers without the AttributeError (formatted, then dropped) that getattr
        # would raise for every plain function: cache_methods and the descriptors ask on each install.
        state = func.__dict__.get("__proxycache__")
    elif kind in _NEVER_CACHED:
        return None  # what an instance's dict mostly holds (disown asks about each value)
    else:
        state = getattr(func, "__proxycache__", None)
    return state if isinstance(state, CachedMethod) else None


_FunctionType = types.FunctionType
#: Types that never carry a cached method's state (exact types: a subclass may).
_NEVER_CACHED = frozenset({str, int, float, bool, bytes, tuple, list, dict, set, frozenset, type(None)})

