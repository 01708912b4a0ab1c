"""One cached method of one instance: the seam every entry point goes through.

:func:`make_cached` returns the cached callable (a generated function, see
``_codegen``) whose hit path is inlined. Misses, single flight, async,
negative caching, statistics and store access live in :class:`CachedMethod`.
"""

from __future__ import annotations

import _thread
import asyncio
import contextlib
import inspect
import logging
import operator
import os
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, NamedTuple

from . import _bypass, _codegen
from ._codegen import FLAGGED, MISSED
from ._contract import MISS
from ._events import LISTENERS, emit
from ._keys import _BOOL, _KWARGS, UnkeyableError, freeze, typed_bools
from ._options import Options
from ._storage import Storage, make_storage

log = logging.getLogger("proxycache")


class CacheInfo(NamedTuple):
    """Statistics of one cached method, as in ``functools``."""

    hits: int
    misses: int
    maxsize: int | None
    currsize: int


class Raised:
    """A cached exception (``cache_exceptions=``): raised again on a hit."""

    __slots__ = ("error", "tb")

    def __init__(self, error: BaseException) -> None:
        self.error = error
        # Every raise adds the raising frames to the error's traceback: each
        # hit re-raises from the traceback as stored, or it grows without end.
        self.tb = error.__traceback__

    def __reduce__(self) -> tuple[Any, ...]:
        return (Raised, (self.error,))  # tracebacks do not pickle


class _Retry:
    """Outcome telling waiters to compute for themselves (the result was not shareable)."""


_RETRY = _Retry()


_allocate_lock = _thread.allocate_lock
#: Serializes finish() between a leader and a waiter that found the leader gone.
_finish_lock = _allocate_lock()


class _Flight:
    """A computation in progress that concurrent callers of the same key wait on.

    Every miss makes one, and most never see a waiter, so it is cheap: a
    plain lock held from creation until ``finish`` (a ``threading.Event``
    costs several times more to build). Waiters take the lock and hand it on.
    """

    __slots__ = ("done", "gate", "generation", "ok", "owner", "value")

    def __init__(self) -> None:
        self.generation = 0
        self.owner = threading.get_ident()
        self.gate = _allocate_lock()
        self.gate.acquire()
        self.done = False
        self.ok = True
        self.value: Any = _RETRY

    def finish(self, ok: bool, value: Any) -> None:
        with _finish_lock:
            if self.done:
                return
            self.ok, self.value, self.done = ok, value, True
        self.gate.release()

    def wait(self) -> None:
        # Re-check now and then that the computing thread still lives: a
        # waiter must never hang on a leader that vanished without finishing
        # (in a forked child, only the forking thread survives).
        while not self.gate.acquire(timeout=0.5):
            if self.owner not in {t.ident for t in threading.enumerate()}:
                self.finish(True, _RETRY)
        self.gate.release()


class _AsyncFlight:
    __slots__ = ("future", "generation", "loop", "task")

    def __init__(self, task: asyncio.Task[Any] | None, loop: asyncio.AbstractEventLoop, generation: int) -> None:
        self.generation = generation
        self.task = task
        self.loop = loop
        self.future: asyncio.Future[tuple[bool, Any]] = loop.create_future()

    def finish(self, ok: bool, value: Any) -> None:
        if not self.future.done():
            self.future.set_result((ok, value))


#: Every CachedMethod alive, for the fork handler below.
_LIVE: weakref.WeakSet[CachedMethod] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """Locks held by other threads at fork time stay held in the child forever: release them.

    Only the forking thread lives on in the child, so the flights of every
    other thread will never finish: drop them, and their callers' keys are
    computed afresh.
    """
    _finish_lock._at_fork_reinit()  # type: ignore[attr-defined]
    me = threading.get_ident()
    for state in list(_LIVE):
        if not state.lock._is_owned():  # type: ignore[attr-defined]  # held by the forking thread: it releases it
            state.lock._at_fork_reinit()  # type: ignore[attr-defined]
        for key, flight in list(state.flights.items()):
            if flight.owner != me:
                del state.flights[key]


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


