"""The redis-py clients a ``RedisStore`` takes or builds, and small helpers of its layout."""

from __future__ import annotations

from typing import Any

from ._contract import NamespaceStats


def client_from_url(url: str, *, cluster: bool, timeout: float, asynchronous: bool) -> Any:
    """A client for *url* with short timeouts and one retry, so a dead server costs little."""
    settings: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout, "decode_responses": False}
    from redis.backoff import NoBackoff

    if asynchronous:
        from redis.asyncio.retry import Retry as AsyncRetry

        settings["retry"] = AsyncRetry(NoBackoff(), 1)
        if cluster:
            from redis.asyncio.cluster import RedisCluster as AsyncCluster

            return AsyncCluster.from_url(url, **settings)
        import redis.asyncio

        return redis.asyncio.Redis.from_url(url, **settings)
    import redis
    from redis.retry import Retry

    settings["retry"] = Retry(NoBackoff(), 1)
    if cluster:
        from redis.cluster import RedisCluster

        return RedisCluster.from_url(url, **settings)
    return redis.Redis.from_url(url, **settings)



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

def hgetall(client: Any, name: bytes) -> Any:
    return client.hgetall(name)


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
