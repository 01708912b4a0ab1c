"""The redis-py clients a ``RedisStore`` takes or builds, and small helpers of its layout."""

from __future__ import annotations

import contextlib
import functools
import math
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any

from ._contract import NamespaceStats

#: Connections a client built from a URL keeps open to each server at most (redis-py 6+ makes 100 its default).
POOL_SIZE = 100
#: Seconds a call waits at least for one of them to be free before it goes on uncached (a fault, no outage).
POOL_WAIT = 2.0


def client_from_url(url: str, *, cluster: bool, timeout: float, asynchronous: bool) -> Any:
    """A client for *url* with short timeouts and one retry, so a dead server costs little.

    When POOL_SIZE connections are in use, its pool makes a caller wait for
    one (POOL_WAIT or *timeout* seconds at most): a plain pool would fail the
    call at once (redis-py 6+ caps it at 100) and a burst of concurrent calls
    would go uncached. redis.asyncio.cluster has no pool that waits: there, a
    call past POOL_SIZE on a node goes on uncached.
    """
    settings: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout, "decode_responses": False}
    wait = max(POOL_WAIT, timeout)
    from redis.backoff import NoBackoff

    if asynchronous:
        import redis.asyncio
        from redis.asyncio.retry import Retry as AsyncRetry

        settings["retry"] = AsyncRetry(NoBackoff(), 1)
        if cluster:
            from redis.asyncio.cluster import RedisCluster as AsyncCluster

            return AsyncCluster.from_url(url, max_connections=POOL_SIZE, **settings)
        waits = redis.asyncio.BlockingConnectionPool.from_url(url, max_connections=POOL_SIZE, timeout=wait, **settings)
        return _owning(redis.asyncio.Redis(connection_pool=waits))
    import redis
    from redis.retry import Retry

    settings["retry"] = Retry(NoBackoff(), 1)
    # The cluster client makes a pool per node of this class (when built from a URL); redis 5.0 passes it no timeout=.
    waiting = functools.partial(redis.BlockingConnectionPool, timeout=wait)
    if cluster:
        from redis.cluster import RedisCluster

        return RedisCluster.from_url(url, connection_pool_class=waiting, max_connections=POOL_SIZE, **settings)
    pool = redis.BlockingConnectionPool.from_url(url, max_connections=POOL_SIZE, timeout=wait, **settings)
    return _owning(redis.Redis(connection_pool=pool))


def _owning(client: Any) -> Any:
    """*client*, made to close its connection pool as it closes, as a client built by ``from_url`` does."""
    client.auto_close_connection_pool = True
    return client


def is_outage(error: BaseException) -> bool:
    """Whether *error* says the server or the network failed, rather than that this process ran out of connections.

    A pool that is full raises MaxConnectionsError (a ConnectionError) in
    redis-py 6+, a plain ConnectionError("Too many connections") before, and
    a waiting pool ConnectionError("No connection available.") when its wait
    ends: the server is fine, so the call goes on uncached and the next use
    the store.
    """
    import redis

    if isinstance(error, redis.exceptions.MaxConnectionsError):
        return False
    if isinstance(error, redis.ConnectionError) and str(error) in ("Too many connections", "No connection available."):
        return False
    # A cluster none of whose nodes answers raises RedisClusterException, which is no ConnectionError.
    return isinstance(error, (redis.ConnectionError, redis.TimeoutError, redis.exceptions.RedisClusterException))


class LoopClients:
    """The ``redis.asyncio`` clients a store built from a URL opens: one per event loop, closed as it shuts down.

    redis.asyncio connections belong to the loop that opened them. A program
    that runs ``asyncio.run()`` once per job makes a loop per job: each
    client is closed by its loop's ``shutdown_asyncgens()``, which
    ``asyncio.run()`` and ``asyncio.Runner`` call before closing it, and a
    loop closed without it (``loop.close()`` alone) lets go of its client
    when the next loop opens one. Kept, they would hold a connection and the
    loop itself for the life of the store.
    """

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        #: (client, closer) by loop. Not a WeakKeyDictionary: a client's connections refer to their loop.
        self._clients: dict[Any, tuple[Any, Any]] = {}

    def get(self, loop: Any) -> Any:
        """The running *loop*'s client, or None until :meth:`open` made one."""
        entry = self._clients.get(loop)
        return None if entry is None else entry[0]

    async def open(self, loop: Any) -> Any:
        """A new client for the running *loop*, closed as the loop shuts down; None once it has begun to.

        A store's first call in a loop that is closing its async generators
        (a generator's cleanup caching a call) would get a client nothing
        closes: the store's sync client serves it, in a thread.
        """
        if getattr(loop, "_asyncgens_shutdown_called", False):
            return None
        for other in list(self._clients):  # a copy in one step: loops of other threads open clients meanwhile
            if other.is_closed():
                self._clients.pop(other, None)  # closed without shutdown_asyncgens(): nothing can close its client now
        client = self._make()
        closer = _close_with(weakref.ref(self), loop, client)
        self._clients[loop] = (client, closer)
        await closer.__anext__()  # its first step makes the loop track it (the first-iteration hook)
        return client


async def _close_with(owner: weakref.ref[LoopClients], loop: Any, client: Any) -> AsyncIterator[None]:
    """Closes *client* when the loop closes this generator (its owner by weak reference: no cycle to collect)."""
    try:
        yield
    finally:  # the loop's shutdown_asyncgens(), or the store dropped while its loop runs
        clients = owner()
        if clients is not None and clients.get(loop) is client:
            del clients._clients[loop]
        # A connection already broken has nothing more to close, and shutdown goes on.
        with contextlib.suppress(Exception):
            # aclose() since redis 5.0.1, close() before (deprecated since).
            await (client.aclose() if hasattr(client, "aclose") else client.close())


