"""The ``"lru"`` and ``"lfu"`` storages without the GIL: hits take no lock and leave their bookkeeping for later.

With the GIL, an ``"lru"`` hit moves its entry to the end of the
``OrderedDict`` itself, and an ``"lfu"`` hit adds one to its use count: one
step of the interpreter's each, which no other thread interrupts. Without
it, the move is not safe against another thread's insert or eviction in the
same dict (CPython 3.13 guards only ``pop``), and the count's read and write
may straddle an eviction; a lock on every hit costs more than the rest of
the hit. So a hit reads its entry (a ``dict`` read is safe without a lock)
and appends its key to ``touched`` (a list, whose appends are atomic). The
bookkeeping is done, oldest hit first, by whoever next reads the order or
the counts or adds to them (a miss's look, insert or eviction, a walk of
the entries), always under the method's lock, and by every
``_flags.DRAIN_EVERY``-th call (the hit counter's tick tells which), so a
cache that only hits keeps at most that many keys waiting. The order and
the counts are the hits' whenever they are used: evictions are exactly
LRU's and LFU's.

This module is loaded only without the GIL (see ``_storage_choice``).
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Any

from ._hit import Hit
from ._storage import LFUStorage, LRUStorage, Storage

_consume = deque  # deque(iterable, 0) runs an iterator to its end in C
#: The hit of both: read, then record the key (``_pc_drain``, under ``_pc_lock``, every DRAIN_EVERY-th tick).
_HIT = Hit("_pc_data[{key}]", after=("_pc_touched({key})",), drains=True)


def _taken(touched: list[Any]) -> list[Any]:
    """The keys in *touched* now, taken out of it (other threads' hits may append meanwhile: those stay)."""
    n = len(touched)
    keys = touched[:n]
    del touched[:n]
    return keys


class _Touched(Storage):
    """What both keep: the keys of the hits since the last drain, and the ways in that drain first.

    Every way in that reads the order or the counts, or starts one (an index's
    put goes through the hooks); a miss's look and put test for waiting keys
    first, a call fewer. A removal needs no drain: later drains skip a key
    removed, and one comes before it is stored again.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Keys of hits since the last drain, oldest first.
        self.touched: list[Any] = []

    def bindings(self) -> dict[str, Any]:
        return {"_pc_data": self.data, "_pc_touched": self.touched.append, "_pc_drain": self.drain}

    def drain(self) -> None:
        """Apply the hits since the last drain (under the lock)."""
        raise NotImplementedError

    def lookup(self, key: Any) -> Any:
        if self.touched:
            self.drain()
        return super().lookup(key)

    def put(self, key: Any, value: Any) -> bool:
        if self.touched:
            self.drain()
        return super().put(key, value)

    def _victim(self) -> Any:
        self.drain()
        return super()._victim()

    def _cleared(self) -> None:
        self.touched.clear()
        super()._cleared()


class TouchedLRUStorage(_Touched, LRUStorage):
    """``"lru"`` without the GIL: the hits' moves are made under the lock, before anything reads or changes the order.

    The entries stay an exact ``OrderedDict``: a hit's read of a subclass
    would go through the type's ``__getitem__`` slot (about 250 instructions
    more, and a type-cache lookup that other types can evict).
    """

    HIT = _HIT

    def drain(self) -> None:
        """Move the keys hit since the last drain to the end, in the order of their hits."""
        if not self.touched:
            return
        data = self.data
        # Each key once, where it was hit last, in the order of those last hits: the order the moves
        # one by one would leave, for a move per key, not per hit. All in C: this runs every
        # DRAIN_EVERY calls, and a loop in Python would cost each hit more than the lock it saves.
        last = reversed(dict.fromkeys(reversed(_taken(self.touched))))
        _consume(map(data.move_to_end, filter(data.__contains__, last)), 0)  # type: ignore[attr-defined]

    def keys(self) -> list[Any]:
        self.drain()
        return super().keys()

    def _inserted(self, key: Any) -> None:
        # Stored by a put that did not drain first (an index's): what was hit before it goes before it.
        if self.touched:
            self.drain()
            self.data.move_to_end(key)  # type: ignore[attr-defined]
        super()._inserted(key)


class TouchedLFUStorage(_Touched, LFUStorage):
    """``"lfu"`` without the GIL: hits' counts are added under the lock, before anything reads or changes them."""

    HIT = _HIT

    def drain(self) -> None:
        """Add the hits since the last drain to their entries' use counts."""
        if not self.touched:
            return
        uses = self.uses
        for key, times in Counter(_taken(self.touched)).items():  # counted in C; a loop per key, not per hit
            # Not removed since (a key stored again is counted afresh: every insert drains before it counts).
            if key in uses:
                uses[key] += times

    def _inserted(self, key: Any) -> None:
        self.drain()
        super()._inserted(key)
