"""The small contract every store and serializer meets.

Memory storage holds Python objects. Shared stores (disk, Redis) hold bytes
under stable string keys and take a :class:`Serializer`. A store answers a
lookup with the value or :data:`MISS`; it never raises for a missing key.

The protocols, from the least a store must do to what production needs:

- :class:`Store`: get, set, delete, clear, keys, and the facts the cached
  method reads (``shared``, ``holds_objects``, ``kind``, ``front``);
- :class:`ObjectStore` (holds objects) and :class:`BytesStore` (holds bytes,
  can ``scan``);
- :class:`AsyncBytesStore`: the same calls as coroutines that never block
  the event loop;
- :class:`LeaseStore` and :class:`AsyncLeaseStore`: a lease per key, for
  single flight across processes (``single_flight="store"``);
- :class:`StatsStore`: hits and saved seconds per namespace, summed over
  every process (``stats=True``).
- :class:`Front`: what a store's front cache (an in-process tier of
  decoded values) offers the methods that use the store.

:data:`MISS` lives in ``_miss`` and the :class:`Entry` envelope in ``_entry``, which an
in-memory cache loads without building these protocols.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple, Protocol, runtime_checkable

from ._miss import MissType


@runtime_checkable
class Serializer(Protocol):
    """Turns results into bytes and back (``"pickle"``, ``"json"``, ``"pydantic"`` or your own).

    A serializer whose class sets ``binds_key = True`` receives each entry's
    store key as ``dumps(value, key=...)`` and ``loads(data, key=...)``, to
    bind the bytes to it (:class:`~proxycache.serializers.PickleSerializer`
    signs it); plain ``dumps(value)`` and ``loads(data)`` are enough otherwise.
    """

    def dumps(self, value: Any) -> bytes:
        """The bytes to store for *value*; raise ``TypeError`` or ``ValueError`` for a value it cannot hold."""
        ...

    def loads(self, data: bytes) -> Any:
        """The value back from *data*; raise for bytes it does not recognize (the read is then a miss)."""
        ...


# -- the entry envelope ---------------------------------------------------------


# -- the store protocols ----------------------------------------------------------


@runtime_checkable
class Store(Protocol):
    """Where a shared cache keeps its entries.

    Keys are strings ``"<namespace>:<digest>"``, the digest 40 lowercase hex
    digits, so ``clear("a")`` can tell namespace ``a`` from ``a:b``, and
    proxycache's entries from others; values are bytes. ``ttl`` is seconds or
    None. ``get`` returns :data:`MISS` for an absent or expired
    key. ``clear(namespace)`` removes the entries of one namespace (all when
    None) and returns how many it removed. Errors (a server down, a full disk)
    are raised: the cached method catches, logs and counts them.

    ``shared`` says whether entries are seen by other instances and
    processes. The built-in stores also have the members of
    :class:`ObjectStore` or :class:`BytesStore` (``holds_objects``, ``kind``,
    ``front``); a store without them is taken for a bytes store with no front.
    """

    shared: bool
    """True when entries are shared between instances and processes (then ``key_attrs=`` is required)."""

    def get(self, key: str) -> bytes | MissType:
        """The bytes stored under *key*, or :data:`MISS` when it is absent or expired."""
        ...

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store *value* under *key*, for *ttl* seconds (None: until evicted or cleared)."""
        ...

    def delete(self, key: str) -> bool:
        """Remove *key*; True if it was there."""
        ...

    def clear(self, namespace: str | None = None) -> int:
        """Remove the entries of *namespace* (every entry when None); the number removed."""
        ...

    def keys(self, namespace: str | None = None) -> Iterator[str]:
        """The keys of *namespace* (every key when None), in no particular order."""
        ...