def check_url(url: str) -> str:
    """*url* when it is one a ``RedisStore`` can be built from; else the ValueError that says what it takes."""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"RedisStore needs a redis://, rediss:// or unix:// URL or a redis client, not {url!r}")
    return url


def given_client(client: Any, async_client: Any) -> tuple[bool, bool]:
    """``(is async, is a cluster)`` of the client passed first to ``RedisStore``; TypeError for anything else."""
    mode = client_mode(client)
    if mode is None:
        raise TypeError(
            "RedisStore takes a redis:// URL or a redis.Redis client (or redis.asyncio.Redis, "
            f"redis.cluster.RedisCluster), not {client!r}"
        )
    check_bytes(client)
    if mode[0] == "async" and async_client is not None:
        raise TypeError("pass the sync client first and the async one as async_client=, not two async ones")
    return mode[0] == "async", mode[1]


def given_async_client(client: Any) -> bool:
    """Whether the ``async_client=`` of a ``RedisStore`` is a cluster client; TypeError unless it is an async client."""
    mode = client_mode(client)
    if mode is None or mode[0] != "async":
        raise TypeError(
            "async_client= takes a redis.asyncio.Redis or redis.asyncio.cluster.RedisCluster client, "
            f"not {client!r}"
        )
    check_bytes(client)
    return mode[1]

# Owner-only lease changes: compare the token and act in one step on the server.
RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
#: A lease's milliseconds left: -2 when there is none, -1 when it never lapses (no expiry, or not a string).
LEASE_LEFT = (
    "local t = redis.call('type', KEYS[1])['ok'] if t == 'none' then return -2 end "
    "if t ~= 'string' then return -1 end return redis.call('pttl', KEYS[1])"
)


def seconds_left(reply: Any) -> float | None:
    """What :data:`LEASE_LEFT` answered, as ``RedisStore.lease_left`` tells it."""
    if reply == -1:
        return math.inf
    return reply / 1000 if isinstance(reply, int) and reply > 0 else None


async def aclear_matching(client: Any, pattern: str, batch: int) -> int:
    """UNLINK the keys matching *pattern* (SCAN, *batch* keys per UNLINK) with an async client; how many went."""
    removed = 0
    names: list[bytes] = []
    async for name in client.scan_iter(match=pattern, count=1000):
        names.append(name)
        if len(names) >= batch:
            removed += int(await client.unlink(*names))
            names = []
    if names:
        removed += int(await client.unlink(*names))
    return removed


def hgetall(client: Any, name: bytes) -> Any:
    """The hash *name*, or None when another type sits there (WRONGTYPE): not stats proxycache wrote."""
    import redis

    try:
        return client.hgetall(name)
    except redis.ResponseError:
        return None


def strlens(client: Any, names: list[bytes]) -> list[int | None]:
    """The length of each string in *names*, one pipelined round trip; None for a key of another type.

    Pipelined replies are read to the end (``raise_on_error=False``), so one
    foreign key under the prefix (a list under an entry's name) costs only
    its own line; a connection error is still raised.
    """
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.strlen(name)
    return [reply if isinstance(reply, int) else None for reply in pipe.execute(raise_on_error=False)]


def count_hit(client: Any, name: str, saved: float) -> Any:
    """Count a hit and the seconds it saved in the stats hash *name*: one round trip (awaitable for an async client)."""
    pipe = client.pipeline(transaction=False)
    pipe.hincrby(name, "hits", 1)
    pipe.hincrbyfloat(name, "saved_seconds", saved)
    return pipe.execute()


def millis(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def parse_stats(row: Any) -> NamespaceStats | None:
    """A stats hash read back; None when it is not one proxycache wrote (untrusted input)."""
    if not isinstance(row, dict) or not row:
        return None
    try:
        hits = int(row.get(b"hits", b"0"))
        saved = float(row.get(b"saved_seconds", b"0"))
    except (TypeError, ValueError):
        return None
    if hits < 0 or not saved >= 0:
        return None
    return NamespaceStats(hits, saved)


def client_mode(client: Any) -> tuple[str, bool] | None:
    """("sync" or "async", is a cluster) for the redis-py clients a store takes; None for anything else."""
    import redis
    import redis.asyncio
    from redis.asyncio.cluster import RedisCluster as AsyncCluster
    from redis.cluster import RedisCluster

    if isinstance(client, RedisCluster):
        return ("sync", True)
    if isinstance(client, redis.Redis):
        return ("sync", False)
    if isinstance(client, AsyncCluster):
        return ("async", True)
    if isinstance(client, redis.asyncio.Redis):
        return ("async", False)
    return None


def check_bytes(client: Any) -> None:
    pool = getattr(client, "connection_pool", None)
    kwargs: Any = getattr(pool, "connection_kwargs", None)
    if kwargs is None:
        manager = getattr(client, "nodes_manager", None)
        kwargs = getattr(manager, "connection_kwargs", None) or getattr(client, "connection_kwargs", None) or {}
    if kwargs.get("decode_responses"):
        raise ValueError("RedisStore needs a client built with decode_responses=False (entries are bytes)")


def glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def hide_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return url
    return f"{scheme}{sep}{creds.split(':', 1)[0]}:***@{host}"
