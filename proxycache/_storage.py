"""In-memory storage for one cached method of one instance, one class per policy.

Each storage states its cache hit as a recipe (``HIT``, a ``_hit.Hit``:
the read expression, the bookkeeping after it, whether it needs the lock,
whether entries expire) that the cached callable is composed from: a hit is
then a dict lookup in the caller's frame, not a method call. Everything else
(insert, evict, delete) runs on a miss, under the cached method's lock.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, ClassVar

from ._hit import Hit
from ._miss import MISS
from ._outcome import result_sizer


class Storage:
    """Base: a dict of entries plus the bookkeeping its policy needs."""

    HIT: ClassVar[Hit] = Hit("_pc_data[{key}]")
    policy: ClassVar[str] = "lru"
    #: What the entries are kept in.
    _DATA: ClassVar[type[dict[Any, Any]]] = dict
    #: The entries are the values, in ``data`` by key (no expiry, no mapping of the user's): a miss reads it.
    plain: ClassVar[bool] = False
    # Without getsizeof (most storages), these stay the class's: a first access makes a storage.
    getsizeof: Callable[[Any], int] | None = None
    sizes: dict[Any, int] | None = None
    _size = 0

    def __init__(self, maxsize: int | None, getsizeof: Callable[[Any], int] | None) -> None:
        self.maxsize = maxsize
        self.data: dict[Any, Any] = self._DATA()
        if getsizeof:
            self.getsizeof = result_sizer(getsizeof)  # never handed proxycache's wrappers, never failing a call
            self.sizes = {}

    def bindings(self) -> dict[str, Any]:
        return {"_pc_data": self.data}

    # -- reading -------------------------------------------------------------

    def lookup(self, key: Any) -> Any:
        """The entry for *key* (counting as a use), or MISS."""
        try:
            return self.data[key]
        except KeyError:
            return MISS

    def peek(self, key: Any) -> Any:
        """The entry for *key* without touching its recency, or MISS."""
        return self.data.get(key, MISS)

    # Coroutine methods call these: in memory there is no I/O to await (a store's storage awaits it).

    async def alookup(self, key: Any) -> Any:
        """:meth:`lookup`, for the coroutine driver."""
        return self.lookup(key)

    async def aput(self, key: Any, value: Any) -> bool:
        """:meth:`put`, for the coroutine driver."""
        return bool(self.put(key, value))

    async def adelete(self, key: Any) -> bool:
        """:meth:`delete`, for the coroutine driver."""
        return bool(self.delete(key))

    def __len__(self) -> int:
        return len(self.data)

    def currsize(self) -> int:
        return self._size if self.sizes is not None else len(self.data)

    def keys(self) -> list[Any]:
        return list(self.data)

    # -- writing -------------------------------------------------------------

    def put(self, key: Any, value: Any) -> bool:
        """Store *value*, evicting as the policy says. False if it cannot fit.

        Every case: sizes, maxsize=0, a key already there, and the policy's
        hooks. The policies write out the steps of their common miss and
        come here for the rest.
        """
        maxsize = self.maxsize
        if maxsize == 0:  # caches nothing, whatever a result's size (getsizeof may say 0)
            return False
        size = 1
        if self.sizes is not None:
            size = self.getsizeof(value)  # type: ignore[misc]
            if maxsize is not None and size > maxsize:
                # The key's older value must not outlive a newer one that does not fit.
                if key in self.data:
                    self._remove(key)
                return False
        data = self.data
        if key in data:
            self._remove(key)
        if maxsize is not None:
            if self.sizes is None:
                while len(data) >= maxsize:
                    self._remove(self._victim())
            else:
                while data and self._size + size > maxsize:
                    self._remove(self._victim())
        data[key] = value
        if self.sizes is not None:
            self.sizes[key] = size
            self._size += size
        self._inserted(key)
        return True

    def delete(self, key: Any) -> bool:
        if key not in self.data:
            return False
        self._remove(key)
        return True

    def clear(self) -> None:
        self.data.clear()
        if self.sizes is not None:
            self.sizes.clear()
        self._size = 0
        self._cleared()

    def _remove(self, key: Any) -> None:
        del self.data[key]
        if self.sizes is not None:
            self._size -= self.sizes.pop(key)
        self._removed(key)

    # -- policy hooks --------------------------------------------------------

    def _victim(self) -> Any:
        """The key to evict next."""
        return next(iter(self.data))

    def _inserted(self, key: Any) -> None:
        pass

    def _removed(self, key: Any) -> None:
        pass

    def _cleared(self) -> None:
        pass


class _FirstOut(Storage):
    """A policy that keeps no bookkeeping of its own and evicts the first key of an OrderedDict (LRU, FIFO)."""

    _DATA = OrderedDict

    def put(self, key: Any, value: Any) -> bool:
        maxsize = self.maxsize
        if self.sizes is None and maxsize:  # None, 0 and sizes take the general path
            # Every miss of a counted cache comes here: its steps written out, without the no-op hooks.
            data = self.data
            if key in data:
                del data[key]
            # A put keeps at most maxsize entries, so one eviction makes room (len() is no cheap call).
            if len(data) >= maxsize:
                # The victim is the first key, popped in one step (LRU hits reorder the dict
                # without the lock; popitem is one C call, see LRUStorage._victim).
                data.popitem(False)  # type: ignore[call-arg]
            data[key] = value
            return True
        return super().put(key, value)


class LRUStorage(_FirstOut):
    """Least recently used: a hit moves the entry to the back."""

    # Touch first, then `return _pc_data[x]`: no _pc_result to store and load.
    # move_to_end raises KeyError for a missing key; on an EMPTY OrderedDict it
    # does so without hashing, even for an unhashable key, hence `missed`.
    # (Without the GIL, that move is not safe against another thread's insert or eviction: see _storage_touched.)
    HIT = Hit(
        "_pc_data[{key}]",
        before=("_pc_touch({key})",),
        missed="_pc_MISSED if _pc_data else _pc_why_of({key})",
    )
    policy = "lru"
    plain = True

    def bindings(self) -> dict[str, Any]:
        return {"_pc_data": self.data, "_pc_touch": self.data.move_to_end}  # type: ignore[attr-defined]

    def lookup(self, key: Any) -> Any:
        try:
            value = self.data[key]
        except KeyError:
            return MISS
        self.data.move_to_end(key)  # type: ignore[attr-defined]
        return value

    def _victim(self) -> Any:
        # Hits reorder the dict without the lock. One landing between iter()
        # and next() fails the iterator ("mutated during iteration"): the
        # first key is still the one to evict, so just look again.
        while True:
            try:
                return next(iter(self.data))
            except RuntimeError:
                continue


class UnboundedStorage(Storage):
    """maxsize=None: nothing is ever evicted, so order needs no upkeep."""

    plain = True

    def put(self, key: Any, value: Any) -> bool:
        # Every miss comes here (no sizes: getsizeof makes a bounded storage), and nothing is evicted.
        data = self.data
        if key in data:
            del data[key]
        data[key] = value
        return True


class FIFOStorage(_FirstOut):
    """First in, first out: hits do not change the order."""

    # An OrderedDict pops its first entry in one step; a dict that has lost many from the front
    # walks past their empty slots to find it, on every eviction.
    policy = "fifo"
    plain = True


class RRStorage(Storage):
    """Random replacement: evicts a uniformly random entry."""

    policy = "rr"
    plain = True

    def __init__(self, maxsize: int | None, getsizeof: Callable[[Any], int] | None) -> None:
        super().__init__(maxsize, getsizeof)
        self._keys: list[Any] = []
        self._index: dict[Any, int] = {}
        self.choice = random.randrange

    def put(self, key: Any, value: Any) -> bool:
        maxsize = self.maxsize
        data = self.data
        if self.sizes is not None or maxsize == 0 or key in data:
            return super().put(key, value)
        # Every miss of a full cache comes here: eviction and its bookkeeping written out.
        keys, index = self._keys, self._index
        size = len(data)  # and of _keys: a put keeps at most maxsize, so one eviction makes room
        if maxsize is not None and size >= maxsize:
            # random() is one C call (randrange is several Python ones); for any size a cache
            # reaches, floor(random() * n) picks uniformly enough. The new key takes the victim's place.
            i = _floor(_random() * size)
            victim = keys[i]
            del data[victim], index[victim]
            keys[i] = key
            index[key] = i
        else:
            index[key] = size
            keys.append(key)
        data[key] = value
        return True

    def _victim(self) -> Any:
        return self._keys[self.choice(len(self._keys))]

    def _inserted(self, key: Any) -> None:
        self._index[key] = len(self._keys)
        self._keys.append(key)

    def _removed(self, key: Any) -> None:
        # Swap-remove keeps eviction O(1).
        i = self._index.pop(key)
        last = self._keys.pop()
        if i < len(self._keys):
            self._keys[i] = last
            self._index[last] = i

    def _cleared(self) -> None:
        self._keys.clear()
        self._index.clear()


class LFUStorage(Storage):
    """Least frequently used; ties go to the entry inserted first.

    A hit only bumps a counter. A new entry waits in an insertion-ordered
    dict (``_fresh``): while its count is zero it is evicted from there, the
    oldest first, in constant time (most of a miss-heavy workload's evictions).
    An entry found used by then moves to a heap of (uses, insertion) pairs
    that may be stale and are fixed up lazily, so a hit stays O(1) and an
    eviction is O(log n) amortized. An entry at zero uses always goes before
    one the heap holds, as (uses, insertion) order says.
    """

    # (Without the GIL, the count's read and write could straddle an eviction, which would leave a
    # count for an entry no longer held: see _storage_touched.)
    HIT = Hit("_pc_data[{key}]", after=("_pc_uses[{key}] += 1",))
    policy = "lfu"
    plain = True

    def __init__(self, maxsize: int | None, getsizeof: Callable[[Any], int] | None) -> None:
        super().__init__(maxsize, getsizeof)
        self.uses: dict[Any, int] = {}
        #: Insertion numbers of the entries not yet in the heap, oldest first. Ordered: evictions take
        #: from its front, which a dict finds only by walking past the slots of the keys it lost there.
        self._fresh: OrderedDict[Any, int] = OrderedDict()
        #: Insertion numbers of the entries in the heap.
        self._seq: dict[Any, int] = {}
        self._heap: list[tuple[int, int, Any]] = []
        self._counter = itertools.count()

    def bindings(self) -> dict[str, Any]:
        return {"_pc_data": self.data, "_pc_uses": self.uses}

    def lookup(self, key: Any) -> Any:
        try:
            value = self.data[key]
        except KeyError:
            return MISS
        self.uses[key] += 1
        return value

    def put(self, key: Any, value: Any) -> bool:
        maxsize = self.maxsize
        data = self.data
        if self.sizes is not None or maxsize == 0 or key in data:
            return super().put(key, value)
        # Every miss of a full cache comes here: _victim, _removed and _inserted written out.
        uses, fresh = self.uses, self._fresh
        if maxsize is not None and len(data) >= maxsize:  # a put keeps at most maxsize: one eviction
            while True:
                if fresh:
                    victim, seq = fresh.popitem(False)
                    if uses[victim]:
                        self._to_heap(victim, seq)  # used since it came: the heap orders it from now on
                        continue
                    # The oldest entry never used: every other comes after it.
                else:
                    victim = self._heap_victim()
                    del self._seq[victim]
                break
            del data[victim], uses[victim]
        data[key] = value
        uses[key] = 0
        fresh[key] = next(self._counter)
        return True

    def _to_heap(self, key: Any, seq: int) -> None:
        """Order *key* (taken out of ``_fresh``, inserted as number *seq*) by the heap from now on."""
        self._seq[key] = seq
        heap = self._heap
        heapq.heappush(heap, (self.uses[key], seq, key))
        if len(heap) > 2 * len(self._seq) + 16:
            self._heap = [(self.uses[k], s, k) for k, s in self._seq.items()]
            heapq.heapify(self._heap)

    def _heap_victim(self) -> Any:
        """The heap's least used entry (oldest among equals): stale pairs fixed on the way."""
        heap, seqs, uses = self._heap, self._seq, self.uses
        while True:
            count, seq, key = heap[0]
            if seqs.get(key) != seq:
                heapq.heappop(heap)  # entry of a removed key
            elif uses[key] != count:
                heapq.heapreplace(heap, (uses[key], seq, key))  # stale count
            else:
                heapq.heappop(heap)  # its entry goes with it
                return key

    def _victim(self) -> Any:
        fresh, uses = self._fresh, self.uses
        while fresh:
            key = next(iter(fresh))
            if not uses[key]:
                return key
            self._to_heap(key, fresh.pop(key))
        return self._heap_victim()  # popped from the heap: _remove follows

    def _inserted(self, key: Any) -> None:
        self.uses[key] = 0
        self._fresh[key] = next(self._counter)

    def _removed(self, key: Any) -> None:
        del self.uses[key]
        if self._fresh.pop(key, None) is None:
            del self._seq[key]

    def _cleared(self) -> None:
        self.uses.clear()
        self._fresh.clear()
        self._seq.clear()
        self._heap.clear()


_random = random.random
_floor = math.floor
