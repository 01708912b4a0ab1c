"""How a shared storage writes a result with its times (the ``_entry.Entry`` envelope), and reads it back.

Loaded by the shared stores' storage (``_shared``) only.
"""

from __future__ import annotations

import math
from typing import Any, Final

from ._entry import Entry, EntryError, dump_entry, load_entry
from ._lifetime import OPTION, needs_timing
from ._options import Options

#: The first bytes of an entry envelope (see ``_entry.Entry.header``).
ENVELOPE_MAGIC: Final = Entry.make(None).header()[:4]
def signs(serializer: Any) -> bool:
    """Whether *serializer* signs entries with their keys: it binds them (``binds_key``), and ``signed`` says so.

    Only such a serializer signs the times too (``_entry.signing_key``); one
    that binds keys without saying whether it signs is taken to sign.
    """
    return bool(getattr(serializer, "binds_key", False)) and getattr(serializer, "signed", True) is not False


class EntryCodec:
    """How a shared storage writes a result with its times, and reads back either form.

    Methods whose entries need times of their own (:func:`needs_timing`),
    and signed entries with a ``ttl``, write the entry envelope
    (``_entry.Entry``: header, then the value through the serializer, both
    under its signature); the rest write the serialized value alone, so
    their hits decode nothing more. Reads accept both: a value without a
    header is fresh for as long as the store keeps it, except where a signed
    expiry is due (``dated``): the store's own expiry (Redis ``PX``,
    diskcache's ``expire_time``) is not signed, and whoever can write the
    store can drop it, or put back a header-less entry signed long ago.
    Stores that hold objects keep the :class:`Entry` itself.
    """

    __slots__ = ("binds_key", "dated", "serializer", "stale", "timed", "ttl")

    def __init__(self, serializer: Any, options: Options) -> None:
        self.serializer = serializer
        self.binds_key = bool(getattr(serializer, "binds_key", False))
        #: Signed entries that expire: each carries its expiry under the signature, and must.
        self.dated = options.ttl is not None and signs(serializer)
        self.timed = needs_timing(options) or self.dated
        self.ttl = None if callable(options.ttl) else options.ttl
        self.stale = max(options.stale_if_error or 0.0, options.stale_while_revalidate or 0.0)

    def dump(self, name: str, value: Any, ttl: Any, now: float) -> tuple[Any, float | None]:
        """``(data, seconds the store keeps it)`` for *value* stored under *name*, fresh for *ttl* seconds."""
        if ttl is OPTION:
            ttl = self.ttl
        serializer: Any = self.serializer
        if not self.timed:
            if serializer is None:
                return value, ttl
            return (serializer.dumps(value, key=name) if self.binds_key else serializer.dumps(value)), ttl
        entry = Entry.make(value, ttl, self.stale, now=now)
        if serializer is None:
            return entry, entry.store_ttl(now)
        return dump_entry(serializer, name, entry), entry.store_ttl(now)

    def load(self, name: str, data: Any) -> Entry:
        """The entry *data* holds; raises what the serializer raises, or EntryError (read as a miss)."""
        serializer: Any = self.serializer
        if serializer is None:
            return data if type(data) is Entry else Entry(data, -math.inf)
        if data[:4] == ENVELOPE_MAGIC:
            return load_entry(serializer, name, data)
        if self.dated:
            raise EntryError("a signed entry without its signed expiry (written by an older proxycache, or put back)")
        value = serializer.loads(data, key=name) if self.binds_key else serializer.loads(data)
        return Entry(value, -math.inf)
