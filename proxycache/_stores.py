"""The stores a cache can live in besides per-instance memory, and ``open_store`` for the command line.

``MemoryStore`` (``_store_memory``) holds objects and is shared by the
instances of one process. ``DiskStore`` (``_store_disk``, diskcache on
SQLite) and ``RedisStore`` (``_store_redis``, redis-py) hold bytes and are
shared between processes, and for Redis between machines. All of them meet
the protocols of ``_contract``. The optional packages are imported when a
store is built, so ``import proxycache`` needs none of them.
"""

from __future__ import annotations

from typing import Any

from ._front import FrontCache
from ._store_base import ForeignEntry, StoreUnavailable, namespace_of
from ._store_disk import DiskStore
from ._store_memory import MemoryStore
from ._store_redis import RedisStore

__all__ = [
    "DiskStore",
    "ForeignEntry",
    "FrontCache",
    "MemoryStore",
    "RedisStore",
    "StoreUnavailable",
    "namespace_of",
    "open_store",
]


def open_store(spec: str, *, cluster: bool = False) -> Any:
    """A store from a command-line spec: ``disk:PATH``, ``redis://...`` (``rediss://``, ``unix://``) or ``memory``.

    *cluster*: the Redis URL names a node of a Redis Cluster.
    """
    if not isinstance(spec, str) or not spec:
        raise ValueError("a store is given as disk:PATH, redis://HOST:PORT/DB or memory")
    if spec.startswith("disk:"):
        path = spec[len("disk:") :]
        if not path:
            raise ValueError("disk: needs a directory, as in disk:/tmp/proxycache")
        return DiskStore(path)
    if spec.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(spec, cluster=cluster)
    if spec in ("memory", "memory:"):
        return MemoryStore()
    raise ValueError(f"unknown store {spec!r}: use disk:PATH, redis://HOST:PORT/DB or memory")
