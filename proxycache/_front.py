"""The front cache: a small in-process tier of decoded values in front of a remote store.

The one module that knows a front entry's layout, ``(value, expires)`` with
``expires`` on the monotonic clock: :class:`FrontTable` reads and writes the
entries of one cached method, and gives the generated hit its recipe for
reading them inline.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from typing import Any

from ._contract import Front
from ._hit import Hit
from ._miss import MISS
from ._store_base import namespace_of


class FrontCache:
    """A small in-process tier in front of a remote store.

    Holds decoded results per namespace for at most *ttl* seconds, so hot
    hits cost about what memory hits cost. Writes and invalidations made
    through this process drop or replace front entries at once. Writes by
    other processes are seen at once when the store tells this process about
    them (Redis client tracking, :meth:`invalidate`); otherwise once the front
    entry expires (after *ttl*).
    """

    def __init__(self, maxsize: int, ttl: float) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError(f"front_maxsize must be a positive int (0 turns the front cache off), not {maxsize!r}")
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0:
            raise ValueError(f"front_ttl must be positive seconds, not {ttl!r}")
        self.maxsize = maxsize
        self.ttl = float(ttl)
        #: Bumped by every invalidation from outside: a value read from the store before
        #: the bump may be older than the write that caused it, and is not remembered.
        self.epoch = 0
        #: True while the store reports other processes' writes at once (Redis client tracking).
        self.tracking = False
        self._tables: dict[str, dict[Any, tuple[Any, float]]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FrontCache(maxsize={self.maxsize}, ttl={self.ttl:g}, tracking={self.tracking})"

    def table(self, namespace: str) -> dict[Any, tuple[Any, float]]:
        """The entries of *namespace* (memory key -> (value, expires_at)); one dict per namespace."""
        with self._lock:
            return self._tables.setdefault(namespace, {})

    def drop(self, namespace: str | None = None) -> None:
        """Forget the entries of *namespace* (of every namespace when None)."""
        with self._lock:
            tables = list(self._tables.items())
        for name, table in tables:
            if namespace is None or name == namespace:
                table.clear()

    def invalidate(self, key: str | None) -> None:
        """Another process wrote or removed the store key *key* (None: the store was flushed).

        The front is keyed by the method's memory keys, which a store key's
        digest does not give back, so the key's whole namespace is dropped.
        """
        self.epoch += 1
        self.drop(None if key is None else namespace_of(key))


class FrontTable:
    """The front entries of one cached method (one namespace), as its storage reads and writes them.

    An entry lives ``ttl`` seconds at most (the front's ``front_ttl``, or the
    method's ``ttl`` when shorter) and never past the store entry it copies.
    The table keeps at most the front's ``maxsize`` entries, dropping the
    oldest first.
    """

    __slots__ = ("_cache", "_entries", "maxsize", "ttl")

    def __init__(self, cache: Front, namespace: str, entry_ttl: float | None) -> None:
        self._cache = cache
        self._entries = cache.table(namespace)
        self.ttl = min(cache.ttl, entry_ttl or cache.ttl)
        self.maxsize = cache.maxsize

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def epoch(self) -> int:
        """The front's count of invalidations from outside: read it before a store read, pass it to :meth:`remember`."""
        return self._cache.epoch

    def hit(self, fallback: str) -> Hit:
        """The hit recipe: the entry read inline in the caller's frame; *fallback* when missing or expired."""
        return Hit("_pc_front[{key}]", expires=True, fallback=fallback)

    def bindings(self) -> dict[str, Any]:
        """The names :meth:`hit` reads."""
        return {"_pc_front": self._entries, "_pc_now": time.monotonic}

    def get(self, key: Any) -> Any:
        """The value for *key* while its entry lives, or MISS."""
        entry = self._entries.get(key)
        if entry is not None and entry[1] > time.monotonic():
            return entry[0]
        return MISS

    def remember(self, key: Any, value: Any, expires: float = math.inf, epoch: int | None = None) -> None:
        """Keep *value* for ``ttl``, and never past *expires* (monotonic).

        With *epoch* (as read before the store read that found *value*), not
        when an invalidation from outside came meanwhile: the value may be
        older than the write that caused it.
        """
        if epoch is not None and epoch != self._cache.epoch:
            return
        entries = self._entries
        if len(entries) >= self.maxsize and key not in entries:
            # StopIteration/RuntimeError: emptied or resized by another thread meanwhile.
            with contextlib.suppress(StopIteration, RuntimeError):
                entries.pop(next(iter(entries)), None)
        entries[key] = (value, min(time.monotonic() + self.ttl, expires))

    def discard(self, key: Any) -> None:
        """Forget *key*'s entry: the store is about to change under it."""
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()
