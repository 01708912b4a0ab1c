"""The stores a cache can live in besides per-instance memory.

``MemoryStore`` holds objects and is shared by the instances of one process.
``DiskStore`` (diskcache, on SQLite) and ``RedisStore`` (redis-py) hold bytes
and are shared between processes, and for Redis between machines. All of them
meet the ``Store`` protocol of ``_contract``: string keys ``"<namespace>:<digest>"``,
``get`` answers ``MISS`` for nothing, errors are raised (the cached method
turns them into counted faults). The optional packages are imported when a
store is built, so ``import proxycache`` needs none of them.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, ClassVar

from ._contract import DIGEST_LENGTH, MISS, _Miss

__all__ = ["DiskStore", "FrontCache", "MemoryStore", "RedisStore", "StoreUnavailable", "open_store"]


class StoreUnavailable(ConnectionError):
    """The store failed recently and is left alone until its retry interval passes."""


class ForeignEntry(ValueError):
    """A row of a disk store that proxycache did not write (a pickle, text): refused unread."""


def namespace_of(key: str) -> str:
    """The namespace part of a store key (digests never contain ``:``)."""
    return key.rpartition(":")[0]


#: A glob for the digest part of a store key: exactly DIGEST_LENGTH lowercase hex digits.
_DIGEST_GLOB = "[0-9a-f]" * DIGEST_LENGTH


class FrontCache:
    """A small in-process tier in front of a remote store.

    Holds decoded results per namespace for at most *ttl* seconds, so hot
    hits cost about what memory hits cost. Writes and invalidations made
    through this process drop or replace front entries at once; writes by
    other processes are seen once the front entry expires (after *ttl*).
    """

    def __init__(self, maxsize: int, ttl: float) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError(f"front_maxsize must be a positive int (0 turns the front cache off), not {maxsize!r}")
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0:
            raise ValueError(f"front_ttl must be positive seconds, not {ttl!r}")
        self.maxsize = maxsize
        self.ttl = float(ttl)
        self._tables: dict[str, dict[Any, tuple[Any, float]]] = {}
        self._lock = threading.Lock()

    def table(self, namespace: str) -> dict[Any, tuple[Any, float]]:
        """The entries of *namespace* (memory key -> (value, expires_at)); one dict per namespace."""
        with self._lock:
            return self._tables.setdefault(namespace, {})

    def drop(self, namespace: str | None = None) -> None:
        for name, table in list(self._tables.items()):
            if namespace is None or name == namespace:
                table.clear()


class _Breaker:
    """After a connection-level error, fail fast for *retry_after* seconds instead of waiting on timeouts."""

    retry_after: float = 1.0
    _down_until: float = 0.0
    _down_because: BaseException | None = None

    def _check(self) -> None:
        if self._down_until and time.monotonic() < self._down_until:
            cause = self._down_because
            because = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
            error = StoreUnavailable(f"{self!r} failed recently{because}; trying again within {self.retry_after:g}s")
            # The reason the store is down, for the fault's warning and the demo.
            error.__cause__ = cause
            raise error

    def _trip(self, error: BaseException | None = None) -> None:
        self._down_until = time.monotonic() + self.retry_after
        self._down_because = error

    def _reset(self) -> None:
        self._down_until = 0.0


def _front(front_maxsize: int, front_ttl: float) -> FrontCache | None:
    return FrontCache(front_maxsize, front_ttl) if front_maxsize else None


def _check_retry_after(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"retry_after must be seconds >= 0, not {value!r}")
    return float(value)


# -- memory -------------------------------------------------------------------


class MemoryStore:
    """Objects in this process, shared by every instance that uses the store.

    Least recently used entries go first beyond *maxsize*. Values are kept as
    they are (no serializer), so callers share the returned objects, as with
    per-instance memory caches.
    """

    shared: ClassVar[bool] = True
    holds_objects: ClassVar[bool] = True
    kind: ClassVar[str] = "memory"
    front: ClassVar[None] = None

    def __init__(self, maxsize: int | None = 4096) -> None:
        if maxsize is not None and (isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1):
            raise ValueError(f"maxsize must be a positive int or None (unbounded), not {maxsize!r}")
        self.maxsize = maxsize
        self._data: OrderedDict[str, tuple[Any, float | None]] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryStore(maxsize={self.maxsize!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # A copy in another process starts empty: entries never travel.
        return (MemoryStore, (self.maxsize,))

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


# -- disk ---------------------------------------------------------------------


class DiskStore(_Breaker):
    """Entries in a directory on this machine, safe for many processes and threads.

    Built on diskcache (SQLite in WAL mode, large values in files). When the
    directory grows past *size_limit* bytes, the least recently stored
    entries are evicted (``eviction_policy`` takes diskcache's names).
    *timeout* bounds how long an operation waits for a busy database before it
    counts as a fault. The directory is opened on first use; when it cannot be
    (read-only, missing permissions), calls run uncached and the store is
    tried again after *retry_after* seconds. ``pip install 'proxycache[disk]'``.
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
    ) -> None:
        _require("diskcache", "DiskStore", "disk")
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
        self.retry_after = _check_retry_after(retry_after)
        self.front = _front(front_maxsize, front_ttl)
        self._front_args = (front_maxsize, front_ttl)
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

    def get(self, key: str) -> bytes | _Miss:
        cache = self._cache
        if cache is None:
            cache = self.cache
        # The store's Disk refuses (ForeignEntry) any row that is not raw bytes, before unpickling.
        value: bytes | _Miss = cache.get(key, default=MISS, retry=False)
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


