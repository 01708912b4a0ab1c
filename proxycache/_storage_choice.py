"""Which in-memory storage the options describe: a policy, a cachetools class or ``cache=``, timed by ``ttl``."""

from __future__ import annotations

import functools
from collections.abc import Callable, MutableMapping

from . import _clock
from ._flags import NO_GIL
from ._options import Options
from ._shape import inline_attrs
from ._storage import (
    FIFOStorage,
    LFUStorage,
    LRUStorage,
    RRStorage,
    Storage,
    UnboundedStorage,
)

POLICIES: dict[str, type[Storage]] = {
    "lru": LRUStorage,
    "lfu": LFUStorage,
    "fifo": FIFOStorage,
    "rr": RRStorage,
}
if NO_GIL:
    # Hits that take no lock, their bookkeeping done under it (fifo, rr and unbounded hits only read).
    from ._storage_touched import TouchedLFUStorage, TouchedLRUStorage

    POLICIES.update(lru=TouchedLRUStorage, lfu=TouchedLFUStorage)


def storage_maker(options: Options) -> Callable[[], Storage]:
    """What makes the in-memory storage the options describe, for each instance of a method.

    A policy's storage alone (no ``cache=``, cachetools class or ``ttl``, the
    common case) is made by its class, or by :func:`_storage_index.indexed`:
    one call, where :func:`make_storage` would decide it all again first.
    """
    if options.cache is None and options.ttl is None and isinstance(options.policy, str):
        return _policy_maker(options, options.policy)
    return functools.partial(make_storage, options)


def make_storage(options: Options) -> Storage:
    """Build the in-memory storage the options describe."""
    if options.cache is not None:
        mapping = options.cache()
        if not isinstance(mapping, MutableMapping):
            raise TypeError(f"cache= must return a MutableMapping, got {type(mapping).__qualname__}")
        from ._storage_wrapped import MappingStorage  # here and below: loaded by those who use one

        return MappingStorage(mapping)
    if isinstance(options.policy, type):
        return _cachetools_storage(options.policy, options)
    return _timed(_policy_maker(options, options.policy)(), options)


def _policy_maker(options: Options, policy: str) -> Callable[[], Storage]:
    """The class of *policy*'s storage, bound to its sizes; for key_attrs read inline, the indexed kind."""
    unbounded = options.maxsize is None and options.getsizeof is None
    kind = UnboundedStorage if unbounded else POLICIES[policy]
    names = inline_attrs(options.key_attrs)
    if names:
        from ._storage_index import indexed  # loaded by those who use key_attrs

        return functools.partial(indexed, kind, options.maxsize, options.getsizeof, len(names))
    return functools.partial(kind, options.maxsize, options.getsizeof)


def _timed(storage: Storage, options: Options) -> Storage:
    """*storage* with its entries timed: by ``ttl``, or one by one (``ttl`` from results, stale windows)."""
    if options.ttl is None:
        return storage
    from ._storage_wrapped import TimedStorage, TTLStorage

    if callable(options.ttl) or options.stale_if_error or options.stale_while_revalidate:
        from ._lifetime import Lifetime

        return TimedStorage(storage, Lifetime(options, ""))
    return TTLStorage(storage, options.ttl)


def _cachetools_storage(policy: type, options: Options) -> Storage:
    """``policy=`` a cachetools class: its cache under proxycache's lock, ``ttl`` kept as for every policy."""
    from ._cachetools import build, is_timed
    from ._storage_wrapped import MappingStorage

    getsizeof, timer = options.getsizeof, _clock.current()
    if getsizeof is not None:
        from ._outcome import result_sizer

        getsizeof = result_sizer(getsizeof)  # as a policy's storage sizes entries (see there)
    if options.ttl is None or is_timed(policy):  # a TTLCache times every entry alike: checked at wrap time
        storage = MappingStorage(build(policy, options.maxsize, getsizeof, ttl=options.ttl, timer=timer))
        storage.maxsize = options.maxsize  # not the math.inf that stands for None in cachetools
        return storage
    # Entries are (value, expires) here: the cache sizes the value.
    sizeof = None if getsizeof is None else (lambda entry: getsizeof(entry[0]))
    inner = MappingStorage(build(policy, options.maxsize, sizeof, timer=timer))
    inner.maxsize = options.maxsize
    return _timed(inner, options)