_PLAIN_RESULTS = frozenset({type(None), bool, int, float, str, bytes, tuple, list, dict, set, frozenset})

# What @contextmanager and @asynccontextmanager return: one generator each, spent
# by its first ``with`` (a second one raises from the spent generator).
_GENERATOR_CMS: tuple[type, ...] = tuple(
    t for t in (getattr(contextlib, "_GeneratorContextManagerBase", None),) if isinstance(t, type)
) or (contextlib._GeneratorContextManager, contextlib._AsyncGeneratorContextManager)


class Ready:
    """The stored result of a method that returned an awaitable: awaiting it gives the value, as often as asked.

    A method that looks synchronous but returns a coroutine (a plain wrapper
    over a coroutine function, a lambda) hands its callers something to
    await; a hit hands them this, so ``await client.method()`` keeps working.
    """

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Any:
        return self.value
        yield  # a generator: every await gets a fresh one

    def __reduce__(self) -> tuple[Any, ...]:
        return (Ready, (self.value,))

    def __eq__(self, other: object) -> bool:
        return type(other) is Ready and other.value == self.value

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<awaitable result {self.value!r}>"


def _one_shot(value: Any) -> bool:
    """Results that can be consumed only once are never cached."""
    if type(value) in _PLAIN_RESULTS:
        return False
    return (
        isinstance(value, (Iterator, AsyncIterator, _GENERATOR_CMS))
        or inspect.isawaitable(value)
    )


def _is_awaitable_result(value: Any) -> bool:
    return type(value) not in _PLAIN_RESULTS and inspect.isawaitable(value)


async def _awaited(value: Any) -> Any:
    return await value if _is_awaitable_result(value) else value


def _discard(awaitable: Any) -> None:
    # A coroutine that will never run: close it, or Python warns it was never awaited.
    close = getattr(awaitable, "close", None) if inspect.iscoroutine(awaitable) else None
    if close is not None:
        close()


def _tagged(values: tuple[Any, ...]) -> tuple[Any, ...]:
    return typed_bools(values)  # type: ignore[no-any-return]


def _kwkey(kwargs: dict[str, Any]) -> tuple[Any, ...]:
    # Tag the values, not the (name, value) pairs: f(x=True) and f(x=1) differ.
    return tuple(sorted((k, (_BOOL, v) if v is True or v is False else v) for k, v in kwargs.items()))


def _types(values: Any) -> tuple[type, ...]:
    return tuple(map(type, values))


def _kwtypes(kwargs: dict[str, Any]) -> tuple[type, ...]:
    # In name order, like _kwkey: f(a=1, b=1.0) and f(b=1, a=1.0) differ.
    return tuple(type(kwargs[k]) for k in sorted(kwargs))


def _generic_key(args: tuple[Any, ...], kwargs: dict[str, Any], typed: bool = False) -> Any:
    # The marker keeps f(x, y) apart from f(x, **kw) whose parts happen to look alike.
    key = (typed_bools(args), _KWARGS, _kwkey(kwargs)) if kwargs else typed_bools(args)
    if typed:
        return (key, _types(args), _kwtypes(kwargs))
    return key


_codegen.GLOBALS.update(
    _pc_Raised=Raised,
    _pc_BOOL=_BOOL,
    _pc_tagged=_tagged,
    _pc_kwkey=_kwkey,
    _pc_types=_types,
    _pc_kwtypes=_kwtypes,
    _pc_generic_key=_generic_key,
)