def _rows_of(namespace: str | None) -> tuple[str, list[Any]]:
    """An SQL condition on diskcache's Cache table for proxycache's rows (of one namespace), and its arguments.

    proxycache's keys are text ``<namespace>:<digest>`` with a fixed-length hex
    digest: other rows in the directory, and namespaces that merely start
    alike (``a`` and ``a:b``), do not match.
    """
    if namespace is None:
        return "raw = 1 AND typeof(key) = 'text' AND key GLOB ?", ["*:" + _DIGEST_GLOB]
    prefix = namespace + ":"
    # A range on the key index first; then exactly a digest after the prefix.
    return (
        "key >= ? AND key < ? AND raw = 1 AND typeof(key) = 'text' AND length(key) = ? AND substr(key, ?) GLOB ?",
        [prefix, namespace + ";", len(prefix) + DIGEST_LENGTH, len(prefix) + 1, _DIGEST_GLOB],
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
            if mode == MODE_BINARY and not self._inside(filename):
                raise ForeignEntry(f"a row naming the value file {filename!r}, outside the store; refused unread")
            data = super().fetch(mode, filename, value, read)
            if mode == MODE_RAW and not isinstance(data, bytes):
                raise ForeignEntry(f"a row holding {type(data).__qualname__}, not bytes; refused")
            return data

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


# -- redis --------------------------------------------------------------------


class RedisStore(_Breaker):
    """Entries in Redis, shared by processes and machines; TTL is kept by the server.

    Pass a URL (``redis://host:6379/0``, ``rediss://``, ``unix://``) or a
    ``redis.Redis`` client (built with ``decode_responses=False``). From a
    URL, socket timeouts are short (*socket_timeout*) and a failed command is
    retried once, so a dead server costs little; after a connection error the
    store fails fast for *retry_after* seconds, then tries again. Keys are
    ``<prefix><namespace>:<digest>``; ``clear`` and ``keys`` use SCAN (never
    KEYS) and UNLINK. ``front_maxsize`` > 0 adds an in-process front cache
    of decoded results, each kept at most *front_ttl* seconds: hot hits cost
    about what memory hits cost, and other processes' writes are seen once
    the front entry expires. Calls are synchronous: a coroutine method waits on Redis in the
    event loop's thread, bounded by *socket_timeout*.
    ``pip install 'proxycache[redis]'``.
    """

    shared: ClassVar[bool] = True
    holds_objects: ClassVar[bool] = False
    kind: ClassVar[str] = "redis"

    def __init__(
        self,
        url_or_client: Any,
        *,
        prefix: str = "proxycache:",
        socket_timeout: float = 0.5,
        retry_after: float = 1.0,
        front_maxsize: int = 0,
        front_ttl: float = 1.0,
    ) -> None:
        _require("redis", "RedisStore", "redis")
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, not {prefix!r}")
        self.prefix = prefix
        self.socket_timeout = float(socket_timeout)
        self.retry_after = _check_retry_after(retry_after)
        self.front = _front(front_maxsize, front_ttl)
        self._front_args = (front_maxsize, front_ttl)
        if isinstance(url_or_client, str):
            if not url_or_client.startswith(("redis://", "rediss://", "unix://")):
                raise ValueError(
                    "RedisStore needs a redis://, rediss:// or unix:// URL or a redis.Redis client, "
                    f"not {url_or_client!r}"
                )
            self.url: str | None = url_or_client
            self.client = redis.Redis.from_url(
                url_or_client,
                socket_timeout=self.socket_timeout,
                socket_connect_timeout=self.socket_timeout,
                retry=Retry(NoBackoff(), 1),
                decode_responses=False,
            )
        elif isinstance(url_or_client, redis.Redis):
            kwargs = url_or_client.connection_pool.connection_kwargs
            if kwargs.get("decode_responses"):
                raise ValueError("RedisStore needs a client built with decode_responses=False (entries are bytes)")
            self.url = None
            self.client = url_or_client
        else:
            raise TypeError(f"RedisStore takes a redis:// URL or a redis.Redis client, not {url_or_client!r}")
        self._errors: tuple[type[BaseException], ...] = (redis.ConnectionError, redis.TimeoutError)

    def __repr__(self) -> str:
        if self.url is not None:
            return f"RedisStore({_hide_password(self.url)!r})"
        return f"RedisStore({self.client!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        if self.url is None:
            raise TypeError(
                "a RedisStore built from a client object cannot be pickled; build it from a URL "
                "(RedisStore('redis://host:6379/0')) to pickle proxies that use it"
            )
        settings = {
            "prefix": self.prefix,
            "socket_timeout": self.socket_timeout,
            "retry_after": self.retry_after,
            "front_maxsize": self._front_args[0],
            "front_ttl": self._front_args[1],
        }
        return (_rebuild_redis, (self.url, settings))

    def __copy__(self) -> RedisStore:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> RedisStore:
        return self

    def _failed(self, error: BaseException) -> None:
        if isinstance(error, self._errors):
            self._trip(error)

    def get(self, key: str) -> bytes | _Miss:
        self._check()
        try:
            value: Any = self.client.get(self.prefix + key)
        except Exception as error:
            self._failed(error)
            raise
        return MISS if value is None else value

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self._check()
        try:
            if ttl is None:
                self.client.set(self.prefix + key, value)
            else:
                self.client.set(self.prefix + key, value, px=max(1, round(ttl * 1000)))
        except Exception as error:
            self._failed(error)
            raise

    def delete(self, key: str) -> bool:
        if self.front is not None:
            self.front.drop(namespace_of(key))
        self._check()
        try:
            return bool(self.client.unlink(self.prefix + key))
        except Exception as error:
            self._failed(error)
            raise

    def clear(self, namespace: str | None = None) -> int:
        if self.front is not None:
            self.front.drop(namespace)
        removed = 0
        batch: list[bytes] = []
        for name in self._scan_names(namespace):
            batch.append(name)
            if len(batch) >= 500:
                removed += int(self.client.unlink(*batch))
                batch.clear()
        if batch:
            removed += int(self.client.unlink(*batch))
        return removed

    def keys(self, namespace: str | None = None) -> Iterator[str]:
        cut = len(self.prefix)
        for name in self._scan_names(namespace):
            yield name[cut:].decode("utf-8", "replace")

    def scan(self, namespace: str | None = None) -> Iterator[tuple[str, int]]:
        """(key, size in bytes) of the entries, via SCAN and pipelined STRLEN."""
        cut = len(self.prefix)
        names = list(self._scan_names(namespace))
        for start in range(0, len(names), 500):
            chunk = names[start : start + 500]
            pipe = self.client.pipeline(transaction=False)
            for name in chunk:
                pipe.strlen(name)
            for name, size in zip(chunk, pipe.execute(), strict=True):
                if size:
                    yield name[cut:].decode("utf-8", "replace"), int(size)

    def _scan_names(self, namespace: str | None) -> Iterator[bytes]:
        self._check()
        # Exactly a digest after "<namespace>:", so namespace "a" never takes "a:b:<digest>",
        # and keys under the prefix that proxycache did not write are left alone.
        namespaced = "*:" if namespace is None else _glob_escape(namespace) + ":"
        pattern = _glob_escape(self.prefix) + namespaced + _DIGEST_GLOB
        try:
            yield from self.client.scan_iter(match=pattern, count=1000)
        except Exception as error:
            self._failed(error)
            raise


def _rebuild_redis(url: str, settings: dict[str, Any]) -> RedisStore:
    return RedisStore(url, **settings)


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _hide_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return url
    return f"{scheme}{sep}{creds.split(':', 1)[0]}:***@{host}"


def _require(module: str, what: str, extra: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ImportError(f"{what} needs the {module} package: pip install 'proxycache[{extra}]'")


def open_store(spec: str) -> Any:
    """A store from a command-line spec: ``disk:PATH``, ``redis://...`` (``rediss://``, ``unix://``) or ``memory``."""
    if not isinstance(spec, str) or not spec:
        raise ValueError("a store is given as disk:PATH, redis://HOST:PORT/DB or memory")
    if spec.startswith("disk:"):
        path = spec[len("disk:") :]
        if not path:
            raise ValueError("disk: needs a directory, as in disk:/tmp/proxycache")
        return DiskStore(path)
    if spec.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(spec)
    if spec in ("memory", "memory:"):
        return MemoryStore()
    raise ValueError(f"unknown store {spec!r}: use disk:PATH, redis://HOST:PORT/DB or memory")
