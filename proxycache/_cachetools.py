"""cachetools' cache classes as ``policy=``: checked when wrapping, built per cache.

``policy=cachetools.LFUCache`` keeps ``maxsize``, ``getsizeof`` and ``ttl``
as proxycache options (the same for every entry point and class keyword),
where ``cache=`` hands the whole mapping over to a factory. cachetools is a
core dependency, but it is imported only by those who name its classes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any


def check_policy_class(policy: type, maxsize: int | None, ttl: float | None, per_entry: Sequence[str] = ()) -> None:
    """Fail at wrap time on a class that cannot serve as ``policy=``.

    *per_entry* names the options that time each entry on its own (stale
    windows, ``ttl`` as a callable), which a cachetools ``TTLCache`` cannot.
    """
    import cachetools

    if not issubclass(policy, cachetools.Cache):
        raise TypeError(
            f"policy must be 'lru', 'lfu', 'fifo', 'rr' or a cachetools cache class "
            f"(policy=cachetools.LFUCache), not {policy.__qualname__}; any other mapping goes in cache="
        )
    if issubclass(policy, cachetools.TLRUCache):
        raise TypeError(
            f"policy={policy.__qualname__} needs a ttu function per entry: pass "
            f"cache=lambda: cachetools.TLRUCache(maxsize, ttu=...) instead"
        )
    if is_timed(policy) and per_entry:
        raise TypeError(
            f"policy={policy.__qualname__} times every entry alike, so {' and '.join(per_entry)} cannot be "
            f"used with it; pass policy='lru' (or a cachetools class without a ttl, such as cachetools.LRUCache) "
            "and proxycache times the entries"
        )
    if is_timed(policy) and ttl is None:
        raise TypeError(f"policy={policy.__qualname__} needs ttl= (seconds or a timedelta)")
    # One trial build, so a subclass whose constructor takes other arguments fails now.
    try:
        build(policy, maxsize, None, ttl=ttl, timer=lambda: 0.0)
    except TypeError as error:
        raise TypeError(
            f"policy={policy.__qualname__} could not be built as {policy.__qualname__}(maxsize, getsizeof=...) "
            f"({error}); pass cache= a factory that builds it instead"
        ) from None


def is_timed(policy: type) -> bool:
    """Whether *policy* is a cachetools ``TTLCache``: it then times the entries itself."""
    import cachetools

    return issubclass(policy, cachetools.TTLCache)


def build(
    policy: type,
    maxsize: int | None,
    getsizeof: Callable[[Any], int] | None,
    *,
    ttl: float | None = None,
    timer: Callable[[], float],
) -> MutableMapping[Any, Any]:
    """A new *policy* cache; ``maxsize=None`` is unbounded (cachetools wants a number)."""
    bound: float = math.inf if maxsize is None else maxsize
    if is_timed(policy):
        cache: MutableMapping[Any, Any] = policy(bound, ttl, timer=timer, getsizeof=getsizeof)
    else:
        cache = policy(bound, getsizeof=getsizeof)
    return cache


def label(mapping: MutableMapping[Any, Any]) -> str:
    """What ``cache_stats()["policy"]`` says for *mapping*: its class for a cachetools cache."""
    cls = type(mapping)
    if any(c.__module__.partition(".")[0] == "cachetools" for c in cls.__mro__):
        return f"{cls.__module__}.{cls.__qualname__}"
    return "custom"