class CachedMethod:
    """The cache of one method for one owner (an instance, or a class for static methods)."""

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
    ) -> None:
        self.call = call
        self.options = options
        self.name = name
        self.qualname = qualname
        self.is_async = is_async
        #: Set when a method classed as sync returned an awaitable: its misses take the async path.
        self.returns_awaitable = False
        self.wrapped = wrapped
        self.attrs_of = attrs_of
        self.lock = threading.RLock()
        self.flights: dict[Any, _Flight] = {}
        self.aflights: dict[Any, _AsyncFlight] = {}
        #: Bumped by cache_clear()/cache_invalidate(): a result computed under
        #: an older generation is never stored, and its flight is never joined.
        self.generation = 0
        #: Flights finished so far: a miss that looked in the store before one
        #: finished looks again rather than compute the value a second time.
        self.finished = 0
        #: Store I/O (slow, remote) happens outside the lock; memory storage under it.
        self.io_outside = options.store is not None
        _LIVE.add(self)
        self.misses = 0
        self.other_hits = 0
        self.faults = 0
        self.uncached = 0
        self.storage: Storage = self._make_storage(options)
        if strict_ignore:
            # Strict for one named method; an option applied to many methods
            # (a proxy, a mixin) ignores only the parameters each one has.
            check_ignore(signature, options, qualname)
        try:
            shape = _codegen.shape_of(
                signature,
                ignore=options.ignore,
                typed=options.typed,
                custom_key=options.key is not None,
                key_attrs=options.key_attrs or (),
            )
        except _codegen.NoShape:
            shape = _codegen.shape_of(
                None, ignore=options.ignore, typed=options.typed,
                custom_key=options.key is not None, key_attrs=options.key_attrs or (),
            )
        self.key_names = shape.key_names
        self.signature = signature
        key_attrs = options.key_attrs or ()
        bindings = {
            **self.storage.bindings(),
            "_pc_lock": self.lock,
            "_pc_slow": self._aslow if is_async else self._slow,
            "_pc_userkey": options.key,
            "_pc_attrs": _attrs_reader(attrs_of, key_attrs) if key_attrs and attrs_of else None,
            "_pc_owner": attrs_of,
        }
        self.func, self.keyof, self._get_hits, self._set_hits = _codegen.build(
            shape,
            hit=self.storage.HIT,
            lock_on_hit=self.storage.LOCK_ON_HIT,
            is_async=is_async,
            raises=bool(options.cache_exceptions),
            bindings=bindings,
        )

    def _make_storage(self, options: Options) -> Storage:
        if options.store is not None:
            from ._shared import SharedStorage

            return SharedStorage(self, options)
        return make_storage(options)

    # -- statistics ----------------------------------------------------------

    def cache_info(self) -> CacheInfo:
        """Hits, misses, maxsize and current size of this method's cache."""
        if self.io_outside:
            size = self.storage.currsize()  # a scan of the store: not under the lock
            with self.lock:
                return CacheInfo(self._get_hits() + self.other_hits, self.misses, self.storage.maxsize, size)
        with self.lock:
            return CacheInfo(
                self._get_hits() + self.other_hits, self.misses, self.storage.maxsize, self.storage.currsize()
            )

    def cache_stats(self) -> dict[str, Any]:
        """``cache_info()`` plus store faults and results returned uncached."""
        info = self.cache_info()._asdict()
        info.update(faults=self.faults, uncached=self.uncached, policy=self.storage.policy)
        return info

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
            self.other_hits = self.misses = self.faults = self.uncached = 0
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
            raise self._unkeyable(key, err) from None

    def key_culprits(self, key: Any, problem: Callable[[Any], str | None]) -> list[tuple[str, str, str]]:
        """Every part of *key* that has a *problem*: ``("argument" or "key_attrs", name, problem)``.

        Reads the key's layout as ``_codegen.shape_of`` builds it: one bare
        value for a single parameter, else one item per parameter (each
        followed by its type when typed), followed by the key_attrs values.
        """
        options = self.options
        if options.key is not None:
            return []  # the user's key function decides the layout
        key_attrs = options.key_attrs or ()
        attr_values: tuple[Any, ...] = ()
        if key_attrs and type(key) is tuple and len(key) == 1 + len(key_attrs):
            key, attr_values = key[0], key[1:]
        names = self.key_names
        if len(names) == 1 and not options.typed:
            parts: tuple[Any, ...] = (key,)
        elif type(key) is tuple:
            parts = key[::2] if options.typed else key
        else:
            parts = ()
        # ignore= takes the bare name of *args/**kwargs
        found = [("argument", name.lstrip("*"), problem(part)) for name, part in zip(names, parts, strict=False)]
        found += [("key_attrs", attr, problem(value)) for attr, value in zip(key_attrs, attr_values, strict=False)]
        return [(kind, name, why) for kind, name, why in found if why is not None]

    def _unkeyable(self, key: Any, err: Exception) -> TypeError:
        if self.options.store is not None:
            # What a shared store refuses is a superset: name it all in one error.
            return self.storage.unkeyable(key, err)  # type: ignore[attr-defined,no-any-return]
        return unkeyable_error(
            self.qualname, self.key_culprits(key, freeze_problem), err,
            what="be used in a cache key",
            attrs_fix="name attributes with hashable values, or pass key= a function",
            args_fix="or pass key= a function that builds a hashable key",
        )

    # -- invalidate / refresh ------------------------------------------------

    def cache_invalidate(self, *args: Any, **kwargs: Any) -> bool:
        """Drop the entry a call with these arguments would use. True if there was one."""
        key = self.key_for(args, kwargs)
        with self.lock:
            self._new_generation(key)
            if not self.io_outside:
                return self._delete(key)
        return self._delete(key)

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
        if _is_awaitable_result(result):
            self.returns_awaitable = True
            return self._arefresh(key, generation, result)
        self._keep(key, generation, result)
        return result

    async def _arefresh(self, key: Any, generation: int, pending: Any) -> Any:
        try:
            result = await _awaited(pending)
        except Exception as error:
            self._keep_error(key, generation, error)
            raise
        self._keep(key, generation, result, ready=self.returns_awaitable)
        return result

    # -- storage access (under the lock) -------------------------------------

    def _lookup(self, key: Any) -> Any:
        return self.storage.lookup(key)

    def _store(self, key: Any, generation: int, value: Any) -> None:
        """Store *value* unless a clear or invalidate came after *generation* began."""
        with self.lock:
            if generation != self.generation:
                return
            if not self.io_outside:
                self.storage.put(key, value)
                return
        self.storage.put(key, value)  # store I/O: other keys' misses go on meanwhile
        with self.lock:
            overtaken = generation != self.generation
        if overtaken:
            # A clear or invalidate ran while this was being written, maybe
            # before it landed: it wins, so take the entry out again.
            self.storage.delete(key)

    def _delete(self, key: Any) -> bool:
        return self.storage.delete(key)

    @staticmethod
    def _deliver(value: Any) -> Any:
        if type(value) is Raised:
            raise value.error.with_traceback(value.tb)
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
            return await _awaited(self.call(*args, **kwargs))
        if why != MISSED:
            key = self._hashable(key)
        return await self._amiss(key, args, kwargs)

    # -- the miss path (threads) ---------------------------------------------

    def _miss(self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        looked_again = False
        finished = 0
        while True:
            if self.io_outside:
                # Store I/O outside the lock; a flight that lands meanwhile shows in self.finished.
                finished = self.finished
                found = self._lookup(key)
            with self.lock:
                if not self.io_outside:
                    found = self._lookup(key)
                if found is not MISS:
                    self.other_hits += 1
                    hit = True
                else:
                    hit = False
                    flight = self.flights.get(key)
                    if flight is None and finished != self.finished and self.io_outside and not looked_again:
                        looked_again = True  # a flight landed since the store said "miss"
                        continue
                    if flight is None:
                        flight = self.flights[key] = _Flight()
                        flight.generation = self.generation
                        role = "lead"
                        self.misses += 1
                    elif flight.owner == threading.get_ident():
                        role = "reenter"  # the method calling itself with the same key
                        self.misses += 1
                    else:
                        role = "wait"
            if hit:
                if LISTENERS:
                    emit("hit", self.qualname)
                return self._deliver(found)
            if role == "reenter":
                return self.call(*args, **kwargs)
            assert flight is not None  # for type checkers: every other branch set it
            if role == "wait":
                flight.wait()
                if flight.value is _RETRY:
                    # A leader that vanished without finishing (its thread is
                    # gone in a forked child) left its flight behind: drop it
                    # so this retry can lead instead of waiting on it again.
                    with self.lock:
                        if self.flights.get(key) is flight:
                            del self.flights[key]
                    continue
                with self.lock:
                    if flight.ok:
                        self.other_hits += 1
                    else:
                        self.misses += 1
                if flight.ok:
                    return flight.value
                error = flight.value
                del flight
                try:
                    raise error
                finally:
                    del error  # see _lead
            try:
                return self._lead(key, flight, args, kwargs)
            finally:
                del flight  # see _lead

    def _lead(self, key: Any, flight: _Flight, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if LISTENERS:
            emit("miss", self.qualname)
        ok = False
        shared: Any = _RETRY
        try:
            result = self.call(*args, **kwargs)
            ok = True
            if _is_awaitable_result(result):
                # Classed as sync, but it hands back something to await (a
                # plain wrapper over a coroutine function): from now on its
                # misses take the async path, which awaits and caches the
                # value with single flight among tasks. Waiting threads retry.
                ok, shared = True, _RETRY
                with self.lock:
                    self.returns_awaitable = True
                    self.misses -= 1  # the async path counts this miss
                return self._amiss(key, args, kwargs, first=result)
            shared = self._keep(key, flight.generation, result)
            return result
        except Exception as error:
            shared = self._keep_error(key, flight.generation, error)
            raise
        finally:
            # BaseException (KeyboardInterrupt, SystemExit) leaves shared at
            # _RETRY: waiters compute for themselves rather than inherit it.
            with self.lock:
                if self.flights.get(key) is flight:
                    del self.flights[key]
                self.finished += 1
            flight.finish(ok, shared)
            # An error's traceback holds this frame (and the caller's): a
            # local still naming the error, or the flight that holds it,
            # would make a cycle keeping the instance alive until gc runs.
            del flight, shared

    def _keep(self, key: Any, generation: int, result: Any, ready: bool = False) -> Any:
        """Store a fresh result; return what waiters may share (_RETRY for one-shot results).

        *ready*: the method looks synchronous and its callers await what it
        returns, so a hit must be awaitable too: the value is stored wrapped.
        """
        if _one_shot(result):
            with self.lock:
                self.uncached += 1
            return _RETRY
        self._store(key, generation, Ready(result) if ready else result)
        return result

    def _keep_error(self, key: Any, generation: int, error: Exception) -> Exception:
        if isinstance(error, self.options.cache_exceptions):
            self._store(key, generation, Raised(error))
        return error

    # -- the miss path (coroutines) ------------------------------------------

    async def _amiss(self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any], first: Any = MISS) -> Any:
        try:
            return await self._amiss_loop(key, args, kwargs, first)
        finally:
            del first

    async def _amiss_loop(self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any], first: Any) -> Any:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        looked_again = False
        finished = 0
        while True:
            if self.io_outside:
                # Store I/O outside the lock; a flight that lands meanwhile shows in self.finished.
                finished = self.finished
                found = self._lookup(key)
            with self.lock:
                if not self.io_outside:
                    found = self._lookup(key)
                if found is not MISS:
                    self.other_hits += 1
                    hit = True
                else:
                    hit = False
                    flight = self.aflights.get(key)
                    if flight is None and finished != self.finished and self.io_outside and not looked_again:
                        looked_again = True  # a flight landed since the store said "miss"
                        continue
                    if flight is None or flight.loop is not loop or flight.loop.is_closed():
                        # A flight of another event loop cannot be awaited here:
                        # this loop gets its own.
                        flight = _AsyncFlight(task, loop, self.generation)
                        if key not in self.aflights or self.aflights[key].loop.is_closed():
                            self.aflights[key] = flight
                        role = "lead"
                        self.misses += 1
                    elif flight.task is task:
                        role = "reenter"
                        self.misses += 1
                    else:
                        role = "wait"
            if hit:
                _discard(first)
                if LISTENERS:
                    emit("hit", self.qualname)
                found = self._deliver(found)
                return found.value if type(found) is Ready else found
            if role == "reenter":
                pending, first = (self.call(*args, **kwargs) if first is MISS else first), MISS
                return await _awaited(pending)
            assert flight is not None  # for type checkers: every other branch set it
            if role == "wait":
                # shield: a cancelled waiter must not cancel the shared computation.
                ok, value = await asyncio.shield(flight.future)
                if value is _RETRY:
                    continue
                _discard(first)
                with self.lock:
                    if ok:
                        self.other_hits += 1
                    else:
                        self.misses += 1
                if ok:
                    return value.value if type(value) is Ready else value
                del flight
                try:
                    raise value
                finally:
                    del value  # see _lead
            pending, first = first, MISS
            try:
                return await self._alead(key, flight, args, kwargs, pending)
            finally:
                del flight, pending  # see _lead

    async def _alead(
        self, key: Any, flight: _AsyncFlight, args: tuple[Any, ...], kwargs: dict[str, Any], pending: Any = MISS
    ) -> Any:
        if LISTENERS:
            emit("miss", self.qualname)
        ok = False
        shared: Any = _RETRY
        try:
            if pending is MISS:
                pending = self.call(*args, **kwargs)
            # A coroutine function seen through a wrapper may return a plain
            # value after all: take it as it is.
            result = await _awaited(pending)
            del pending
            ok = True
            shared = self._keep(key, flight.generation, result, ready=self.returns_awaitable)
            return result
        except Exception as error:
            shared = self._keep_error(key, flight.generation, error)
            raise
        finally:
            # Cancellation leaves shared at _RETRY: the key is not poisoned,
            # waiters retry and one of them computes.
            with self.lock:
                if self.aflights.get(key) is flight:
                    del self.aflights[key]
                self.finished += 1
            flight.finish(ok, shared)
            del flight, shared  # see _lead


