"""Memory: bytes each cached entry costs, and whether a dropped instance is freed.

Bytes per entry are measured with ``tracemalloc``: the memory still allocated
after *n* misses with distinct, pre-built keys (the method returns its
argument, so results cost nothing new) divided by *n*. Retention is checked
with a weak reference to the instance: freed at once (by reference counting),
only after ``gc.collect()`` (a reference cycle), or never.
"""

from __future__ import annotations

import functools
import gc
import tracemalloc
import weakref
from collections.abc import Callable
from typing import Any

from . import cases as c


def bytes_per_entry(make: Callable[[int], Any], n: int) -> float:
    """Memory one entry adds, averaged over *n* entries of the cache of ``make(n).get``."""
    keys = [10**9 + i for i in range(n)]
    obj = make(n)  # kept alive: cached methods do not keep their instance alive
    call = obj.get
    call(keys[0])  # the first miss builds lazily made parts (flights table, storage)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for key in keys[1:]:
            call(key)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return (after - before) / (n - 1)


def _ours(maker: Callable[..., Any]) -> Callable[[int], Any]:
    return lambda n: maker(maxsize=2 * n)


def _lru_bound(n: int) -> Any:
    obj = c.Service()
    obj.get = functools.lru_cache(maxsize=2 * n)(obj.get)  # type: ignore[method-assign]
    return obj


def memory_rows(n: int) -> list[dict[str, Any]]:
    """Bytes per entry for functools, cachetools and our entry points (LRU, maxsize 2n)."""
    makers: list[tuple[str, Callable[[int], Any], str | None]] = [
        ("functools.lru_cache(obj.get)", _lru_bound, None),
        ("cachetools.cachedmethod(LRUCache)", lambda n: _cachetools(2 * n), None),
    ]
    makers += [(label, _ours(maker), needs) for label, maker, needs in c.ENTRY_POINTS]
    makers.append(("CachedProxy, maxsize=None (unbounded)", lambda n: c.proxy(maxsize=None), "CachedProxy"))
    rows = []
    for label, make, needs in makers:
        if needs and c._entry(needs) is None:
            rows.append({"label": label, "bytes_per_entry": None, "note": f"proxycache.{needs} missing"})
            continue
        rows.append({"label": label, "bytes_per_entry": round(bytes_per_entry(make, n), 1), "note": ""})
    return rows


def _cachetools(maxsize: int) -> Any:
    import cachetools

    class CachetoolsService:
        def __init__(self) -> None:
            self.cache = cachetools.LRUCache(maxsize=maxsize)

        @cachetools.cachedmethod(lambda self: self.cache)
        def get(self, x: Any) -> Any:
            return x

    return CachetoolsService()


def retention(label: str, build: Callable[[], tuple[Any, Any, Callable[[Any], Any]]]) -> dict[str, Any]:
    """Build (handle, instance, call); make a hit; drop both; see when the instance dies."""
    handle, instance, call = build()
    call(handle)
    call(handle)
    ref = weakref.ref(instance)
    del handle, instance, call
    if ref() is None:
        freed = "at once"
    else:
        gc.collect()
        freed = "after gc.collect()" if ref() is None else "never (retained)"
    return {"label": label, "freed": freed}


def retention_rows() -> list[dict[str, Any]]:
    """When each way of caching lets a dropped instance go."""

    def ours(maker: Callable[..., Any], is_proxy: bool = False) -> Callable[[], tuple[Any, Any, Any]]:
        def build() -> tuple[Any, Any, Any]:
            handle = maker()
            return handle, (handle.__wrapped__ if is_proxy else handle), lambda h: h.get(1)

        return build

    def plain(factory: Callable[[], Any]) -> Callable[[], tuple[Any, Any, Any]]:
        def build() -> tuple[Any, Any, Any]:
            obj = factory()
            return obj, obj, lambda h: h.get(1)

        return build

    rows = []
    for label, maker, needs in c.ENTRY_POINTS:
        if c._entry(needs) is None:
            rows.append({"label": label, "freed": f"(proxycache.{needs} missing)"})
            continue
        rows.append(retention(label, ours(maker, is_proxy=maker is c.proxy)))
    for label, factory in (
        ("functools.lru_cache(obj.get)", c.lru_bound),
        ("@functools.lru_cache on the class", c.lru_class),
        ("cachetools.cachedmethod", c.cachetools_method),
        ("methodtools.lru_cache", c.methodtools_lru),
        ("wrapt.lru_cache", c.wrapt_lru),
        ("cachebox.cached", c.cachebox_method),
    ):
        try:
            rows.append(retention(label, plain(factory)))
        except c.Unavailable as why:
            rows.append({"label": label, "freed": f"({why})"})
        except ImportError as error:
            rows.append({"label": label, "freed": f"({error.name or error} is not installed)"})
    return rows
