"""proxycache: cache method calls on objects you do and do not own.

Four ways in, one cached callable::

    CachedProxy(client)                      # a faithful proxy
    cache_methods(client, "get", "search")   # in place, on one instance
    class Mine(CachingMixin, Client): ...    # a subclass
    @cached_method                           # your own classes
"""

from __future__ import annotations

import logging
import typing as _typing

from ._proxy import CachedProxy
from ._skiplist import DEFAULT_SKIP

if _typing.TYPE_CHECKING:
    from . import serializers as serializers  # a public submodule: proxycache.serializers.PickleSerializer
    from ._api import cache_clear, cache_info, cache_of, cache_stats
    from ._bypass import bypass
    from ._contract import Serializer, Store
    from ._decorator import cached_method
    from ._events import Event, add_listener
    from ._inplace import cache_methods, uncache_methods
    from ._miss import MISS, MissType, StoreWarning
    from ._mixin import CachingMixin
    from ._stats import CacheInfo
    from ._store_disk import DiskStore
    from ._store_memory import MemoryStore
    from ._store_redis import RedisStore

# Loaded on first use (PEP 562): the stores and serializers bring json, pickle,
# hashlib and hmac, and the store protocols take a while to build, none of
# which an in-memory cache needs, so a plain ``import proxycache`` costs only
# the core. So do the entry points beside CachedProxy, the cache controls,
# bypass(), the listeners and MISS (each module costs the import about 0.2 ms).
# The hit and miss paths load with the first cached method (``_make._load``),
# and bypass(), the listeners and MISS with them.
_LAZY = {
    "bypass": "._bypass",
    "Event": "._events",
    "add_listener": "._events",
    "MISS": "._miss",
    "MissType": "._miss",
    "StoreWarning": "._miss",
    "cache_clear": "._api",
    "cache_info": "._api",
    "cache_of": "._api",
    "cache_stats": "._api",
    "cache_methods": "._inplace",
    "uncache_methods": "._inplace",
    "CachingMixin": "._mixin",
    "cached_method": "._decorator",
    "CacheInfo": "._stats",  # made on first use: by cache_info()
    "Serializer": "._contract",
    "Store": "._contract",
    "DiskStore": "._store_disk",
    "MemoryStore": "._store_memory",
    "RedisStore": "._store_redis",
    "serializers": ".serializers",
}

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
    "cache_stats",
    "cache_methods",
    "cache_of",
    "cached_method",
    "uncache_methods",
]

__version__ = "0.1.0"

# Silent by default: records reach the application's handlers only if it configures logging.
logging.getLogger("proxycache").addHandler(logging.NullHandler())


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'proxycache' has no attribute {name!r}")
    import importlib

    loaded = importlib.import_module(module, __name__)
    value = loaded if name == "serializers" else getattr(loaded, name)
    globals()[name] = value  # later reads skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