def unkeyable_error(
    qualname: str, found: list[tuple[str, str, str]], err: Exception, *, what: str, attrs_fix: str, args_fix: str
) -> TypeError:
    """One error naming every argument and key attribute that cannot join the key, and the ways out."""
    args = [name for kind, name, _ in found if kind == "argument"]
    attrs = [name for kind, name, _ in found if kind == "key_attrs"]
    nouns = {"argument": "argument", "key_attrs": "key attribute"}
    if len(found) == 1:
        kind, name, why = found[0]
        subject = f"{nouns[kind]} {name!r} cannot {what} ({why})"
    elif found:
        groups = []
        for kind, noun in nouns.items():
            items = [f"{name!r} ({why})" for k, name, why in found if k == kind]
            if items:
                groups.append(f"{noun}{'s' if len(items) > 1 else ''} {', '.join(items)}")
        subject = f"{' and '.join(groups)} cannot {what}"
    else:
        subject = f"an argument cannot {what} ({err})"
    fixes = []
    if args or not attrs:
        fixes.append(f"Leave {'them' if len(args) > 1 else 'it'} out of the key with ignore={args or ['name']!r}, "
                     + args_fix)
    if attrs:
        fixes.append(f"For key_attrs: {attrs_fix}")
    return TypeError(f"{qualname}(): {subject}. {'. '.join(fixes)}")


