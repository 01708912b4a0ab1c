"""``DiskStore``: entries in a directory, shared by the processes of one machine (diskcache, SQLite)."""

from __future__ import annotations

import math
import os
import stat
import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

from ._contract import NamespaceStats
from ._front import FrontCache
from ._miss import DIGEST_LENGTH, MISS, MissType
from ._store_base import (
    DIGEST_GLOB,
    LEASE_SUFFIX,
    Breaker,
    ForeignEntry,
    check_lease_ttl,
    check_retry_after,
    check_saved,
    in_thread,
    namespace_of,
    new_token,
    require,
)

#: Flags of a value file's open(): never wait on a FIFO's writer; binary on Windows (0 where absent).
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_BINARY = getattr(os, "O_BINARY", 0)

#: diskcache's mode of a row holding raw bytes (diskcache.core.MODE_RAW; not imported: diskcache loads on first use).
_MODE_RAW = 1

#: The table of hit statistics, beside diskcache's own tables in cache.db.
_STATS_TABLE = "proxycache_stats"


class DiskStore(Breaker):
    """Entries in a directory on this machine, safe for many processes and threads.

    Built on diskcache (SQLite in WAL mode, large values in files). When the
    directory grows past *size_limit* bytes, the least recently stored
    entries are evicted (``eviction_policy`` takes diskcache's names).
    *timeout* bounds how long an operation waits for a busy database before it
    counts as a fault. The directory is opened on first use; when it cannot be
    (read-only, missing permissions), calls run uncached and the store is
    tried again after *retry_after* seconds.

    Leases for single flight between processes are rows added with diskcache's
    atomic ``add`` and an expiry; renewing and releasing compare the token in
    a transaction; *lease_ttl* is how long a lease lives unless its holder
    renews it (it does while it computes), so how long a holder that died
    keeps the others waiting. With ``stats=True``, each :meth:`record_hit` adds to a
    per-namespace row of hits and saved seconds (one SQL statement). The
    ``a``-prefixed coroutines run the same calls in a worker thread, so an
    event loop never waits on SQLite. ``pip install 'proxycache[disk]'``.
    """

    shared: ClassVar[bool] = True
    holds_objects: ClassVar[bool] = False
    kind: ClassVar[str] = "disk"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        size_limit: int = 2**30,
        eviction_policy: str = "least-recently-stored",
        timeout: float = 1.0,
        retry_after: float = 1.0,
        front_maxsize: int = 0,
        front_ttl: float = 1.0,
        stats: bool = False,
        lease_ttl: float = 10.0,
    ) -> None:
        require("diskcache", "DiskStore", "disk")
        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
            raise TypeError(f"DiskStore path must be a directory path (str or os.PathLike), not {path!r}")
        if isinstance(size_limit, bool) or not isinstance(size_limit, int) or size_limit < 1:
            raise ValueError(f"size_limit must be a positive number of bytes, not {size_limit!r}")
        policies = ("least-recently-stored", "least-recently-used", "least-frequently-used", "none")
        if eviction_policy not in policies:
            raise ValueError(
                f"eviction_policy must be one of {', '.join(map(repr, policies))}, not {eviction_policy!r}"
            )
        self.path = os.path.abspath(os.path.expanduser(os.fspath(path)))
        self.size_limit = size_limit
        self.eviction_policy = eviction_policy
        self.timeout = float(timeout)
        self.retry_after = check_retry_after(retry_after)
        self.front = FrontCache(front_maxsize, front_ttl) if front_maxsize else None
        self._front_args = (front_maxsize, front_ttl)
        self.stats = bool(stats)
        #: Seconds a single-flight lease lives unless its holder renews it: how long a dead holder holds others up.
        self.lease_ttl = check_lease_ttl(lease_ttl)
        self._stats_ready = False
        self._cache: Any = None
        self._open_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DiskStore({self.path!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_disk, (self.path, self._settings()))

    def __copy__(self) -> DiskStore:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> DiskStore:
        return self

    def _settings(self) -> dict[str, Any]:
        return {
            "size_limit": self.size_limit,
            "eviction_policy": self.eviction_policy,
            "timeout": self.timeout,
            "retry_after": self.retry_after,
            "front_maxsize": self._front_args[0],
            "front_ttl": self._front_args[1],
            "stats": self.stats,
            "lease_ttl": self.lease_ttl,
        }

    @property
    def cache(self) -> Any:
        """The underlying ``diskcache.Cache``, opened on first use."""
        cache = self._cache
        if cache is not None:
            return cache
        self._check()
        with self._open_lock:
            if self._cache is None:
                import diskcache

                try:
                    self._cache = diskcache.Cache(
                        self.path,
                        disk=_bytes_disk(),
                        timeout=self.timeout,
                        size_limit=self.size_limit,
                        eviction_policy=self.eviction_policy,
                        tag_index=True,
                        statistics=False,
                    )
                except Exception as error:
                    self._trip(error)
                    raise
            return self._cache

    def close(self) -> None:
        """Close the database handle of this thread (reopened on next use)."""
        if self._cache is not None:
            self._cache.close()

    def get(self, key: str) -> bytes | MissType:
        cache = self._cache
        if cache is None:
            cache = self.cache
        # The store's Disk refuses (ForeignEntry) any row that is not raw bytes, before unpickling.
        value: bytes | MissType = cache.get(key, default=MISS, retry=False)
        return value

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self.cache.set(key, value, expire=ttl, tag=namespace_of(key), retry=False)

    def delete(self, key: str) -> bool:
        if self.front is not None:
            self.front.drop(namespace_of(key))
        return bool(self.cache.delete(key, retry=False))

    def clear(self, namespace: str | None = None) -> int:
        if self.front is not None:
            self.front.drop(namespace)
        where, args = _rows_of(namespace)
        select = f"SELECT rowid, filename FROM Cache WHERE {where} AND rowid > ? ORDER BY rowid LIMIT 100"
        # diskcache's own batched delete (it removes value files too), on proxycache's rows only.
        return int(self.cache._select_delete(select, [*args, 0], arg_index=len(args), retry=False))

    def keys(self, namespace: str | None = None) -> Iterator[str]:
        for key, _ in self.scan(namespace):
            yield key

    def scan(self, namespace: str | None = None) -> Iterator[tuple[str, int]]:
        """(key, size in bytes) of the live entries, read from the index: no value is read or unpickled."""
        where, args = _rows_of(namespace)
        rows = self.cache._sql(
            "SELECT key, CASE WHEN filename IS NULL THEN length(value) ELSE size END FROM Cache"
            f" WHERE {where} AND (expire_time IS NULL OR expire_time > ?) ORDER BY key",
            [*args, time.time()],
        ).fetchall()
        for key, size in rows:
            yield key, int(size or 0)


    # -- leases ------------------------------------------------------------------

    def acquire_lease(self, key: str, ttl: float) -> str | None:
        """A token if nobody holds a live lease on *key* (then this caller does, for *ttl* seconds), else None."""
        ttl = check_lease_ttl(ttl)
        token = new_token()
        # diskcache's add is atomic and takes an expired row as absent: a dead holder's lease lapses.
        added = self.cache.add(key + LEASE_SUFFIX, token.encode(), expire=ttl, retry=False)
        return token if added else None

    def renew_lease(self, key: str, token: str, ttl: float) -> bool:
        """Extend the lease to *ttl* seconds from now; False unless *token* holds it and it has not lapsed."""
        ttl = check_lease_ttl(ttl)
        cache = self.cache
        name = key + LEASE_SUFFIX
        with cache.transact(retry=False):
            if cache.get(name, default=None, retry=False) != token.encode():
                return False
            return bool(cache.touch(name, expire=ttl, retry=False))

    def release_lease(self, key: str, token: str) -> bool:
        """Give the lease up; False unless *token* holds it (a lapsed lease is nobody's to release)."""
        cache = self.cache
        name = key + LEASE_SUFFIX
        with cache.transact(retry=False):
            if cache.get(name, default=None, retry=False) != token.encode():
                return False
            return bool(cache.delete(name, retry=False))

    def lease_left(self, key: str) -> float | None:
        """Seconds until the lease on *key* lapses unless renewed; None when free; inf when it never lapses.

        inf: a row with no expiry, or that holds no token's bytes, which no
        holder of this store wrote: waiters compute rather than wait for it.
        Read from the index: the row's value is never unpickled.
        """
        row = self.cache._sql(
            "SELECT expire_time, mode, typeof(value) FROM Cache WHERE key = ? AND raw = 1", (key + LEASE_SUFFIX,)
        ).fetchone()
        if row is None:
            return None
        expire_time, mode, kind = row
        if expire_time is None or mode != _MODE_RAW or kind != "blob":
            return math.inf
        left = float(expire_time) - time.time()
        return left if left > 0 else None

    # -- statistics --------------------------------------------------------------

    def record_hit(self, namespace: str, saved_seconds: float = 0.0) -> None:
        """Count a hit in *namespace* that saved *saved_seconds* (nothing unless built with ``stats=True``)."""
        if not self.stats:
            return
        saved = check_saved(saved_seconds)
        self._stats_table()
        self.cache._sql(
            f"INSERT INTO {_STATS_TABLE} (namespace, hits, saved) VALUES (?, 1, ?)"
            " ON CONFLICT(namespace) DO UPDATE SET hits = hits + 1, saved = saved + excluded.saved",
            (namespace, saved),
        )

    def hit_stats(self, namespace: str | None = None) -> dict[str, NamespaceStats]:
        """Hits and saved seconds per namespace, summed over every process (of *namespace* only when given)."""
        cache = self.cache
        # Columns, not just the table: a table of that name made by something else is no statistics of ours.
        columns = {row[1] for row in cache._sql(f"PRAGMA table_info({_STATS_TABLE})").fetchall()}
        if not {"namespace", "hits", "saved"} <= columns:
            return {}
        where, args = ("", []) if namespace is None else (" WHERE namespace = ?", [namespace])
        rows = cache._sql(f"SELECT namespace, hits, saved FROM {_STATS_TABLE}{where} ORDER BY namespace", args)
        return {
            ns: NamespaceStats(int(hits), float(saved))
            for ns, hits, saved in rows.fetchall()
            if isinstance(ns, str) and isinstance(hits, int) and isinstance(saved, (int, float))
        }

    def _stats_table(self) -> None:
        if not self._stats_ready:
            self.cache._sql(
                f"CREATE TABLE IF NOT EXISTS {_STATS_TABLE} "
                "(namespace TEXT PRIMARY KEY, hits INTEGER NOT NULL, saved REAL NOT NULL)"
            )
            self._stats_ready = True

    # -- coroutines: the same calls, in a worker thread ---------------------------

    async def aget(self, key: str) -> bytes | MissType:
        return await in_thread(self.get, key)

    async def aset(self, key: str, value: bytes, ttl: float | None = None) -> None:
        await in_thread(self.set, key, value, ttl)

    async def adelete(self, key: str) -> bool:
        return await in_thread(self.delete, key)

    async def aclear(self, namespace: str | None = None) -> int:
        return await in_thread(self.clear, namespace)

    async def aacquire_lease(self, key: str, ttl: float) -> str | None:
        return await in_thread(self.acquire_lease, key, ttl)

    async def arenew_lease(self, key: str, token: str, ttl: float) -> bool:
        return await in_thread(self.renew_lease, key, token, ttl)

    async def arelease_lease(self, key: str, token: str) -> bool:
        return await in_thread(self.release_lease, key, token)

    async def alease_left(self, key: str) -> float | None:
        return await in_thread(self.lease_left, key)

    async def arecord_hit(self, namespace: str, saved_seconds: float = 0.0) -> None:
        if self.stats:
            await in_thread(self.record_hit, namespace, saved_seconds)


def _rows_of(namespace: str | None) -> tuple[str, list[Any]]:
    """An SQL condition on diskcache's Cache table for proxycache's rows (of one namespace), and its arguments.

    proxycache's keys are text ``<namespace>:<digest>`` with a fixed-length hex
    digest: other rows in the directory, and namespaces that merely start
    alike (``a`` and ``a:b``), do not match.
    """
    if namespace is None:
        return "raw = 1 AND typeof(key) = 'text' AND key GLOB ?", ["*:" + DIGEST_GLOB]
    prefix = namespace + ":"
    # A range on the key index first; then exactly a digest after the prefix.
    return (
        "key >= ? AND key < ? AND raw = 1 AND typeof(key) = 'text' AND length(key) = ? AND substr(key, ?) GLOB ?",
        [prefix, namespace + ";", len(prefix) + DIGEST_LENGTH, len(prefix) + 1, DIGEST_GLOB],
    )


_disk_class: Any = None


def _bytes_disk() -> Any:
    """diskcache's ``Disk``, minus unpickling: a row that is not raw bytes is refused unread.

    diskcache unpickles pickled rows inside ``Cache.get``, before proxycache
    could check anything, so whoever can write the directory could run code
    in every reader. This ``Disk`` refuses such rows (a ``ForeignEntry``
    fault, then a miss), and value files outside the directory.
    """
    global _disk_class
    if _disk_class is not None:
        return _disk_class
    import diskcache
    from diskcache.core import MODE_BINARY, MODE_RAW

    class BytesDisk(diskcache.Disk):  # type: ignore[misc]
        def __init__(self, directory: str, **settings: Any) -> None:
            super().__init__(directory, **settings)
            self._root = os.path.realpath(directory) + os.sep

        def get(self, key: Any, raw: bool) -> Any:
            if not raw:
                raise ForeignEntry("a pickled key, written by something other than proxycache; refused unread")
            return super().get(key, raw)

        def fetch(self, mode: int, filename: str | None, value: Any, read: bool) -> Any:
            if mode == MODE_RAW and type(value) is bytes:
                return value  # the hit path: small values are raw bytes in the row
            if mode not in (MODE_RAW, MODE_BINARY):
                raise ForeignEntry(
                    f"a row stored as diskcache mode {mode} (a pickle or text, not bytes), written by something "
                    "other than proxycache; refused unread"
                )
            if mode == MODE_BINARY:
                if filename is None or not self._inside(filename):
                    raise ForeignEntry(f"a row naming the value file {filename!r}, outside the store; refused unread")
                return self._read_file(filename, read)
            data = super().fetch(mode, filename, value, read)
            if mode == MODE_RAW and not isinstance(data, bytes):
                raise ForeignEntry(f"a row holding {type(data).__qualname__}, not bytes; refused")
            return data

        def _read_file(self, filename: str, read: bool) -> Any:
            # Opened without blocking, then checked on the open file (no window between check and open):
            # a row naming a FIFO or a device would otherwise hang open() or read() in every reader.
            fd = os.open(os.path.join(self._root, filename), os.O_RDONLY | _NONBLOCK | _BINARY)
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise ForeignEntry(f"a row naming {filename!r}, which is not a regular file; refused unread")
                reader = os.fdopen(fd, "rb")
            except BaseException:
                os.close(fd)
                raise
            if read:
                return reader
            with reader:
                return reader.read()

        def remove(self, file_path: str) -> Any:
            if self._inside(file_path):
                return super().remove(file_path)
            return None  # a forged row naming a file elsewhere: never delete outside the directory

        def _inside(self, filename: str | None) -> bool:
            if not isinstance(filename, str):
                return False
            return os.path.realpath(os.path.join(self._root, filename)).startswith(self._root)

    _disk_class = BytesDisk
    return BytesDisk


def _rebuild_disk(path: str, settings: dict[str, Any]) -> DiskStore:
    return DiskStore(path, **settings)


