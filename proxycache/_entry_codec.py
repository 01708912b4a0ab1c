"""How a shared storage writes a result with its times (the ``_entry.Entry`` envelope), and reads it back.

Also the serializer mark (:func:`marked`): entries written by one serializer
are never read as a hit by another. Loaded by the shared stores' storage
(``_shared``) only.
"""

from __future__ import annotations

import math
from typing import Any, Final

from ._entry import HEADER_SIZE, Entry, EntryError, dump_entry, load_entry
from ._lifetime import OPTION, needs_timing
from ._options import Options
from .serializers import JsonSerializer, OutdatedEntry, PickleSerializer, PydanticSerializer

#: The first bytes of an entry envelope (see ``_entry.Entry.header``).
ENVELOPE_MAGIC: Final = Entry.make(None).header()[:4]
#: The first bytes of a serializer mark (see :func:`marked`). Neither JSON nor a pickle can start so.
MARK_MAGIC: Final = b"pcm1"
_NAMES: Final = {JsonSerializer: "json", PydanticSerializer: "pydantic"}


def marked(serializer: Any) -> Any:
    """*serializer*, or a :class:`Marked` one whose entries start with a mark naming it.

    Bytes alone do not say who wrote them: JSON reads the Pydantic
    serializer's envelope ``{"d": {"count": {"j": 5}}}`` as a plain dict, and
    Pydantic reads a JSON ``{"j": 5}`` as ``5``. Two serializers on one
    namespace (a rolling change of ``serializer=``, two services) would then
    serve each other's entries as wrong hits. A mark (the serializer's name,
    or its class's qualified name) makes such an entry a miss. Pickles are
    left unmarked, so the default hit reads nothing more: a pickle names its
    own format (protocol 2 and later start with ``\\x80``, signed ones with
    ``pcs2``), and no marked entry or JSON text reads as one.
    """
    if serializer is None or type(serializer) is PickleSerializer:
        return serializer
    kind = type(serializer)
    name = _NAMES.get(kind) or f"{kind.__module__}:{kind.__qualname__}"
    mark = MARK_MAGIC + name.encode("utf-8", "surrogatepass") + b"\x00"
    return (MarkedBound if getattr(serializer, "binds_key", False) else Marked)(serializer, mark)


class Marked:
    """A serializer whose entries start with its mark; an entry without that mark is :class:`OutdatedEntry`."""

    __slots__ = ("inner", "mark", "signed", "size")
    binds_key = False

    def __init__(self, inner: Any, mark: bytes) -> None:
        self.inner = inner
        self.mark = mark
        self.size = len(mark)
        #: Whether the inner serializer signs what it writes (``binds_key`` ones are taken to).
        self.signed = bool(getattr(inner, "signed", self.binds_key))

    def __repr__(self) -> str:
        return repr(self.inner)

    def dumps(self, value: Any) -> bytes:
        return self.mark + _checked(self.inner, self.inner.dumps(value))

    def loads(self, data: bytes) -> Any:
        size = self.size
        if data[:size] != self.mark:
            raise OutdatedEntry("entry written by another serializer, or by an older proxycache")
        return self.inner.loads(data[size:])


class MarkedBound(Marked):
    """:class:`Marked` for a serializer that binds entries to their keys (``binds_key``): ``key=`` passed on."""

    __slots__ = ()
    binds_key = True

    def dumps(self, value: Any, *, key: str | None = None) -> bytes:
        return self.mark + _checked(self.inner, self.inner.dumps(value, key=key))

    def loads(self, data: bytes, *, key: str | None = None) -> Any:
        size = self.size
        if data[:size] != self.mark:
            raise OutdatedEntry("entry written by another serializer, or by an older proxycache")
        return self.inner.loads(data[size:], key=key)


def _checked(serializer: Any, data: Any) -> bytes:
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"{serializer!r}.dumps() returned a {type(data).__qualname__}; a serializer must return bytes")
    return bytes(data)


def by_another_serializer(data: Any) -> bool:
    """Whether *data*, which the reading serializer refused, is an entry another serializer marked (a quiet miss)."""
    if data[:4] == ENVELOPE_MAGIC:
        data = data[HEADER_SIZE:]
    return bool(data[:4] == MARK_MAGIC)


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
