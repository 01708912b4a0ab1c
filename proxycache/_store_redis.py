"""``RedisStore``: entries in Redis or a Redis Cluster, shared by processes and machines."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, ClassVar, TypeVar

from ._contract import NamespaceStats
from ._front import FrontCache
from ._miss import MISS, MissType
from ._redis_clients import (
    LEASE_LEFT,
    RELEASE,
    RENEW,
    LoopClients,
    aclear_matching,
    check_url,
    client_from_url,
    count_hit,
    given_async_client,
    given_client,
    glob_escape,
    hgetall,
    hide_password,
    is_outage,
    millis,
    parse_stats,
    seconds_left,
    strlens,
)
from ._store_base import (
    DIGEST_GLOB,
    Breaker,
    check_lease_ttl,
    check_retry_after,
    check_saved,
    in_thread,
    namespace_of,
    new_token,
    require,
)

_T = TypeVar("_T")

#: Keys scanned and removed per round trip by clear and scan.
_BATCH = 500


class RedisStore(Breaker):
    """Entries in Redis or a Redis Cluster, shared by processes and machines; TTL is kept by the server.

    Pass a URL (``redis://host:6379/0``, ``rediss://``, ``unix://``; with
    ``cluster=True`` the URL of any node of a Redis Cluster) or a client built
    with ``decode_responses=False``: ``redis.Redis``,
    ``redis.asyncio.Redis``, ``redis.cluster.RedisCluster`` or
    ``redis.asyncio.cluster.RedisCluster``; pass a sync client and an async
    one together with ``async_client=``. From a URL, socket timeouts are
    short (*socket_timeout*) and a failed command is retried once, so a dead
    server costs little; after a connection error the store fails fast for
    *retry_after* seconds, then tries again.

    The ``a``-prefixed coroutines (``aget``, ``aset``, ``aacquire_lease``...)
    never block the event loop: they go through ``redis.asyncio`` (a client
    per event loop when built from a URL, closed as the loop shuts down), or
    run the sync client in a worker thread when that is all the store has.

    Layout: an entry is ``<prefix>{<namespace>:<digest>}``, its lease
    ``<prefix>lease:{<namespace>:<digest>}`` (the hash tag puts both on one
    cluster slot, while a namespace's entries spread over the nodes), and
    with ``stats=True`` the hits of a namespace ``<prefix>stats:{<namespace>}``.
    A lease lives *lease_ttl* seconds unless its holder renews it (it does
    while it computes): how long a holder that died keeps the others waiting.
    ``clear`` and ``keys`` use SCAN (never KEYS) on every node, and UNLINK.

    ``front_maxsize`` > 0 adds an in-process :class:`FrontCache`; with
    *tracking* (the default) and Redis 6 or later, the server tells this
    process about other processes' writes (client tracking in broadcast
    mode), which evict front entries at once; without it (a cluster, an
    older server, an async client alone) they are seen after *front_ttl*.
    ``pip install 'proxycache[redis]'``.
    """

    shared: ClassVar[bool] = True
    holds_objects: ClassVar[bool] = False
    kind: ClassVar[str] = "redis"

    def __init__(
        self,
        url_or_client: Any = None,
        *,
        async_client: Any = None,
        cluster: bool = False,
        prefix: str = "proxycache:",
        socket_timeout: float = 0.5,
        retry_after: float = 1.0,
        front_maxsize: int = 0,
        front_ttl: float = 1.0,
        tracking: bool = True,
        stats: bool = False,
        lease_ttl: float = 10.0,
    ) -> None:
        require("redis", "RedisStore", "redis")

        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, not {prefix!r}")
        self.prefix = prefix
        self._open = prefix + "{"
        self.socket_timeout = float(socket_timeout)
        self.retry_after = check_retry_after(retry_after)
        self.front = FrontCache(front_maxsize, front_ttl) if front_maxsize else None
        self._front_args = (front_maxsize, front_ttl)
        self.tracking = bool(tracking)
        self.stats = bool(stats)
        #: Seconds a single-flight lease lives unless its holder renews it: how long a dead holder holds others up.
        self.lease_ttl = check_lease_ttl(lease_ttl)
        self.url: str | None = None
        self.client: Any = None
        self.async_client: Any = None
        self.cluster = bool(cluster)
        self._loop_clients: LoopClients | None = None
        self._connecting = threading.Lock()
        if isinstance(url_or_client, str):
            self.url = check_url(url_or_client)
            # A function of the URL and settings, not a method: a store that referred to itself would wait
            # for the cycle collector to be freed, and the clients it opened with it.
            make = functools.partial(client_from_url, self.url, cluster=self.cluster, timeout=self.socket_timeout)
            # Building a cluster's client asks its nodes for their slots: when that fails (the cluster is down as
            # the application starts), calls go on uncached, and the first after retry_after builds it again.
            self._make_sync = functools.partial(make, asynchronous=False)
            with contextlib.suppress(Exception):
                self.client = self._connect()
            self._loop_clients = LoopClients(functools.partial(make, asynchronous=True))
        elif url_or_client is not None:
            is_async, self.cluster = given_client(url_or_client, async_client)
            if is_async:
                self.async_client = url_or_client
            else:
                self.client = url_or_client
        elif async_client is None:
            raise TypeError("RedisStore needs a redis:// URL or a redis client")
        if async_client is not None:
            async_cluster = given_async_client(async_client)  # checked even when the first client is a cluster
            self.async_client = async_client
            self.cluster = self.cluster or async_cluster
        #: Callable without an event loop (not with only an asyncio client): a cached method may write from a thread.
        self.sync_io = self.client is not None or self.url is not None
        self._tracker: Any = None
        if self.front is not None and self.tracking and self.client is not None and not self.cluster:
            from ._redis_tracking import Tracker

            self._tracker = Tracker(self, self.front)

    def __repr__(self) -> str:
        if self.url is not None:
            return f"RedisStore({hide_password(self.url)!r}{', cluster=True' if self.cluster else ''})"
        return f"RedisStore({self.client if self.client is not None else self.async_client!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        if self.url is None:
            raise TypeError(
                "a RedisStore built from a client object cannot be pickled; build it from a URL "
                "(RedisStore('redis://host:6379/0')) to pickle proxies that use it"
            )
        settings = {
            "cluster": self.cluster,
            "prefix": self.prefix,
            "socket_timeout": self.socket_timeout,
            "retry_after": self.retry_after,
            "front_maxsize": self._front_args[0],
            "front_ttl": self._front_args[1],
            "tracking": self.tracking,
            "stats": self.stats,
            "lease_ttl": self.lease_ttl,
        }
        return (_rebuild_redis, (self.url, settings))

    def __copy__(self) -> RedisStore:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> RedisStore:
        return self

    def close(self) -> None:
        """Stop listening for invalidations and close the sync client this store built (reopened on next use).

        The clients it opened for event loops close as their loop shuts down.
        """
        if self._tracker is not None:
            self._tracker.stop()
        if self.url is not None and self.client is not None:
            self.client.close()

    # -- names ---------------------------------------------------------------------

    def _name(self, key: str) -> str:
        return self._open + key + "}"

    def _lease_name(self, key: str) -> str:
        return f"{self.prefix}lease:{{{key}}}"

    def _stats_name(self, namespace: str) -> str:
        return f"{self.prefix}stats:{{{namespace}}}"

    def _key_of(self, name: bytes) -> str:
        return name[len(self._open) : -1].decode("utf-8", "replace")

    def _pattern(self, namespace: str | None) -> str:
        # Exactly a digest after "<namespace>:", so namespace "a" never takes "a:b:<digest>",
        # and keys under the prefix that proxycache did not write are left alone.
        namespaced = "*:" if namespace is None else glob_escape(namespace) + ":"
        return glob_escape(self._open) + namespaced + DIGEST_GLOB + "}"

    # -- sync ------------------------------------------------------------------------

    def _sync(self) -> Any:
        client = self.client
        if client is None and self.url is None:
            raise TypeError(
                f"{self!r} has only an async client, so it serves coroutine methods only; pass a sync client "
                "too (RedisStore(redis.Redis(...), async_client=...)) or a URL"
            )
        self._check()
        if client is None:
            with self._connecting:  # one thread builds it; the others wait, then take it
                if self.client is None:
                    self.client = self._connect()
                client = self.client
        return client

    def _connect(self) -> Any:
        """The sync client from the URL; if it cannot be built now, the store is left alone for *retry_after*."""
        try:
            return self._make_sync()
        except Exception as error:
            self._trip(error)
            raise

    def _failed(self, error: BaseException) -> None:
        if is_outage(error):  # not a pool out of connections: the server is fine
            self._trip(error)

    def _call(self, action: Callable[[Any], _T]) -> _T:
        client = self._sync()
        try:
            return action(client)
        except Exception as error:
            self._failed(error)
            raise

    def get(self, key: str) -> bytes | MissType:
        client = self.client
        if client is None or self._down_until:
            client = self._sync()
        try:
            value: Any = client.get(self._open + key + "}")
        except Exception as error:
            self._failed(error)
            raise
        return MISS if value is None else value

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        name = self._name(key)
        px = None if ttl is None else max(1, round(ttl * 1000))
        self._call(lambda c: c.set(name, value, px=px))

    def delete(self, key: str) -> bool:
        if self.front is not None:
            self.front.drop(namespace_of(key))
        name = self._name(key)
        return bool(self._call(lambda c: c.unlink(name)))

    def clear(self, namespace: str | None = None) -> int:
        if self.front is not None:
            self.front.drop(namespace)
        removed = 0
        batch: list[bytes] = []
        for name in self._scan_names(namespace):
            batch.append(name)
            if len(batch) >= _BATCH:
                removed += self._unlink(batch)
                batch = []
        if batch:
            removed += self._unlink(batch)
        return removed

    def _unlink(self, names: list[bytes]) -> int:
        # A cluster client splits a many-key UNLINK by slot and sums the replies.
        return int(self._call(lambda c: c.unlink(*names)))

    def keys(self, namespace: str | None = None) -> Iterator[str]:
        for name in self._scan_names(namespace):
            yield self._key_of(name)

    def scan(self, namespace: str | None = None) -> Iterator[tuple[str, int]]:
        """(key, size in bytes) of the entries, via SCAN (every node of a cluster) and pipelined STRLEN."""
        names = list(self._scan_names(namespace))
        for start in range(0, len(names), _BATCH):
            chunk = names[start : start + _BATCH]
            for name, size in zip(chunk, self._call(functools.partial(strlens, names=chunk)), strict=True):
                if size:  # None for a key of another type under an entry's name: not an entry
                    yield self._key_of(name), size

    def _scan_names(self, namespace: str | None) -> Iterator[bytes]:
        client = self._sync()
        try:
            yield from client.scan_iter(match=self._pattern(namespace), count=1000)
        except Exception as error:
            self._failed(error)
            raise

    # -- leases ----------------------------------------------------------------------

    def acquire_lease(self, key: str, ttl: float) -> str | None:
        """``SET NX PX`` of a random token: the token if this caller now holds the lease on *key*, else None."""
        ms = millis(check_lease_ttl(ttl))
        token = new_token()
        name = self._lease_name(key)
        return token if self._call(lambda c: c.set(name, token, nx=True, px=ms)) else None

    def renew_lease(self, key: str, token: str, ttl: float) -> bool:
        """Extend the lease to *ttl* seconds from now; False unless *token* holds it and it has not lapsed."""
        ms = millis(check_lease_ttl(ttl))
        name = self._lease_name(key)
        return bool(self._call(lambda c: c.eval(RENEW, 1, name, token, ms)))

    def release_lease(self, key: str, token: str) -> bool:
        """Give the lease up; False unless *token* holds it (a lapsed lease is nobody's to release)."""
        name = self._lease_name(key)
        return bool(self._call(lambda c: c.eval(RELEASE, 1, name, token)))

    def lease_left(self, key: str) -> float | None:
        """Seconds until the lease on *key* lapses unless renewed; None when free; inf when it never lapses.

        inf: a key with no expiry or of another type (Redis keeps it until
        someone deletes it), which no holder of this store wrote: waiters
        compute rather than wait for it.
        """
        name = self._lease_name(key)
        return seconds_left(self._call(lambda c: c.eval(LEASE_LEFT, 1, name)))

    # -- statistics --------------------------------------------------------------------

    def record_hit(self, namespace: str, saved_seconds: float = 0.0) -> None:
        """Count a hit in *namespace* that saved *saved_seconds*: one pipelined round trip (none without ``stats``)."""
        if not self.stats:
            return
        saved = check_saved(saved_seconds)
        self._call(functools.partial(count_hit, name=self._stats_name(namespace), saved=saved))

    def hit_stats(self, namespace: str | None = None) -> dict[str, NamespaceStats]:
        """Hits and saved seconds per namespace, summed over every process (of *namespace* only when given)."""
        if namespace is not None:
            names = [self._stats_name(namespace).encode()]
        else:
            pattern = glob_escape(self.prefix) + "stats:{*}"
            names = list(self._call(lambda c: list(c.scan_iter(match=pattern, count=1000))))
        found: dict[str, NamespaceStats] = {}
        for name in names:
            parsed = parse_stats(self._call(functools.partial(hgetall, name=name)))
            if parsed is not None:
                found[name[len(self.prefix) + len("stats:{") : -1].decode("utf-8", "replace")] = parsed
        return dict(sorted(found.items()))

    # -- coroutines ------------------------------------------------------------------------

    async def _acall(self, action: Callable[[Any], Awaitable[_T]], fallback: Callable[[], _T]) -> _T:
        client = self.async_client
        if client is None and self._loop_clients is not None:
            loop = asyncio.get_running_loop()
            client = self._loop_clients.get(loop)
            if client is None:
                client = await self._loop_clients.open(loop)  # None once the loop is shutting down
        if client is None:
            return await in_thread(fallback)  # the sync client, in a thread
        self._check()
        try:
            return await action(client)
        except Exception as error:
            self._failed(error)
            raise

    async def aget(self, key: str) -> bytes | MissType:
        name = self._name(key)
        value: Any = await self._acall(lambda c: c.get(name), lambda: self.get(key))
        return MISS if value is None else value

    async def aset(self, key: str, value: bytes, ttl: float | None = None) -> None:
        name = self._name(key)
        px = None if ttl is None else max(1, round(ttl * 1000))
        await self._acall(lambda c: c.set(name, value, px=px), lambda: self.set(key, value, ttl))

    async def adelete(self, key: str) -> bool:
        if self.front is not None:
            self.front.drop(namespace_of(key))
        name = self._name(key)
        return bool(await self._acall(lambda c: c.unlink(name), lambda: self.delete(key)))

    async def aclear(self, namespace: str | None = None) -> int:
        if self.front is not None:
            self.front.drop(namespace)
        clear = functools.partial(aclear_matching, pattern=self._pattern(namespace), batch=_BATCH)
        return await self._acall(clear, lambda: self.clear(namespace))

    async def aacquire_lease(self, key: str, ttl: float) -> str | None:
        ms = millis(check_lease_ttl(ttl))
        token = new_token()
        name = self._lease_name(key)
        got = await self._acall(lambda c: c.set(name, token, nx=True, px=ms), lambda: self.acquire_lease(key, ttl))
        if isinstance(got, str):  # the sync fallback made its own token
            return got
        return token if got else None

    async def arenew_lease(self, key: str, token: str, ttl: float) -> bool:
        ms = millis(check_lease_ttl(ttl))
        name = self._lease_name(key)
        renewed = await self._acall(
            lambda c: c.eval(RENEW, 1, name, token, ms), lambda: self.renew_lease(key, token, ttl)
        )
        return bool(renewed)

    async def arelease_lease(self, key: str, token: str) -> bool:
        name = self._lease_name(key)
        released = await self._acall(lambda c: c.eval(RELEASE, 1, name, token), lambda: self.release_lease(key, token))
        return bool(released)

    async def alease_left(self, key: str) -> float | None:
        name = self._lease_name(key)
        return seconds_left(await self._acall(lambda c: c.eval(LEASE_LEFT, 1, name), lambda: self.lease_left(key)))

    async def arecord_hit(self, namespace: str, saved_seconds: float = 0.0) -> None:
        if not self.stats:
            return
        saved = check_saved(saved_seconds)
        count = functools.partial(count_hit, name=self._stats_name(namespace), saved=saved)
        await self._acall(count, lambda: self.record_hit(namespace, saved))


def _rebuild_redis(url: str, settings: dict[str, Any]) -> RedisStore:
    return RedisStore(url, **settings)
