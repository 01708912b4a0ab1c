"""The front cache: a small in-process tier of decoded values in front of a remote store."""

from __future__ import annotations

import threading
from typing import Any

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
