"""One cached method of one instance: its cache API, and what it is made of.

:class:`CachedMethod` holds the cache API (``cache_info``, ``cache_clear``,
``cache_invalidate``...) and builds its parts: the storage, the rules, the
flight kinds, the generated callable (``_codegen``). Get-or-compute is its
base classes': the steps both modes share (``_getorcompute``) and a driver per
mode (``_drive_sync``, ``_drive_async``: loaded when a coroutine first needs it). ``_make`` builds the cached callable
an entry point installs.
"""

from __future__ import annotations

import _thread
import inspect
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import _clock, _codegen, _stats
from ._blueprint import _Blueprint, _blueprint
from ._drive_sync import AsyncOnFirstUse, SyncDriver, load_async_driver
from ._events import LISTENERS, emit
from ._flags import hits_in, set_hits
from ._flight import LoneAsyncFlight, LoneFlight, finish_lock
from ._getorcompute import NO_STREAMS
from ._keys import UnkeyableError
from ._keys_again import forget_frozen, freeze_key
from ._keys_strict import strict_key
from ._lifetime import stale_serving, storing_rules
from ._options import Options
from ._outcome import is_awaitable_result
from ._plan import Plan, attrs_reader, attrs_via
from ._stats import Counters
from ._storage import Storage
from ._storage_choice import make_storage

if TYPE_CHECKING:
    from ._flight_store import Waited

log = logging.getLogger("proxycache")


