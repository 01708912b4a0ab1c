"""proxycache: cache method calls on objects you do and do not own.

Four ways in, one cached callable::

    CachedProxy(client)                      # a faithful proxy
    cache_methods(client, "get", "search")   # in place, on one instance
    class Mine(CachingMixin, Client): ...    # a subclass
    @cached_method                           # your own classes
"""

from __future__ import annotations

import logging

from . import serializers as serializers  # a public submodule: proxycache.serializers.PickleSerializer
from ._api import cache_clear, cache_info, cache_of
from ._bypass import bypass
from ._contract import MISS, MissType, Serializer, Store, StoreWarning
from ._decorator import cached_method
from ._events import Event, add_listener
from ._inplace import cache_methods, uncache_methods
from ._method import CacheInfo
from ._mixin import CachingMixin
from ._proxy import CachedProxy
from ._select import DEFAULT_SKIP
from ._stores import DiskStore, MemoryStore, RedisStore

__all__ = [
    "DEFAULT_SKIP",
    "MISS",
    "CacheInfo",
    "CachedProxy",
    "CachingMixin",
    "DiskStore",
    "Event",
    "MemoryStore",
    "MissType",
    "RedisStore",
    "Serializer",
    "Store",
    "StoreWarning",
    "add_listener",
    "bypass",
    "cache_clear",
    "cache_info",
    "cache_methods",
    "cache_of",
    "cached_method",
    "uncache_methods",
]

__version__ = "0.1.0"

# Silent by default: records reach the application's handlers only if it configures logging.
logging.getLogger("proxycache").addHandler(logging.NullHandler())