@runtime_checkable
class ObjectStore(Store, Protocol):
    """A store that keeps values as they are, in this process (``holds_objects`` is True)."""

    #: True: values are kept as objects, and no serializer is used.
    holds_objects: bool
    #: A short name of the kind of store, shown by ``cache_stats()`` and ``inspect``.
    kind: str

    def get(self, key: str) -> Any: ...

    def set(self, key: str, value: Any, ttl: float | None = None) -> None: ...


class Front(Protocol):
    """What a store's front cache (``FrontCache``) offers the methods that use the store.

    Each method keeps its entries in the ``table`` of its namespace, for at
    most ``ttl`` seconds and ``maxsize`` entries; ``epoch`` counts the
    invalidations from outside (another process's write), so a value read
    from the store before one is not kept; ``drop`` forgets a namespace.
    """

    maxsize: int
    ttl: float
    epoch: int

    def table(self, namespace: str) -> dict[Any, Any]: ...

    def drop(self, namespace: str | None = None) -> None: ...


@runtime_checkable
class BytesStore(Store, Protocol):
    """A store of bytes, shared between processes (``holds_objects`` is False).

    A plain :class:`Store` is treated as one; these members, which the
    built-in stores have, are read where present.
    """

    #: False: values are bytes made by the method's serializer.
    holds_objects: bool
    #: A short name of the kind of store, shown by ``cache_stats()`` and ``inspect``.
    kind: str
    #: An in-process tier of decoded values in front of the store (a ``FrontCache``), or None.
    front: Front | None

    def get(self, key: str) -> bytes | MissType: ...

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None: ...

    def scan(self, namespace: str | None = None) -> Iterator[tuple[str, int]]:
        """(key, size in bytes) of the live entries, without reading any value."""
        ...


@runtime_checkable
class AsyncBytesStore(Protocol):
    """The calls of a :class:`BytesStore` as coroutines that never block the event loop."""

    async def aget(self, key: str) -> bytes | MissType: ...

    async def aset(self, key: str, value: bytes, ttl: float | None = None) -> None: ...

    async def adelete(self, key: str) -> bool: ...

    async def aclear(self, namespace: str | None = None) -> int: ...


@runtime_checkable
class LeaseStore(Protocol):
    """A lease per key: at most one holder at a time, for at most *ttl* seconds unless renewed.

    ``acquire_lease`` answers a token (the holder's proof) or None when
    another holder has it; ``renew_lease`` and ``release_lease`` succeed only
    for the token's holder, and only while the lease has not lapsed. A lapsed
    lease (a holder that died) can be taken by anyone. Leases live beside the
    entries but are never listed, counted or cleared as entries.

    Optional, and offered by the built-in stores: ``lease_left(key)`` (and
    ``alease_left``), the seconds until the lease lapses unless renewed,
    None when free, ``math.inf`` when it never lapses; with it, a waiter
    stops waiting on a lease no live holder renews.
    """

    def acquire_lease(self, key: str, ttl: float) -> str | None: ...

    def renew_lease(self, key: str, token: str, ttl: float) -> bool: ...

    def release_lease(self, key: str, token: str) -> bool: ...


@runtime_checkable
class AsyncLeaseStore(Protocol):
    """The calls of a :class:`LeaseStore` as coroutines that never block the event loop."""

    async def aacquire_lease(self, key: str, ttl: float) -> str | None: ...

    async def arenew_lease(self, key: str, token: str, ttl: float) -> bool: ...

    async def arelease_lease(self, key: str, token: str) -> bool: ...


class NamespaceStats(NamedTuple):
    """What the cache saved in one namespace, summed over every process that recorded it."""

    hits: int
    saved_seconds: float


@runtime_checkable
class StatsStore(Protocol):
    """A store that keeps hit counts per namespace (built with ``stats=True``).

    ``record_hit`` costs at most one round trip (nothing when stats are off);
    ``hit_stats`` reads them back, per namespace.
    """

    stats: bool

    def record_hit(self, namespace: str, saved_seconds: float = 0.0) -> None: ...

    def hit_stats(self, namespace: str | None = None) -> dict[str, NamespaceStats]: ...