def freeze_problem(value: Any) -> str | None:
    """Why *value* cannot be frozen into a memory key, or None."""
    try:
        freeze(value)
    except UnkeyableError as error:
        return str(error)
    return None


def check_ignore(signature: inspect.Signature | None, options: Options, qualname: str) -> None:
    """Fail when ``ignore=`` names a parameter the method does not take."""
    if not options.ignore or signature is None:
        return
    unknown = sorted(options.ignore - set(signature.parameters))
    if unknown:
        raise TypeError(
            f"ignore= names {', '.join(map(repr, unknown))}, which {qualname}() does not take; "
            f"its parameters are: {', '.join(signature.parameters) or '(none)'}"
        )


def _attrs_reader(attrs_of: Callable[[], Any], names: tuple[str, ...]) -> Callable[[], tuple[Any, ...]]:
    """Read the ``key_attrs`` values (names or dotted paths) that join every key, naming a missing one clearly."""
    get = operator.attrgetter(*names)
    one = len(names) == 1

    def read() -> tuple[Any, ...]:
        obj = attrs_of()
        try:
            return (get(obj),) if one else get(obj)
        except AttributeError:
            raise _missing_attr(obj, names) from None

    return read


def _missing_attr(obj: Any, names: tuple[str, ...]) -> AttributeError:
    for name in names:
        value = obj
        for depth, part in enumerate(name.split(".")):
            if not hasattr(value, part):
                where = "this " + type(obj).__qualname__
                if depth:
                    where += f"'s {'.'.join(name.split('.')[:depth])} ({type(value).__qualname__})"
                return AttributeError(
                    f"key_attrs= names {name!r}, but {where} has no attribute {part!r}; "
                    "key_attrs lists instance attributes (or dotted paths) whose values tell instances apart"
                )
            value = getattr(value, part)
    return AttributeError(f"key_attrs= names {names!r}, and reading them raised AttributeError")


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
    signature, is_async = _cached_signature(sig_target, drop_first)
    if not qualname:
        found = getattr(target, "__qualname__", None)
        qualname = found if isinstance(found, str) else name
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
    )
    if state.options.key_attrs and attrs_of is None:
        raise TypeError(f"key_attrs= needs an instance, but {qualname} is not bound to one")
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
    # One dict, not eight attribute stores: this runs for every instance.
    fn.__dict__ = {
        "__wrapped__": wrapped,
        "__proxycache__": state,
        "cache_info": state.cache_info,
        "cache_stats": state.cache_stats,
        "cache_clear": state.cache_clear,
        "cache_parameters": state.cache_parameters,
        "cache_invalidate": state.cache_invalidate,
        "cache_refresh": state.cache_refresh,
    }
    return fn


