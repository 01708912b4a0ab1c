"""Statistics of one cached method: what ``cache_info()`` and ``cache_stats()`` report.

The hit count lives in the generated callable (one float add on a hit); the
rest lives in one :class:`Counters` object. The miss path counts misses and
hits it served under the method's lock; a storage reports its faults and the
results it could not keep here, under the counters' own lock, so it never
needs the method.
"""

from __future__ import annotations

import os
import threading
import typing

if typing.TYPE_CHECKING:

    class CacheInfo(typing.NamedTuple):
        """Statistics of one cached method, as in ``functools``."""

        hits: int
        misses: int
        maxsize: int | None
        currsize: int

else:

    def __getattr__(name: str) -> typing.Any:
        if name == "CacheInfo":
            return _cache_info_class()
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _cache_info_class() -> typing.Any:
    """The CacheInfo class, made on first use (``cache_info()``, or a read of the name).

    The same class the statement above makes, made by collections.namedtuple
    (half the cost), with its docstring (keep the two alike), annotations and
    bases.
    """
    made = globals().get("CacheInfo")
    if made is not None:
        return made
    import collections

    make: typing.Any = collections.namedtuple  # a class made at run time: the statement above is the one to check
    cls = make("CacheInfo", ("hits", "misses", "maxsize", "currsize"), module=__name__)
    cls.__doc__ = """Statistics of one cached method, as in ``functools``."""
    cls.__annotations__ = {"hits": int, "misses": int, "maxsize": int | None, "currsize": int}
    cls.__orig_bases__ = (typing.NamedTuple,)
    return globals().setdefault("CacheInfo", cls)  # two threads at once: both get the one stored


class Counters:
    """The counts of one cached method besides the generated callable's hits.

    ``misses``, ``other_hits`` and the timings are written by the miss path
    under the method's lock; ``faults`` and ``uncached`` through
    :meth:`fault` and :meth:`uncached_result`, from anywhere, under a lock
    of the counters' own, made on first use (most methods never need it).
    """

    # Slots, all set here, no class-level zeros: CPython 3.12+ reads and writes an instance attribute
    # that shadows a class attribute unspecialized (several times a plain one), and a miss counts twice.
    __slots__ = ("_lock", "coalesced", "computed", "computed_seconds", "faults", "misses", "other_hits", "uncached")

    def __init__(self) -> None:
        self._lock: threading.Lock | None = None
        self._zero()

    def _zero(self) -> None:
        self.misses = 0
        #: Hits served by the miss path (found on a second look, or shared by a flight).
        self.other_hits = 0
        self.faults = 0
        self.uncached = 0
        #: Callers handed another caller's result: a flight of this process, or another process's value.
        self.coalesced = 0
        #: Computations timed, and their seconds in all: a hit saves their mean.
        self.computed = 0
        self.computed_seconds = 0.0

    def _guard(self) -> threading.Lock:
        lock = self._lock
        if lock is None:
            with _making:
                lock = self._lock
                if lock is None:
                    lock = self._lock = threading.Lock()
        return lock

    def fault(self) -> None:
        """A store operation failed (the call went on uncached)."""
        with self._lock or self._guard():
            self.faults += 1

    def uncached_result(self) -> None:
        """A result was handed back but not stored (one-shot, or it could not be serialized)."""
        with self._lock or self._guard():
            self.uncached += 1

    def timed(self, seconds: float) -> None:
        """A computation of the method took *seconds* (measured on the cache's clock)."""
        with self._lock or self._guard():
            self.computed += 1
            self.computed_seconds += max(0.0, seconds)

    def saved_per_hit(self) -> float:
        """Seconds a hit saves: the mean of the computations timed so far (0.0 before any)."""
        computed = self.computed
        return self.computed_seconds / computed if computed else 0.0

    def reset(self) -> None:
        """Back to zero (``cache_clear()``; called under the method's lock)."""
        with self._lock or self._guard():
            self._zero()

    def at_fork_reinit(self) -> None:
        if self._lock is not None:
            self._lock = threading.Lock()


#: Serializes making a Counters' lock (two threads must not make one each).
_making = threading.Lock()


def _after_fork_in_child() -> None:
    global _making
    _making = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
