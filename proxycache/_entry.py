"""What a store holds for stale serving: the :class:`Entry` envelope.

An :class:`Entry` is what stale serving needs next to a value: when it was
made, when it expires, and until when it may still be served stale. Its
header is part of what a key-binding serializer signs
(:func:`signing_key`), so nobody can extend an entry's life. Loaded by
those who need it (stores, stale serving, ``ttl=`` from results).
"""

from __future__ import annotations

import math
import struct
import time
from typing import Any, Final, NamedTuple

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
        # signing_key(key, times), from the header as read: it packs back to the same bytes.
        value = serializer.loads(payload, key=f"{key}\x00{data[:HEADER_SIZE].hex()}")
    else:
        value = serializer.loads(payload)
    return Entry(value, times.created, times.expires, times.stale_until)