def method_signature(func: Any) -> inspect.Signature | None:
    """The signature of a plain method without its first (self) parameter, or None."""
    return _signature(func, drop_first=True)


#: Signatures of plain functions, per function: working one out is the
#: costliest part of setting up a cached method, and every instance of a class
#: asks for the same ones. An entry is used while the function's code and
#: defaults are the ones it was made from: ``[code, defaults, kwdefaults,
#: is_async, signature, as a bound method's, without self]`` (the last two
#: filled on first use).
_signatures: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()
# Read through the underlying dict: WeakKeyDictionary.get is a Python call,
# and weakref.ref(func) hands back the function's existing reference.
_signatures_data: dict[Any, list[Any]] = _signatures.data  # type: ignore[attr-defined]
_weakref = weakref.ref
_FunctionType = type(_signature_probe := lambda: None)
del _signature_probe
_MethodType = type(CacheInfo.__repr__.__get__(CacheInfo(0, 0, 0, 0)))
_UNSET: Any = object()


def _cached_signature(target: Any, drop_first: bool) -> tuple[inspect.Signature | None, bool]:
    """``(_signature(target, drop_first), _is_async(target))``, from the cache for plain functions and methods."""
    func = target
    bound = type(target) is _MethodType
    if bound:
        func = target.__func__
    if type(func) is not _FunctionType or (bound and drop_first):
        return _signature(target, drop_first), _is_async(target)
    own = func.__dict__
    if own and ("__signature__" in own or "_partialmethod" in own):
        return _signature(target, drop_first), _is_async(target)
    entry = _signatures_data.get(_weakref(func))
    if (
        entry is None
        or entry[0] is not func.__code__
        or entry[1] is not func.__defaults__
        or entry[2] is not func.__kwdefaults__
    ):
        entry = [func.__code__, func.__defaults__, func.__kwdefaults__, _is_async(func), _signature(func, False),
                 _UNSET, _UNSET]
        _signatures[func] = entry
    if bound:
        if entry[5] is _UNSET:
            entry[5] = _without_first(entry[4], True)
        return entry[5], entry[3]
    if drop_first:
        if entry[6] is _UNSET:
            entry[6] = _without_first(entry[4], False)
        return entry[6], entry[3]
    return entry[4], entry[3]


