"""Get-or-compute for coroutines: the same steps as the thread driver, with the call, the wait and the store awaited."""

from __future__ import annotations

import functools
import time
from typing import Any

from . import _bypass
from ._codegen import FLAGGED, MISSED, UNHASHABLE
from ._events import LISTENERS, emit
from ._flight import RETRY, AsyncFlight
from ._getorcompute import _AGAIN, _HIT, _RECORD, _REENTER, _STALE, _WAIT, LATER, NO_STREAMS, GetOrCompute
from ._keys_strict import strict_key
from ._lifetime import OPTION, REJECT
from ._miss import MISS
from ._outcome import Raised, Ready, awaited, discard, replayed, shared_error


class AsyncDriver(GetOrCompute):
    """The coroutine driver of get-or-compute: nothing in it blocks the event loop."""

    async def _aslow(self, why: int, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if why == FLAGGED and _bypass.is_bypassed():
            return await awaited(self.call(*args, **kwargs))
        if why == UNHASHABLE:
            key = self._frozen(key)  # frozen, a boolean in a tuple argument is tagged already
        else:
            key = strict_key(self._hashable(key) if why != MISSED else key, args, kwargs)
        return await self._amiss(key, args, kwargs)

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
        held = self._held_lease()
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
        if self.streams is not NO_STREAMS:
            return result, _RECORD  # the leader records it, or keeps it if it is no stream
        return result, await self._akeep(key, generation, result, ready=self.returns_awaitable)

    async def _akeep(self, key: Any, generation: int, result: Any, ready: bool = False) -> Any:
        """:meth:`_keep` for the coroutine driver: the store awaited."""
        shared, ttl = self._admit(result)
        if ttl is not REJECT:
            await self._astore(key, generation, Ready(result) if ready else result, ttl)
        return shared

    async def _akeep_error(self, key: Any, generation: int, error: Exception) -> Exception:
        ttl = self._error_ttl(error)
        if ttl is not REJECT:
            # Hits in other threads (other loops) raise it too: kept as they may (see _outcome.COPY_ERRORS).
            await self._astore(key, generation, Raised(shared_error(error)), ttl)
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

    async def _astale_on_error(self, key: Any) -> Any:
        """:meth:`_stale_on_error` for the coroutine driver: the store awaited."""
        if not self.stale:
            return MISS
        if self.io_outside:
            return self._stale_of(await self.storage.alookup(key))
        return self._stale_on_error(key)  # memory: nothing to await

    async def _arefresh_key(self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """The same as a task, for coroutine methods."""
        flight = self._lead_refresh(key, self.aflights, self.aflight_kind)
        if flight is not None:
            await self._alead(key, flight, args, kwargs)
