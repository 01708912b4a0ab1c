"""``MemoryStore``: objects shared by the instances of one process."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, ClassVar

from ._contract import NamespaceStats
from ._miss import MISS
from ._store_base import check_lease_ttl, check_saved, namespace_of, new_token


class MemoryStore:
    """Objects in this process, shared by every instance that uses the store.

    Least recently used entries go first beyond *maxsize*. Values are kept as
    they are (no serializer), so callers share the returned objects, as with
    per-instance memory caches. Leases (single flight between the threads
    and event loops of this process) and hit statistics live beside the
    entries. The ``a``-prefixed coroutines (``aget``...) answer at once: the
    store never waits on anything but its own short lock.
    """

    shared: ClassVar[bool] = True
    holds_objects: ClassVar[bool] = True
    kind: ClassVar[str] = "memory"
    front: ClassVar[None] = None

    def __init__(self, maxsize: int | None = 4096, *, stats: bool = False) -> None:
        if maxsize is not None and (isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1):
            raise ValueError(f"maxsize must be a positive int or None (unbounded), not {maxsize!r}")
        self.maxsize = maxsize
        self.stats = bool(stats)
        self._data: OrderedDict[str, tuple[Any, float | None]] = OrderedDict()
        self._leases: dict[str, tuple[str, float]] = {}
        self._hits: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryStore(maxsize={self.maxsize!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # A copy in another process starts empty: entries never travel.
        return (_rebuild, (self.maxsize, self.stats))

    def __copy__(self) -> MemoryStore:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> MemoryStore:
        return self

    def get(self, key: str) -> Any:
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return MISS
            if entry[1] is not None and entry[1] <= time.monotonic():
                del self._data[key]
                return MISS
            self._data.move_to_end(key)
            return entry[0]

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        expires = None if ttl is None else time.monotonic() + ttl
        with self._lock:
            self._data[key] = (value, expires)
            self._data.move_to_end(key)
            if self.maxsize is not None:
                while len(self._data) > self.maxsize:
                    self._data.popitem(last=False)

    def delete(self, key: str) -> bool:
        with self._lock:
            return self._data.pop(key, None) is not None

    def clear(self, namespace: str | None = None) -> int:
        with self._lock:
            if namespace is None:
                n = len(self._data)
                self._data.clear()
                return n
            doomed = [k for k in self._data if namespace_of(k) == namespace]
            for k in doomed:
                del self._data[k]
            return len(doomed)

    def keys(self, namespace: str | None = None) -> Iterator[str]:
        return iter([k for k, _ in self.scan(namespace)])

    def scan(self, namespace: str | None = None) -> Iterator[tuple[str, int]]:
        """(key, size in bytes) of live entries; sizes of objects other than bytes are 0."""
        now = time.monotonic()
        with self._lock:
            items = list(self._data.items())
        return iter([
            (k, len(v) if isinstance(v, (bytes, bytearray)) else 0)
            for k, (v, expires) in items
            if (namespace is None or namespace_of(k) == namespace) and (expires is None or expires > now)
        ])

    # -- leases ------------------------------------------------------------------

    def acquire_lease(self, key: str, ttl: float) -> str | None:
        """A token if nobody holds a live lease on *key* (then this caller does, for *ttl* seconds), else None."""
        ttl = check_lease_ttl(ttl)
        now = time.monotonic()
        with self._lock:
            held = self._leases.get(key)
            if held is not None and held[1] > now:
                return None
            token = new_token()
            self._leases[key] = (token, now + ttl)
            return token

    def renew_lease(self, key: str, token: str, ttl: float) -> bool:
        """Extend the lease to *ttl* seconds from now; False unless *token* holds it and it has not lapsed."""
        ttl = check_lease_ttl(ttl)
        now = time.monotonic()
        with self._lock:
            held = self._leases.get(key)
            if held is None or held[0] != token or held[1] <= now:
                return False
            self._leases[key] = (token, now + ttl)
            return True

    def release_lease(self, key: str, token: str) -> bool:
        """Give the lease up; False unless *token* holds it (a lapsed lease is nobody's to release)."""
        with self._lock:
            held = self._leases.get(key)
            if held is None or held[0] != token:
                return False
            del self._leases[key]
            return held[1] > time.monotonic()

    def lease_left(self, key: str) -> float | None:
        """Seconds until the lease on *key* lapses unless renewed; None when nobody holds it."""
        with self._lock:
            held = self._leases.get(key)
        left = None if held is None else held[1] - time.monotonic()
        return left if left is not None and left > 0 else None

    # -- statistics --------------------------------------------------------------

    def record_hit(self, namespace: str, saved_seconds: float = 0.0) -> None:
        """Count a hit in *namespace* that saved *saved_seconds* (nothing unless built with ``stats=True``)."""
        if not self.stats:
            return
        saved = check_saved(saved_seconds)
        with self._lock:
            row = self._hits.setdefault(namespace, [0, 0.0])
            row[0] += 1
            row[1] += saved

    def hit_stats(self, namespace: str | None = None) -> dict[str, NamespaceStats]:
        """Hits and saved seconds per namespace (of *namespace* only when given)."""
        with self._lock:
            rows = {ns: (int(h), s) for ns, (h, s) in self._hits.items() if namespace in (None, ns)}
        return {ns: NamespaceStats(h, s) for ns, (h, s) in sorted(rows.items())}

    # -- coroutines --------------------------------------------------------------

    async def aget(self, key: str) -> Any:
        return self.get(key)

    async def aset(self, key: str, value: Any, ttl: float | None = None) -> None:
        self.set(key, value, ttl)

    async def adelete(self, key: str) -> bool:
        return self.delete(key)

    async def aclear(self, namespace: str | None = None) -> int:
        return self.clear(namespace)

    async def aacquire_lease(self, key: str, ttl: float) -> str | None:
        return self.acquire_lease(key, ttl)

    async def arenew_lease(self, key: str, token: str, ttl: float) -> bool:
        return self.renew_lease(key, token, ttl)

    async def arelease_lease(self, key: str, token: str) -> bool:
        return self.release_lease(key, token)

    async def alease_left(self, key: str) -> float | None:
        return self.lease_left(key)

    async def arecord_hit(self, namespace: str, saved_seconds: float = 0.0) -> None:
        self.record_hit(namespace, saved_seconds)


def _rebuild(maxsize: int | None, stats: bool) -> MemoryStore:
    return MemoryStore(maxsize, stats=stats)