def _without_first(sig: inspect.Signature | None, bound: bool) -> inspect.Signature | None:
    """*sig* as a bound method's (``bound``, as ``inspect.signature`` has it) or as ``_signature`` drops self."""
    if sig is None:
        return None
    params = list(sig.parameters.values())
    if params and params[0].kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
        return sig.replace(parameters=params[1:])
    if bound and params and params[0].kind is inspect.Parameter.VAR_POSITIONAL:
        return sig  # self arrives in *args
    return None  # inspect.signature raises for such a bound method; _signature gives up


def _signature(target: Any, drop_first: bool) -> inspect.Signature | None:
    try:
        # follow_wrapped=False: we call the outer callable, so we mirror its real signature.
        sig = inspect.signature(target, follow_wrapped=False)
    except (TypeError, ValueError):
        return None
    if drop_first:
        params = list(sig.parameters.values())
        if not params or params[0].kind not in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            return None
        sig = sig.replace(parameters=params[1:])
    return sig


def _is_async(target: Any) -> bool:
    """Whether calling *target* gives a coroutine, also through plain ``functools.wraps`` decorators.

    SDKs (openai's ``AsyncCompletions.create``) put a sync wrapper with
    ``functools.wraps`` over a coroutine function; the chain of
    ``__wrapped__`` tells. Only functions' own ``__wrapped__`` is followed:
    dynamic objects answer any attribute (xmlrpc's remote methods would
    name a remote ``__wrapped__`` method, and so on without end).
    """
    if inspect.iscoroutinefunction(target):
        return True
    func = getattr(target, "__func__", target)
    for _ in range(32):  # a __wrapped__ cycle must not hang the wrap
        if inspect.iscoroutinefunction(func):
            return True
        if not inspect.isfunction(func):
            return False
        func = func.__dict__.get("__wrapped__")
        func = getattr(func, "__func__", func)
    return False


_GENERATOR_FLAGS = inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR


def uncacheable_reason(value: Any) -> str | None:
    """Why *value* (an attribute) must not be wrapped at all, or None."""
    func = getattr(value, "__func__", value)
    if type(func) is _FunctionType and not func.__code__.co_flags & _GENERATOR_FLAGS:
        return None  # the common case, without inspect's unwrapping (on every first access)
    if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
        return "it is a generator function (its results are one-shot iterators)"
    return None


def state_of(func: Any) -> CachedMethod | None:
    """The :class:`CachedMethod` behind a cached callable, or None."""
    if type(func) is _MethodType:
        # Its function answers; asked through the method, a missing name
        # raises (and formats) an AttributeError first: every first access asks.
        func = func.__func__
    state = getattr(func, "__proxycache__", None)
    return state if isinstance(state, CachedMethod) else None
