"""The small contract every store and serializer meets.

Memory storage holds Python objects. Shared stores (disk, Redis) hold bytes
under stable string keys and take a :class:`Serializer`. A store answers a
lookup with the value or :data:`MISS`; it never raises for a missing key.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import Any, Final, Protocol, runtime_checkable


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
