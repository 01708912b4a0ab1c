"""What a result may be stored as, and for how long: ``cache_if=``, ``ttl=`` (seconds or a callable), stale windows.

:class:`Lifetime` answers, for one result, "store it for this many seconds"
(None: no expiry) or :data:`REJECT`. :class:`TimedStorage` is the in-memory
storage whose entries each carry their own times (an :class:`Entry`'s
``created``, ``expires`` and ``stale_until``), so an expired entry can still
be served stale until its window closes. Shared stores keep the same times
in the entry envelope (``_entry.Entry``) next to the value.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Final

from ._entry import Entry, dump_entry, load_entry
from ._miss import MISS
from ._options import Options
from ._storage import Storage
from ._storage_wrapped import TTLStorage

log = logging.getLogger("proxycache")


#: The first bytes of an entry envelope (see ``_entry.Entry.header``).
ENVELOPE_MAGIC: Final = Entry.make(None).header()[:4]


class _Reject:
    def __repr__(self) -> str:
        return "proxycache.REJECT"


#: :meth:`Lifetime.admit`'s answer for a result that is returned but not stored.
REJECT: Final[Any] = _Reject()
#: ``TimedStorage.put``'s default lifetime: the ``ttl`` option's.
OPTION: Final[Any] = object()


class Expired:
    """A lookup's answer for an entry past its ``ttl`` that may still be served stale.

    *now* is when the storage read it, by the clock its times are in (the
    cache's clock in memory, the wall clock in a shared store).
    """

    __slots__ = ("entry", "now")

    def __init__(self, entry: Entry, now: float) -> None:
        self.entry = entry
        self.now = now

    def __repr__(self) -> str:
        return f"Expired({self.entry!r}, now={self.now!r})"


class Lifetime:
    """The storing rules of one method: ``cache_if``, ``ttl`` and the stale window after it.

    ``stale`` is how long an expired entry is kept: the longer of
    ``stale_if_error`` and ``stale_while_revalidate`` (0 without them).
    """

    __slots__ = ("cache_if", "qualname", "stale", "ttl", "ttl_of")

    def __init__(self, options: Options, qualname: str) -> None:
        self.qualname = qualname
        self.cache_if = options.cache_if
        ttl = options.ttl
        self.ttl_of: Callable[[Any], Any] | None = ttl if callable(ttl) else None
        self.ttl: float | None = None if callable(ttl) else ttl
        self.stale = max(options.stale_if_error or 0.0, options.stale_while_revalidate or 0.0)

    @property
    def per_result(self) -> bool:
        """Whether results are looked at before they are stored (``cache_if`` or a ``ttl`` callable)."""
        return self.cache_if is not None or self.ttl_of is not None

    def admit(self, result: Any) -> Any:
        """Seconds to keep *result* fresh (None: no expiry), :data:`OPTION` for the ``ttl`` option's, or :data:`REJECT`.

        :data:`REJECT`: the result is returned, not stored.
        A predicate or ``ttl`` callable that raises, or a ``ttl`` callable
        that answers something other than seconds, rejects the result (and
        is logged): the caller still gets the result, and a broken rule never
        stores it for ever.
        """
        cache_if = self.cache_if
        if cache_if is not None:
            try:
                keep = cache_if(result)
            except Exception:
                log.exception("%s: cache_if=%r raised; the result was returned uncached", self.qualname, cache_if)
                return REJECT
            if not keep:
                return REJECT
        ttl_of = self.ttl_of
        if ttl_of is None:
            return OPTION
        try:
            seconds = ttl_of(result)
        except Exception:
            log.exception("%s: ttl=%r raised; the result was returned uncached", self.qualname, ttl_of)
            return REJECT
        return self._seconds(seconds, ttl_of)

    def admit_error(self, error: BaseException) -> Any:
        """Like :meth:`admit`, for an exception ``cache_exceptions=`` keeps: a ``ttl`` callable is given the exception.

        ``cache_if`` does not apply (``cache_exceptions`` chose it); a ``ttl``
        callable that cannot read an exception (it raises) leaves it unstored.
        """
        ttl_of = self.ttl_of
        if ttl_of is None:
            return OPTION
        try:
            seconds = ttl_of(error)
        except Exception:
            return REJECT
        return self._seconds(seconds, ttl_of)

    def _seconds(self, seconds: Any, ttl_of: Any) -> Any:
        if seconds is None:
            return None
        if isinstance(seconds, timedelta):
            seconds = seconds.total_seconds()
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or math.isnan(seconds):
            log.warning(
                "%s: ttl=%r returned %r, not seconds (a number, a timedelta or None); the result was returned "
                "uncached", self.qualname, ttl_of, seconds,
            )
            return REJECT
        if seconds <= 0:
            return REJECT  # already expired: nothing to keep
        return None if math.isinf(seconds) else float(seconds)


class _NoRules:
    """The null :class:`Lifetime`: every result is stored for the ``ttl`` option's time."""

    __slots__ = ()

    def admit(self, result: Any) -> Any:
        return OPTION

    def admit_error(self, error: BaseException) -> Any:
        return OPTION


NO_RULES: Final[Any] = _NoRules()


def storing_rules(options: Options, qualname: str) -> Any:
    """A :class:`Lifetime` when results are looked at before they are stored, else :data:`NO_RULES`."""
    if options.cache_if is None and not callable(options.ttl):
        return NO_RULES
    return Lifetime(options, qualname)


class TimedStorage(TTLStorage):
    """A :class:`TTLStorage` whose entries each have their own lifetime, and are kept through a stale window.

    The inner storage holds ``(value, expires)`` pairs as for a plain
    ``ttl``, so the hit path is the same lines: past ``expires`` a hit is a
    miss. Beside them, ``times`` keeps each key's ``(created, stale_until)``
    and a heap orders the keys by ``stale_until`` to purge them: lifetimes
    read from results do not expire in the order they were written.
    """

    def __init__(self, inner: Storage, lifetime: Lifetime, timer: Callable[[], float] | None = None) -> None:
        super().__init__(inner, math.inf if lifetime.ttl is None else lifetime.ttl, timer)
        self.lifetime = lifetime
        self.stale = lifetime.stale
        self.times: dict[Any, tuple[float, float, int]] = {}  # key -> (created, stale_until, seq)
        self._heap: list[tuple[float, int, Any]] = []
        self._seq = itertools.count()

    def purge(self) -> None:
        now = self.timer()
        heap, times = self._heap, self.times
        while heap and heap[0][0] <= now:
            _, seq, key = heapq.heappop(heap)
            held = times.get(key)
            if held is not None and held[2] == seq:
                del times[key]
                self.inner.delete(key)

    def put(self, key: Any, value: Any, ttl: Any = OPTION) -> bool:
        """Store *value* fresh for *ttl* seconds (default: the ``ttl`` option; None: no expiry), then stale."""
        self.purge()
        if ttl is OPTION:
            ttl = self.lifetime.ttl
        entry = Entry.make(None, ttl, self.stale, now=self.timer())
        stored = self.inner.put(key, (value, entry.expires))
        self.times.pop(key, None)
        if stored:
            seq = next(self._seq)
            self.times[key] = (entry.created, entry.stale_until, seq)
            if not math.isinf(entry.stale_until):
                heapq.heappush(self._heap, (entry.stale_until, seq, key))
        # Evictions by the inner policy leave records behind: drop them now and then.
        if len(self.times) > 2 * len(self.inner) + 16:
            self.times = {k: t for k, t in self.times.items() if self.inner.peek(k) is not MISS}
            self._heap = [(t[1], t[2], k) for k, t in self.times.items() if not math.isinf(t[1])]
            heapq.heapify(self._heap)
        return stored

    def lookup(self, key: Any) -> Any:
        """The value for *key* while fresh; :class:`Expired` while it may be served stale; else MISS."""
        found = self.inner.lookup(key)
        if found is MISS:
            return MISS
        value, expires = found
        now = self.timer()
        if now < expires:
            return value
        held = self.times.get(key)
        if held is not None and now < held[1]:
            return Expired(Entry(value, held[0], expires, held[1]), now)
        return MISS

    def delete(self, key: Any) -> bool:
        live = self.peek(key) is not MISS
        self.times.pop(key, None)
        return self.inner.delete(key) and live

    def clear(self) -> None:
        self.times.clear()
        self._heap.clear()
        self.inner.clear()


def needs_timing(options: Options) -> bool:
    """Whether entries need times of their own: ``ttl`` read from results, or a stale window."""
    return callable(options.ttl) or bool(options.stale_if_error or options.stale_while_revalidate)


class EntryCodec:
    """How a shared storage writes a result with its times, and reads back either form.

    Methods whose entries need times of their own (:func:`needs_timing`)
    write the entry envelope (``_entry.Entry``: header, then the value
    through the serializer, both under its signature); the rest write the
    serialized value alone, so their hits decode nothing more. Reads accept
    both: a value without a header is fresh for as long as the store keeps
    it. Stores that hold objects keep the :class:`Entry` itself.
    """

    __slots__ = ("binds_key", "serializer", "stale", "timed", "ttl")

    def __init__(self, serializer: Any, options: Options) -> None:
        self.serializer = serializer
        self.binds_key = bool(getattr(serializer, "binds_key", False))
        self.timed = needs_timing(options)
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
        value = serializer.loads(data, key=name) if self.binds_key else serializer.loads(data)
        return Entry(value, -math.inf)