#: Every armed CachedMethod (see CachedMethod._arm), by a weak reference that takes itself out when it
#: goes, with its lock: for the fork handler below. Arming claims the entry (one setdefault, atomic).
_LIVE: dict[weakref.ref[CachedMethod], Any] = {}
_live_claim, _live_forget = _LIVE.setdefault, _LIVE.pop  # bound once, not for every instance
_weakref = weakref.ref
_sleep = time.sleep
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
        if state.lock is None:
            # Its arming thread is gone, half way: arm it again here.
            del _LIVE[ref]
            state._arm()
            continue
        if not state.lock._is_owned():  # held by the forking thread: it releases it
            state.lock._at_fork_reinit()
        state.counters.at_fork_reinit()
        for key, flight in list(state.flights.items()):
            if flight.owner != me:
                del state.flights[key]


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class CachedMethod(SyncDriver, AsyncOnFirstUse):
    """The cache of one method for one owner (an instance, or a class for static methods)."""

    # The parts only misses and the cache API use, made by _arm (see there). Plain class values,
    # not descriptors: an instance's own are then read as fast as any attribute.
    lock: Any = None
    flights: Any = None
    aflights: Any = None
    counters: Any = None
    storage: Any = None  # an instance's own, made with the rest
    #: Until armed: a weak reference to the callable whose miss path _arm sets; no class default (see GetOrCompute).
    _func_ref: Any
    #: The instance whose ``__dict__`` holds the callable (a weak reference, or its ``id`` without one),
    #: set by ``_instance.install``; None for a callable not installed in a dict.
    installed_for: Any = None
    #: What the instance's dict held under the name before ``cache_methods`` (``_instance.ABSENT``: nothing).
    replaced: Any = None

    def __init__(
        self,
        call: Callable[..., Any] | None,
        signature: inspect.Signature | None,
        options: Options,
        name: str,
        qualname: str,
        is_async: bool,
        attrs_of: Callable[[], Any] | None,
        wrapped: Any,
        strict_ignore: bool = True,
        blueprint: _Blueprint | None = None,
        weak: tuple[Any, Callable[..., Any], str, str] | None = None,
    ) -> None:
        if blueprint is None:
            blueprint = _blueprint(None, options, name, qualname, signature, strict_ignore, None)
        if call is not None:
            self.call = call  # type: ignore[method-assign]  # else the method below calls through self.weak
        self.weak = weak  # now: a method whose hit takes the lock is armed below, and keeps what it finds
        plain = blueprint.plain
        # A store names its namespace after the owner and the method: its plan has them. In memory,
        # the plan every owner shares will do (only a key error reads it).
        self.plan = plan = blueprint.plan if plain else blueprint.plan.bound(attrs_of, wrapped)
        self.options = options
        self.qualname = qualname
        self.is_async = is_async
        #: Misses are timed on it: what a hit saves is their mean.
        self.clock = _clock._current
        self.blueprint = blueprint
        mode = blueprint.mode
        if not mode:
            self.flight_kind, self.aflight_kind = LoneFlight, LoneAsyncFlight
        lazy = False
        if plain:
            if blueprint.lazy_storage:
                empty = blueprint.empty
                if empty is None:
                    proto = blueprint.new_storage()
                    empty = blueprint.empty = (proto.HIT, type(proto), proto.bindings())
                hit, storage_class, shared = empty
                lazy = not (hit.lock or hit.drains)
            if not lazy:
                self._own(blueprint.new_storage())
        else:
            self.counters = Counters()  # now: a store's storage reports to them (_arm keeps them)
            self.io_outside = options.store is not None
            if options.streams == "replay":
                from ._streams import STREAMS  # loaded by those who replay streams

                self.streams = STREAMS
            self._own(self._make_storage(plan, options))
            self.rules = storing_rules(options, qualname)
            self.stale = stale_serving(options, qualname)
            #: streams="replay" over a store lease: a leader keeps the lease until its recording is stored.
            self.holds_lease = mode == "store" and self.streams is not NO_STREAMS
            if mode == "store":
                from ._flight_store import KeyLease, StoreFlight  # loaded by those who use single_flight="store"

                self.lease = KeyLease(
                    self.storage, StoreFlight(options.store, on_fault=self._lease_fault, on_wait=self._lease_wait)
                )
        # A method in memory is armed on its first miss (or cache API call): until then it has no
        # storage, and its misses go to _first_miss. One whose hit takes the lock is armed now.
        if lazy:
            bindings = dict(shared)
        else:
            self._func_ref = None  # armed below
            storage = self.storage
            hit, storage_class = storage.HIT, type(storage)
            bindings = storage.bindings()
        # Only the names the source uses: the factory unpacks each one it is given.
        bindings["_pc_slow"] = self._first_miss if lazy else self._arm()
        if hit.lock or hit.drains:  # after _arm, which makes the lock (a hit that needs it is never armed lazily)
            bindings["_pc_lock"] = self.lock
        if options.key is not None:
            bindings["_pc_userkey"] = options.key
        key_attrs = options.key_attrs
        if key_attrs:
            bindings["_pc_attrs"] = attrs_reader(attrs_of, key_attrs, qualname, options.typed) if attrs_of else None
            bindings["_pc_via"] = attrs_via(attrs_of) if attrs_of else None
        built = blueprint.built
        # The same recipe and storage class mean the same binding names (the options, which decide
        # the rest, are the blueprint's): its factory takes these bindings.
        if built is not None and built[0] is hit and built[1] is storage_class:
            factory, index = built[2], built[3]
            if index is not None:
                # The factory called here, not through _codegen.instantiate: a call fewer per instance.
                func, self.keyof = factory(bindings)
                self.func, self._hits = func, func.__closure__[index]
                if lazy:
                    self._func_ref = _weakref(func)
                return
        else:
            factory = _codegen.factory_for(
                plan.shape,
                hit=hit,
                is_async=is_async,
                raises=bool(options.cache_exceptions),
                bindings=bindings,
                replays=self.streams is not NO_STREAMS,  # a stored recording is replayed on a hit
            )
        func, self.keyof, cell = _codegen.instantiate(plan.shape, factory, bindings)
        self.func, self._hits = func, cell
        if lazy:
            self._func_ref = _weakref(func)
        # A factory that takes the bindings as they are (a shape without defaults): the next owner calls it.
        index = None if plan.shape.defaults else func.__code__.co_freevars.index("_pc_hits")
        blueprint.built = (hit, storage_class, factory, index)

    def _first_miss(self, why: int, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The cached callable's first miss: arm, then take the miss path as every later miss will."""
        return self._arm()(why, key, args, kwargs)  # a coroutine for a coroutine method: awaited there

    def _arm(self) -> Callable[..., Any]:
        """Make the lock, the flights and the counters, once; then misses go straight to the miss path.

        Most first accesses are followed by hits only, or by nothing at all
        (a client made per request): until its first miss or cache API call,
        a method in memory has no lock, no flights, no counters, and is not
        known to the fork handler (nothing of it can be held at a fork).
        Returns the miss path.
        """
        if self.is_async:
            load_async_driver()  # its miss path is the coroutine driver's, not a stand-in's
            slow = self._aslow
        else:
            blueprint = self.blueprint
            slow = self._lean if blueprint.plain and blueprint.mode == "process" else self._slow
        if self.lock is not None:
            return slow
        # Two threads may arrive here at once: the one whose entry lands in _LIVE makes the parts (a
        # setdefault, without a lock of its own to take); weak references to one object are equal.
        lock = _RLock()
        ref = _weakref(self, _live_forget)
        if _live_claim(ref, lock) is not lock:
            while self.lock is None:  # the other thread is a few lines from done
                if ref not in _LIVE:  # it failed (an exception in between) and withdrew its claim
                    del ref  # freed here, before this: its callback never runs
                    return self._arm()
                _sleep(0)
            del ref
            return slow
        try:
            self._make_parts(lock, slow)
        except BaseException:  # KeyboardInterrupt, MemoryError: withdrawn, or all would wait for ever
            _live_forget(ref, None)
            raise
        return slow

    def _own(self, storage: Storage) -> Storage:
        """Keep *storage* as this method's; a miss reads one of proxycache's plain dicts without a call."""
        self.storage = storage
        if storage.plain:
            self._find = storage.data.get
        return storage

    def _make_parts(self, lock: Any, slow: Callable[..., Any]) -> None:
        """What :meth:`_arm` makes, by the thread whose claim landed."""
        self.flights = {}
        self.aflights = {}
        # The miss's own from here, no class default: 3.11 reads a class attribute through an instance, 3.12+ an
        # instance attribute that shadows one, unspecialized (several times a plain one). Nothing reads them before.
        self.generation, self.returns_awaitable, self._spare = 0, False, None
        if self.counters is None:
            self.counters = Counters()
        func_ref = self._func_ref  # armed on first use: it gets its storage, and misses go to the miss path
        storage = self.storage if func_ref is None else self._own(self.blueprint.new_storage())
        # What _lean reads and never changes once made, at once: without the GIL (3.13t), each attribute
        # of an instance is read unspecialized (about 540 instructions).
        self.lean_parts = (lock, self.flights, self._find, storage, self.counters, self.clock, self.weak)
        if func_ref is not None:
            self.lock = lock  # before the cells leading to the miss path that reads it (_first_miss till then)
            func = func_ref()
            if func is not None:
                # The storage's first: a hit finds the entries of the miss path it sees.
                _codegen.rebind(func, {**storage.bindings(), "_pc_slow": slow})
            self._func_ref = None
        self.lock = lock  # last: a thread that finds it finds the rest made

    def call(self, *args: Any, **kwargs: Any) -> Any:
        """The method itself, called with its instance (held weakly: see ``weak``)."""
        ref, func, owner, name = self.weak  # type: ignore[misc]  # set whenever call is not
        obj = ref()
        if obj is None:
            raise ReferenceError(
                f"{owner}.{name}() was called after its instance was garbage-collected: "
                "cached methods do not keep their instance alive; keep a reference to it "
                f"while you use them (obj = {owner}(...); obj.{name}(...), "
                f"not {owner}(...).{name}(...))"
            )
        return func(obj, *args, **kwargs)

    def _get_hits(self) -> int:
        return hits_in(self._hits)

    def _set_hits(self, n: int) -> None:
        set_hits(self._hits, n)

    def _make_storage(self, plan: Plan, options: Options) -> Storage:
        if options.store is not None:
            from ._shared import SharedStorage  # loaded by those who pass store=

            return SharedStorage(plan, self.counters, options, is_async=self.is_async)
        return make_storage(options)

    # -- statistics ----------------------------------------------------------

    def cache_info(self) -> _stats.CacheInfo:  # resolvable at run time too (get_type_hints)
        """Hits, misses, maxsize and current size of this method's cache."""
        if self.lock is None:
            self._arm()
        counters, info = self.counters, _stats.CacheInfo  # a class made on first use
        if self.io_outside:
            size = self.storage.currsize()  # a scan of the store: not under the lock
            with self.lock:
                return info(self._get_hits() + counters.other_hits, counters.misses, self.storage.maxsize, size)
        with self.lock:
            return info(
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
        not join them. The encodings of recent unhashable arguments, kept
        to key them again quickly, are forgotten too (all methods').
        """
        if self.lock is None:
            self._arm()
        with self.lock:
            self._new_generation(None)
            if not self.io_outside:
                self.storage.clear()
            self._set_hits(0)
            self.counters.reset()
            self.stale.reset()
        if self.io_outside:
            self.storage.clear()
        forget_frozen()  # the keys of recent dict arguments (_keys_again): nothing of them stays

    def _new_generation(self, key: Any) -> int:
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
        return self.generation

    def cache_parameters(self) -> dict[str, Any]:
        """The options this method was cached with."""
        return self.options.parameters()

    # -- keys ----------------------------------------------------------------

    def key_for(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The key a call with these arguments uses (hashable)."""
        keyof = self.keyof
        if keyof.__qualname__ is not self.qualname:
            # Named on first use, not for every instance: a wrong call's TypeError names the method.
            keyof.__name__, keyof.__qualname__ = self.plan.name, self.qualname
        return strict_key(self._hashable(keyof(*args, **kwargs)), args, kwargs)

    def _hashable(self, key: Any) -> Any:
        try:
            hash(key)
        except TypeError:
            return self._frozen(key)
        return key

    def _frozen(self, key: Any) -> Any:
        """*key*, which a lookup could not hash (``UNHASHABLE``), keyed by value: not hashed again (raising
        costs a dict-argument hit a tenth). One that hashes but failed to compare freezes to itself or to a
        tagged form no other call's key equals: the worst it costs is an entry of its own."""
        try:
            return freeze_key(key)
        except UnkeyableError as err:
            from ._keyerror import unkeyable_error  # only for the error
            raise unkeyable_error(self.plan, key, err) from None

    # -- invalidate / refresh ------------------------------------------------

    def cache_invalidate(self, *args: Any, **kwargs: Any) -> bool:
        """Drop the entry a call with these arguments would use. True if there was one."""
        key = self.key_for(args, kwargs)
        if self.lock is None:
            self._arm()
        with self.lock:
            self._new_generation(key)
            if not self.io_outside:
                return bool(self.storage.delete(key))
        return bool(self.storage.delete(key))

    def cache_refresh(self, *args: Any, **kwargs: Any) -> Any:
        """Call the method now and store the result, whatever the cache holds; misses in flight never overwrite it."""
        key = self.key_for(args, kwargs)
        if self.lock is None:
            self._arm()
        with self.lock:  # as an invalidate: what older misses compute reaches their callers, never the cache
            generation = self._new_generation(key)
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
