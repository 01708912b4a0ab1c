"""proxycache: cache method calls on objects you do and do not own.

Four ways in, one cached callable::

    CachedProxy(client)                      # a faithful proxy
    cache_methods(client, "get", "search")   # in place, on one instance
    class Mine(CachingMixin, Client): ...    # a subclass
    @cached_method                           # your own classes
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from . import serializers as serializers  # a public submodule: proxycache.serializers.PickleSerializer
from ._api import cache_clear, cache_info
from ._bypass import bypass
from ._contract import MISS, Miss, Serializer, Store, StoreWarning
from ._decorator import cached_method
from ._events import Event, add_listener
from ._inplace import cache_methods, uncache_methods
from ._method import CacheInfo
from ._mixin import CachingMixin
from ._proxy import CachedProxy
from ._select import DEFAULT_SKIP

__all__ = [
    "DEFAULT_SKIP",
    "MISS",
    "CacheInfo",
    "CachedProxy",
    "CachingMixin",
    "DiskStore",
    "Event",
    "MemoryStore",
    "Miss",
    "RedisStore",
    "Serializer",
    "Store",
    "StoreWarning",
    "add_listener",
    "bypass",
    "cache_clear",
    "cache_info",
    "cache_methods",
    "cached_method",
    "uncache_methods",
]

if _TYPE_CHECKING:
    from ._store_disk import DiskStore
    from ._store_memory import MemoryStore
    from ._store_redis import RedisStore

#: Public names defined in modules loaded on first use (``import proxycache`` stays light).
_LAZY = {"DiskStore": "._store_disk", "MemoryStore": "._store_memory", "RedisStore": "._store_redis"}


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'proxycache' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__version__ = "0.1.0"

# Silent by default: records reach the application's handlers only if it configures logging.
logging.getLogger("proxycache").addHandler(logging.NullHandler())
