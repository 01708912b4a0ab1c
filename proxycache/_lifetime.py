"""What a result may be stored as, and for how long: ``cache_if=``, ``ttl=`` (seconds or a callable), stale windows.

:class:`Lifetime` answers, for one result, "store it for this many seconds"
(None: no expiry) or :data:`REJECT`. ``_storage_wrapped.TimedStorage`` is
the in-memory storage whose entries each carry their own times (an
``_entry.Entry``'s ``created``, ``expires`` and ``stale_until``), so an
expired entry can still be served stale until its window closes. Shared
stores keep the same times in the entry envelope (``_entry_codec``) next to
the value. The null objects of methods without these options are here, so
that those methods load none of that.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from ._options import Options

if TYPE_CHECKING:
    from ._entry import Entry

log = logging.getLogger("proxycache")


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


def needs_timing(options: Options) -> bool:
    """Whether entries need times of their own: ``ttl`` read from results, or a stale window."""
    return callable(options.ttl) or bool(options.stale_if_error or options.stale_while_revalidate)


class _NoStale:
    """The null ``_stale.StaleServing``: nothing is ever served stale.

    Here, not in ``_stale``: methods without stale options never load it.
    """

    __slots__ = ()
    served = 0

    def __bool__(self) -> bool:
        return False

    def at_once(self, entry: Entry, now: float) -> bool:
        return False

    def on_error(self, entry: Entry, now: float) -> bool:
        return False

    def reset(self) -> None:
        pass


NO_STALE: Final[Any] = _NoStale()


def stale_serving(options: Options, qualname: str) -> Any:
    """A ``_stale.StaleServing`` for *options*, or :data:`NO_STALE` when they ask for none."""
    if options.stale_if_error is None and options.stale_while_revalidate is None:
        return NO_STALE
    from ._stale import StaleServing  # loaded by those who ask for stale serving

    return StaleServing(options, qualname)
