"""The ``"lru"`` and ``"lfu"`` storages without the GIL: hits take no lock and leave their bookkeeping for later.

With the GIL, an ``"lru"`` hit moves its entry to the end of the
``OrderedDict`` itself, and an ``"lfu"`` hit adds one to its use count: one
step of the interpreter's each, which no other thread interrupts. Without
it, the move is not safe against another thread's insert or eviction in the
same dict (CPython 3.13 guards only ``pop``), and the count's read and write
may straddle an eviction; a lock on every hit costs more than the rest of
the hit. So a hit reads its entry (a ``dict`` read is safe without a lock)
and appends its key to ``touched`` (a list, whose appends are atomic). The
bookkeeping is done, oldest hit first, by whoever next reads or changes
the order or the counts (a miss's look, insert or eviction, an
invalidation, a walk of the entries), always under the method's lock, and
by every ``_flags.DRAIN_EVERY``-th hit, so a cache that only hits keeps at
most that many keys waiting. The order and the counts are the hits'
whenever they are used: evictions are exactly LRU's and LFU's.

This module is loaded only without the GIL (see ``_storage_choice``).
"""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from collections.abc import Iterator
from typing import Any

from ._codegen import Hit
from ._storage import LFUStorage, LRUStorage

_move_to_end = OrderedDict.move_to_end
_setitem = OrderedDict.__setitem__
_popitem = OrderedDict.popitem
_consume = deque  # deque(iterable, 0) runs an iterator to its end in C
#: The hit of both: read, then record the key (``_pc_drain``, under ``_pc_lock``, every DRAIN_EVERY-th tick).
_HIT = Hit("_pc_data[{key}]", after=("_pc_touched({key})",), drains=True)


def _taken(touched: list[Any]) -> list[Any]:
    """The keys in *touched* now, taken out of it (other threads' hits may append meanwhile: those stay)."""
    n = len(touched)
    keys = touched[:n]
    del touched[:n]
    return keys


class TouchedOrderedDict(OrderedDict[Any, Any]):
    """An ``OrderedDict`` whose hits append keys to ``touched``; every change or walk first moves them.

    Reads of one key (``d[key]``, ``get``, ``in``, ``len``) are the dict's
    own, in C. Everything that depends on the order or changes it
    :meth:`drain` first, so any code that keeps an LRU order in it (the
    storages' puts, written out or not) keeps it exact.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        #: Keys of hits since the last drain, oldest first.
        self.touched: list[Any] = []
        super().__init__(*args, **kwargs)

    def drain(self) -> None:
        """Move the keys hit since the last drain to the end, in the order of their hits (under the lock)."""
        if not self.touched:
            return
        # Each key once, where it was hit last, in the order of those last hits: the order the moves
        # one by one would leave, for a move per key, not per hit. All in C: this runs every
        # DRAIN_EVERY hits, and a loop in Python would cost each hit more than the lock it saves.
        last = reversed(dict.fromkeys(reversed(_taken(self.touched))))
        _consume(map(_move_to_end.__get__(self), filter(self.__contains__, last)), 0)

    # A miss inserts and evicts: those two test for keys waiting, and call the base class's C methods
    # (super() would cost each miss two calls more).

    def __setitem__(self, key: Any, value: Any) -> None:
        if self.touched:
            self.drain()
        _setitem(self, key, value)

    def popitem(self, last: bool = True) -> tuple[Any, Any]:
        if self.touched:
            self.drain()
        return _popitem(self, last)

    def __delitem__(self, key: Any) -> None:
        self.drain()
        super().__delitem__(key)

    def move_to_end(self, key: Any, last: bool = True) -> None:
        self.drain()
        super().move_to_end(key, last)

    def pop(self, key: Any, *default: Any) -> Any:
        self.drain()
        return super().pop(key, *default)

    def clear(self) -> None:
        self.touched.clear()
        super().clear()

    def __iter__(self) -> Iterator[Any]:
        self.drain()
        return super().__iter__()

    def __reversed__(self) -> Iterator[Any]:
        self.drain()
        return super().__reversed__()

    def keys(self) -> Any:
        self.drain()
        return super().keys()

    def values(self) -> Any:
        self.drain()
        return super().values()

    def items(self) -> Any:
        self.drain()
        return super().items()


class TouchedLRUStorage(LRUStorage):
    """``"lru"`` without the GIL: its entries are a :class:`TouchedOrderedDict`."""

    HIT = _HIT
    _DATA = TouchedOrderedDict

    def bindings(self) -> dict[str, Any]:
        data: Any = self.data
        return {"_pc_data": data, "_pc_touched": data.touched.append, "_pc_drain": data.drain}


class TouchedLFUStorage(LFUStorage):
    """``"lfu"`` without the GIL: hits' counts are added under the lock, before anything reads or changes them."""

    HIT = _HIT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Keys of hits since the last drain.
        self.touched: list[Any] = []

    def bindings(self) -> dict[str, Any]:
        return {"_pc_data": self.data, "_pc_touched": self.touched.append, "_pc_drain": self.drain}

    def drain(self) -> None:
        """Add the hits since the last drain to their entries' use counts (under the lock)."""
        if not self.touched:
            return
        uses = self.uses
        for key, times in Counter(_taken(self.touched)).items():  # counted in C; a loop per key, not per hit
            # Not removed since (a key stored again is counted afresh: every insert drains before it counts).
            if key in uses:
                uses[key] += times

    # Every way in that reads the counts or starts one (an index's put goes through the hooks).

    def lookup(self, key: Any) -> Any:
        self.drain()
        return super().lookup(key)

    def put(self, key: Any, value: Any) -> bool:
        self.drain()
        return super().put(key, value)

    def _victim(self) -> Any:
        self.drain()
        return super()._victim()

    def _inserted(self, key: Any) -> None:
        self.drain()
        super()._inserted(key)

    def _cleared(self) -> None:
        self.touched.clear()
        super()._cleared()
