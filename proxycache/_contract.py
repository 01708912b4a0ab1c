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

An :class:`Entry` is what stale serving needs next to a value: when it was
made, when it expires, and until when it may still be served stale. Its
header is part of what a key-binding serializer signs
(:func:`signing_key`), so nobody can extend an entry's life.
"""

from __future__ import annotations

import enum
import math
import struct
import time
from collections.abc import Iterator
from typing import Any, Final, NamedTuple, Protocol, runtime_checkable


class MissType(enum.Enum):
    """The type of :data:`MISS`, for annotating a store's ``get``: ``-> bytes | MissType``."""

    MISS = "MISS"

    def __repr__(self) -> str:
        return "proxycache.MISS"

    def __bool__(self) -> bool:
        return False


_Miss = MissType  # the name the store modules import

#: Returned by :meth:`Store.get` when a key holds nothing.
MISS: Final = MissType.MISS


class StoreWarning(UserWarning):
    """A store failed, or is set up in a way others can abuse; calls go on uncached.

    Warned once per store: its first fault (the reason: permission denied,
    not a directory, authentication required...), and a Redis store whose
    entries are unsigned pickles. Later faults are counted in
    ``cache_stats()["faults"]`` and logged on the ``proxycache`` logger.
    """


#: Store keys are ``<namespace>:<digest>``, the digest this many lowercase hex digits.
DIGEST_LENGTH: Final = 40


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


_HEADER: Final = struct.Struct(">4sddd")
_MAGIC: Final = b"pce1"
#: Bytes an :class:`Entry` header takes in front of the serialized value.
HEADER_SIZE: Final = _HEADER.size


class EntryError(ValueError):
    """Bytes that are not an entry envelope (truncated, another format): read as a miss."""


class Entry(NamedTuple):
    """A value with the times stale serving needs, all wall-clock seconds (``time.time()``).

    *expires* is when the value stops being fresh (``inf``: never);
    *stale_until* is how long after that it may still be served stale
    (``stale_if_error``, ``stale_while_revalidate``); it is at least *expires*.
    Wall-clock time, because processes on other machines read the entry.
    """

    value: Any
    created: float
    expires: float = math.inf
    stale_until: float = math.inf

    @classmethod
    def make(cls, value: Any, ttl: float | None = None, stale: float = 0.0, now: float | None = None) -> Entry:
        """An entry made *now* (default: the current time) that is fresh for *ttl* seconds, then stale for *stale*."""
        now = time.time() if now is None else now
        expires = math.inf if ttl is None else now + ttl
        return cls(value, now, expires, expires + stale)

    def fresh(self, now: float | None = None) -> bool:
        """True until the entry expires."""
        return (time.time() if now is None else now) < self.expires

    def servable(self, now: float | None = None) -> bool:
        """True while the entry may be served, fresh or stale."""
        return (time.time() if now is None else now) < self.stale_until

    def store_ttl(self, now: float | None = None) -> float | None:
        """Seconds the store must keep the entry (to the end of its stale window); None: no expiry.

        At least a millisecond, so an entry written just as it lapses is not
        stored without expiry.
        """
        if math.isinf(self.stale_until):
            return None
        return max(0.001, self.stale_until - (time.time() if now is None else now))

    def header(self) -> bytes:
        """The compact encoding of the times (28 bytes), which :func:`signing_key` binds to the key."""
        return _HEADER.pack(_MAGIC, self.created, self.expires, self.stale_until)

    def encode(self, payload: bytes) -> bytes:
        """The header, then *payload* (the serialized value)."""
        return self.header() + payload

    @classmethod
    def decode(cls, data: bytes) -> tuple[Entry, bytes]:
        """The entry's times (its value still None) and the payload; :class:`EntryError` for other bytes."""
        if len(data) < HEADER_SIZE:
            raise EntryError(f"an entry of {len(data)} bytes is shorter than its header ({HEADER_SIZE})")
        magic, created, expires, stale_until = _HEADER.unpack_from(data)
        if magic != _MAGIC:
            raise EntryError("not an entry envelope (written by another version or application)")
        if not (created <= expires <= stale_until) or math.isnan(created):
            raise EntryError("an entry whose times are out of order")
        return cls(None, created, expires, stale_until), bytes(data[HEADER_SIZE:])


def signing_key(key: str, entry: Entry) -> str:
    """What a key-binding serializer signs for *entry* stored under *key*: the key and the entry's times.

    :class:`~proxycache.serializers.PickleSerializer` signs the store key it
    is given; giving it this instead puts the header under the same
    signature, so an entry whose times were edited (to live longer) or that
    was copied to another key does not check out.
    """
    return f"{key}\x00{entry.header().hex()}"


def dump_entry(serializer: Any, key: str, entry: Entry) -> bytes:
    """*entry* as bytes for a bytes store: header, then the value through *serializer* (bound to key and header)."""
    if getattr(serializer, "binds_key", False):
        payload = serializer.dumps(entry.value, key=signing_key(key, entry))
    else:
        payload = serializer.dumps(entry.value)
    return entry.encode(payload)


def load_entry(serializer: Any, key: str, data: bytes) -> Entry:
    """The :class:`Entry` *data* holds; raises what the serializer raises (a bad signature...) or EntryError."""
    times, payload = Entry.decode(data)
    if getattr(serializer, "binds_key", False):
        value = serializer.loads(payload, key=signing_key(key, times))
    else:
        value = serializer.loads(payload)
    return Entry(value, times.created, times.expires, times.stale_until)


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
