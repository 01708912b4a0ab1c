"""Storages over another: a user's mapping (``cache=``, a cachetools class as ``policy=``), ``ttl=`` over any.

Loaded by the methods that use one (``_storage_choice``).
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import OrderedDict
from collections.abc import Callable, MutableMapping
from typing import Any

from . import _clock
from ._hit import Hit
from ._lifetime import OPTION, Expired, Lifetime
from ._miss import MISS
from ._storage import Storage


class MappingStorage(Storage):
    """A mapping: from ``cache=``, or a cachetools class given as ``policy=``.

    cachetools caches change on reads (LRU order, LFU counts), so hits run
    under the lock too. Statistics name a cachetools cache's class as the
    policy, and any other mapping ``"custom"``.
    """

    HIT = Hit("_pc_data[{key}]", lock=True)
    policy = "custom"

    def __init__(self, mapping: MutableMapping[Any, Any]) -> None:
        from ._cachetools import label  # loaded by the few who pass mappings

        self.data = mapping  # type: ignore[assignment]
        self.policy = label(mapping)  # type: ignore[misc]
        self.maxsize = getattr(mapping, "maxsize", None)
        self.getsizeof = None
        self.sizes = None
        self._size = 0

    def lookup(self, key: Any) -> Any:
        try:
            return self.data[key]
        except KeyError:
            return MISS

    def peek(self, key: Any) -> Any:
        try:
            return self.data[key]
        except KeyError:
            return MISS

    def currsize(self) -> int:
        size = getattr(self.data, "currsize", None)
        return len(self.data) if size is None else int(size)

    def put(self, key: Any, value: Any) -> bool:
        if self.maxsize == 0:  # caches nothing: a cachetools cache would keep a result that getsizeof sizes 0
            return False
        try:
            self.data[key] = value
        except ValueError:  # cachetools: value too large for the cache
            self.data.pop(key, None)  # and it keeps the key's older value: drop that
            return False
        return True

    def delete(self, key: Any) -> bool:
        try:
            del self.data[key]
        except KeyError:
            return False
        return True

    def clear(self) -> None:
        self.data.clear()


class TTLStorage(Storage):
    """Adds an expiry time to the entries of any policy's storage.

    Entries are ``(value, expires_at)``. Since every entry lives the same
    ``ttl``, the order of last writes is the order of expiry, so purging the
    expired ones is a walk from the front of an ordered dict.
    """

    def __init__(self, inner: Storage, ttl: float, timer: Callable[[], float] | None = None) -> None:
        self.inner = inner
        self.ttl = ttl
        # Bound once: the hit path calls it by a local name (see ``_clock``).
        self.timer = timer if timer is not None else _clock.current()
        self.expiry: OrderedDict[Any, float] = OrderedDict()
        self.HIT = inner.HIT.replace(expires=True)  # type: ignore[misc]
        self.policy = inner.policy  # type: ignore[misc]
        self.maxsize = inner.maxsize
        self.data = inner.data
        sizeof = inner.getsizeof
        if sizeof is not None:
            # The inner storage holds (value, expires) entries: size the value.
            inner.getsizeof = lambda entry: sizeof(entry[0])

    def bindings(self) -> dict[str, Any]:
        return {**self.inner.bindings(), "_pc_now": self.timer}

    def purge(self) -> None:
        now = self.timer()
        expiry = self.expiry
        while expiry:
            key, when = next(iter(expiry.items()))
            if when > now:
                break
            del expiry[key]
            self.inner.delete(key)

    def lookup(self, key: Any) -> Any:
        entry = self.inner.lookup(key)
        if entry is MISS or entry[1] <= self.timer():
            return MISS
        return entry[0]

    def peek(self, key: Any) -> Any:
        entry = self.inner.peek(key)
        if entry is MISS or entry[1] <= self.timer():
            return MISS
        return entry[0]

    def __len__(self) -> int:
        self.purge()
        return len(self.inner)

    def currsize(self) -> int:
        self.purge()
        return self.inner.currsize()

    def keys(self) -> list[Any]:
        self.purge()
        return self.inner.keys()

    def put(self, key: Any, value: Any) -> bool:
        self.purge()
        expires = self.timer() + self.ttl
        stored = self.inner.put(key, (value, expires))
        self.expiry.pop(key, None)
        if stored:
            self.expiry[key] = expires
        # Evictions by the inner policy leave stale expiry records; drop them lazily.
        if len(self.expiry) > 2 * len(self.inner) + 16:
            for k in [k for k in self.expiry if self.inner.peek(k) is MISS]:
                del self.expiry[k]
        return stored

    def delete(self, key: Any) -> bool:
        live = self.peek(key) is not MISS  # an expired entry was not there to drop
        self.expiry.pop(key, None)
        return self.inner.delete(key) and live

    def clear(self) -> None:
        self.expiry.clear()
        self.inner.clear()


class TimedStorage(TTLStorage):
    """A :class:`TTLStorage` whose entries each have their own lifetime, and are kept through a stale window.

    The inner storage holds ``(value, expires)`` pairs as for a plain
    ``ttl``, so the hit path is the same lines: past ``expires`` a hit is a
    miss. Beside them, ``times`` keeps each key's ``(created, stale_until)``
    and a heap orders the keys by ``stale_until`` to purge them: lifetimes
    read from results do not expire in the order they were written.
    """

    def __init__(self, inner: Storage, lifetime: Lifetime, timer: Callable[[], float] | None = None) -> None:
        super().__init__(inner, math.inf if lifetime.ttl is None else lifetime.ttl, timer)
        self.lifetime = lifetime
        self.stale = lifetime.stale
        self.times: dict[Any, tuple[float, float, int]] = {}  # key -> (created, stale_until, seq)
        self._heap: list[tuple[float, int, Any]] = []
        self._seq = itertools.count()

    def purge(self) -> None:
        now = self.timer()
        heap, times = self._heap, self.times
        while heap and heap[0][0] <= now:
            _, seq, key = heapq.heappop(heap)
            held = times.get(key)
            if held is not None and held[2] == seq:
                del times[key]
                self.inner.delete(key)

    def put(self, key: Any, value: Any, ttl: Any = OPTION) -> bool:
        """Store *value* fresh for *ttl* seconds (default: the ``ttl`` option; None: no expiry), then stale."""
        self.purge()
        if ttl is OPTION:
            ttl = self.lifetime.ttl
        # The times of ``_entry.Entry.make(None, ttl, self.stale, now)``, without making one.
        created = self.timer()
        expires = math.inf if ttl is None else created + ttl
        stale_until = expires + self.stale
        stored = self.inner.put(key, (value, expires))
        self.times.pop(key, None)
        if stored:
            seq = next(self._seq)
            self.times[key] = (created, stale_until, seq)
            if not math.isinf(stale_until):
                heapq.heappush(self._heap, (stale_until, seq, key))
        # Evictions by the inner policy leave records behind: drop them now and then.
        if len(self.times) > 2 * len(self.inner) + 16:
            self.times = {k: t for k, t in self.times.items() if self.inner.peek(k) is not MISS}
            self._heap = [(t[1], t[2], k) for k, t in self.times.items() if not math.isinf(t[1])]
            heapq.heapify(self._heap)
        return stored

    def lookup(self, key: Any) -> Any:
        """The value for *key* while fresh; :class:`Expired` while it may be served stale; else MISS."""
        found = self.inner.lookup(key)
        if found is MISS:
            return MISS
        value, expires = found
        now = self.timer()
        if now < expires:
            return value
        held = self.times.get(key)
        if held is not None and now < held[1]:
            from ._entry import Entry  # loaded already: stale serving (_stale) needs it

            return Expired(Entry(value, held[0], expires, held[1]), now)
        return MISS

    def delete(self, key: Any) -> bool:
        live = self.peek(key) is not MISS
        self.times.pop(key, None)
        return self.inner.delete(key) and live

    def clear(self) -> None:
        self.times.clear()
        self._heap.clear()
        self.inner.clear()
