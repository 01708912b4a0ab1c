"""What a store's fault becomes: counted, sent to listeners, warned about once, logged (rate-limited).

Also the few words that say why a store failed ("permission denied"...), kept
per store for ``python -m proxycache inspect``, and the warnings a store earns
once (unsigned pickles in Redis, a result its serializer cannot store).
"""

from __future__ import annotations

import errno
import logging
import time
import warnings
import weakref
from typing import Any, Generic, TypeVar

from ._events import emit
from ._miss import StoreWarning
from ._stats import Counters

log = logging.getLogger("proxycache")
T = TypeVar("T")

#: Seconds between two log records about the faults of one store.
LOG_INTERVAL = 10.0
_warned: set[str] = set()  # namespaces already warned about an unserializable result


def report_fault(qualname: str, counters: Counters, store: Any, op: str, error: Exception) -> None:
    """A fault of *store* in *op*: counted, sent to listeners, warned about once per store, logged (rate-limited)."""
    counters.fault()
    emit("fault", qualname, {"op": op, "store": repr(store), "error": error})
    reason = fault_reason(error)
    first = _faults.get(store) is None
    _faults.put(store, reason)
    if first:
        detail = f"{type(error).__name__}: {error}"
        why = detail if reason == type(error).__name__ else f"{reason} ({detail})"
        _warn(
            f"{qualname}(): {store!r} {op} failed: {why}; calls go on uncached "
            "(later faults of this store are counted in cache_stats()['faults'] and logged on the "
            "'proxycache' logger, not warned again)",
            stacklevel=4,  # the storage's read or write that failed
        )
    now = time.monotonic()
    record = _logged.get(store)
    if record is not None and now - record[0] < LOG_INTERVAL:
        record[1] += 1
        return
    quiet = int(record[1]) if record is not None else 0
    _logged.put(store, [now, 0])
    log.warning(
        "%s: %s %s failed (%s: %s); the call went on without the cache%s",
        qualname,
        repr(store),
        op,
        type(error).__name__,
        str(error),  # not the error: a handler that keeps records would keep its frames, and the store with them
        f" ({quiet} more faults of this store in the last {LOG_INTERVAL:g}s not logged)" if quiet else "",
    )


def report_unserializable(
    qualname: str, counters: Counters, namespace: str, serializer: Any, value: Any, error: Exception
) -> None:
    """A result *serializer* cannot store: counted, sent to listeners, warned about once per namespace."""
    counters.uncached_result()
    emit("uncached", qualname, {"reason": "unserializable", "error": error})
    if namespace in _warned:
        return
    _warned.add(namespace)
    _warn(
        f"{qualname}() returned a {type(value).__qualname__} that {serializer!r} cannot store "
        f"({type(error).__name__}: {error}); it was returned uncached. Pass serializer= one that can "
        "(pickle handles most objects), or return plain data. (Warned once per method.)",
        RuntimeWarning,
        stacklevel=4,  # the storage's write
    )


class _PerStore(Generic[T]):
    """A fact per store, forgotten with the store (kept by id for stores that cannot be weakly referenced)."""

    def __init__(self) -> None:
        self._weak: weakref.WeakKeyDictionary[Any, T] = weakref.WeakKeyDictionary()
        self._ids: dict[int, T] = {}

    def get(self, store: Any) -> T | None:
        try:
            return self._weak.get(store)
        except TypeError:
            return self._ids.get(id(store))

    def put(self, store: Any, fact: T) -> None:
        try:
            self._weak[store] = fact
        except TypeError:
            self._ids[id(store)] = fact

    def clear(self) -> None:
        self._weak.clear()
        self._ids.clear()


_faults: _PerStore[str] = _PerStore()  # store -> the reason of its latest fault
_unsigned: _PerStore[str] = _PerStore()  # Redis stores already warned about their unsigned pickles
# Keyed by the store, not its id: a store made after another was dropped may get the same id, and would
# then start out throttled, its first fault unlogged.
_logged: _PerStore[list[float]] = _PerStore()  # store -> [time of last record, faults not logged since]


def last_fault(store: Any) -> str | None:
    """Why *store* last failed in this process ("permission denied"...), or None if it never did."""
    return _faults.get(store)


def fault_reason(error: BaseException) -> str:
    """A few words on why a store failed, for people: "authentication required", "not a directory"..."""
    names = {cls.__name__ for cls in type(error).__mro__}
    if "StoreUnavailable" in names and error.__cause__ is not None:
        return fault_reason(error.__cause__)
    text = str(error)
    if names & {"AuthenticationError", "AuthenticationWrongNumberOfArgsError"} or text.startswith(
        ("NOAUTH", "WRONGPASS", "Authentication required")
    ):
        return "authentication required (or a wrong password)"
    if isinstance(error, OSError) and error.errno is not None:
        known = {
            errno.EACCES: "permission denied",
            errno.EPERM: "permission denied",
            errno.ENOTDIR: "not a directory",
            errno.ENOENT: "no such file or directory",
            errno.ENOSPC: "no space left on the device",
            errno.EROFS: "read-only file system",
            errno.ECONNREFUSED: "connection refused (is the server running?)",
        }
        if error.errno in known:
            return known[error.errno]
    if "SignatureError" in names:
        return "an entry with a bad signature"
    if "ForeignEntry" in names:
        return "an entry proxycache did not write"
    if names & {"TimeoutError", "Timeout"}:
        return "timed out"
    if "StoreUnavailable" in names:
        return "failed recently, not retried yet"
    if "ConnectionError" in names:
        return "connection refused (is the server running?)" if "refused" in text else "cannot connect"
    if "DatabaseError" in names:  # sqlite3's, under diskcache: its text is the reason
        for words, reason in _SQLITE_REASONS:
            if words in text:
                return reason
        return "database error"
    return type(error).__name__


_SQLITE_REASONS = [
    ("readonly", "permission denied (the store is read-only here)"),
    ("unable to open", "cannot open the database (permission denied?)"),
    ("locked", "the database is locked (busy)"),
    ("full", "no space left on the device"),
    ("not a database", "the database is corrupt"),
    ("malformed", "the database is corrupt"),
    ("I/O error", "disk I/O error"),
]


def warn_unsigned(store: Any) -> None:
    """Once per Redis store: its entries are unsigned pickles, so whoever can write to it runs code here."""
    if getattr(store, "kind", None) != "redis":
        return
    if _unsigned.get(store) is not None:
        return
    _unsigned.put(store, "warned")
    _warn(
        f"{store!r} holds unsigned pickles: anyone who can write to this Redis server can run code in "
        "every process that reads from it. Set the PROXYCACHE_SECRET environment variable (or pass "
        "serializer=PickleSerializer(secret=...)) to sign entries, or use serializer='json' or "
        "'pydantic'. See the security page of the docs. (Warned once per store.)"
    )


def _warn(message: str, category: type[Warning] = StoreWarning, stacklevel: int = 3) -> None:
    """Warn; never fail the call, even where warnings are turned into errors."""
    try:
        warnings.warn(message, category, stacklevel=stacklevel)
    except Exception as error:
        log.warning("%s (raised as %s by the warnings filter; the call went on)", message, type(error).__name__)
