"""Which attributes get cached: ``include`` / ``exclude`` as names, globs, dotted paths or predicates."""

from __future__ import annotations

import abc
import fnmatch
import inspect
import logging
import re
import types
from collections.abc import Callable
from typing import Any

from ._options import Selector

log = logging.getLogger("proxycache")

#: Method names the default selection leaves uncached, as glob patterns.
#:
#: They change state, release resources, or hand out objects each caller
#: must have for itself; caching one would skip the effect on every call
#: after the first. Chosen by surveying the public methods of ``sqlite3``
#: connections and cursors, redis-py, httpx, requests, boto3/botocore,
#: openai and ``xmlrpc.client``. Matching is case-sensitive, on the
#: attribute name only. It applies to the default selection (no
#: ``include=``): whatever ``include=`` matches, and every name given to
#: ``cache_methods``, is cached all the same.
DEFAULT_SKIP: tuple[str, ...] = (
    # releasing resources, connections, sessions
    "close", "aclose", "quit", "shutdown", "disconnect", "terminate", "interrupt", "kill*",
    "release", "unlock", "reset*", "logout", "mount", "connect", "reconnect",
    # transactions and handles each caller needs for itself (sqlite3, redis-py)
    "commit", "rollback", "begin", "savepoint", "cursor", "backup", "blobopen", "deserialize",
    "pipeline", "transaction", "lock", "pubsub", "monitor", "watch", "unwatch",
    # HTTP verbs and request plumbing that send or change (httpx, requests, openai)
    "post*", "put*", "patch*", "delete*", "send*", "request", "build_request", "prepare_request", "rebuild_*",
    # writes by name (boto3/botocore, openai resources, sqlite3 setup)
    "create*", "update*", "upload*", "download*", "write*", "remove*", "insert*", "copy*", "rename*",
    "restore*", "abort*", "complete*", "publish", "spublish", "flush*", "set_*", "set[A-Z]*", "setlimit",
    # results that expire or are meant to differ per call (boto3 presigned URLs)
    "generate_presigned_*",
    # cursors and files: each call moves a position or runs a statement
    "execute*", "fetchone", "fetchmany", "fetchall", "seek", "truncate",
    # redis-py data writes
    "set", "setex", "setnx", "psetex", "setrange", "setbit", "mset*", "getset", "getdel", "getex",
    "incr*", "decr*", "hincr*", "zincrby", "append", "expire*", "pexpire*", "persist", "*push*", "*pop*",
    "lset", "ltrim", "lrem", "linsert", "lmove*", "blmove*", "smove", "sadd", "srem", "zadd", "zrem*",
    "hset*", "hmset", "hdel", "xadd", "xdel*", "xack*", "xtrim", "xclaim", "xautoclaim", "xgroup_*",
    "unlink", "move", "touch", "pfadd", "pfmerge", "*store", "bitop", "bitfield", "migrate", "swapdb",
    "eval", "evalsha", "fcall", "script_*", "function_*", "config_set", "client_*",
)
"""Method names (glob patterns) the default selection leaves uncached: they change state or release resources.

Surveyed from sqlite3, redis-py, httpx, requests, boto3/botocore, openai and
``xmlrpc.client``. Applies when no ``include=`` is given; a name matched by
``include=`` or given to ``cache_methods`` is cached all the same.
"""

_skip_pattern = re.compile("|".join(fnmatch.translate(p) for p in DEFAULT_SKIP))
_skip_known: dict[str, bool] = {}


def skipped_by_default(name: str) -> bool:
    """Whether the default selection leaves *name* uncached (see :data:`DEFAULT_SKIP`)."""
    known = _skip_known.get(name)
    if known is None:
        known = _skip_pattern.match(name) is not None
        if len(_skip_known) < 4096:  # remote objects may show any number of names
            _skip_known[name] = known
    return known


def is_public(name: str) -> bool:
    return not name.startswith("_")


def is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


class Selection:
    """A compiled include/exclude pair."""

    def __init__(self, include: Selector | None, exclude: Selector | None) -> None:
        self.include_fn: Callable[[str], bool] | None = None
        self.include: tuple[str, ...] | None = None
        self.nested: dict[str, list[str]] = {}
        if callable(include):
            self.include_fn = include
        elif include is not None:
            top: list[str] = []
            for entry in include:
                head, dot, rest = entry.partition(".")
                if dot:
                    self.nested.setdefault(head, []).append(rest)
                else:
                    top.append(entry)
            self.include = tuple(top)
        self.exclude_fn: Callable[[str], bool] | None = exclude if callable(exclude) else None
        self.exclude: tuple[str, ...] = () if exclude is None or callable(exclude) else tuple(exclude)
        self.logged: set[str] | None = None  # made on the first skip: most selections never need it
        self._wanted: dict[str, bool] = {}

    def wants(self, name: str) -> bool:
        """Whether a callable attribute *name* is to be cached."""
        if self.include_fn is None and self.exclude_fn is None:
            # Names and globs only: the answer per name never changes, and
            # every new proxy of a class asks again for each method.
            known = self._wanted.get(name)
            if known is None:
                if len(self._wanted) >= 4096:  # objects that answer any name (xmlrpc) must not grow it for ever
                    self._wanted.clear()
                known = self._wanted[name] = self._wants(name)
            return known
        return self._wants(name)

    def _wants(self, name: str) -> bool:
        if is_dunder(name):
            return False
        if self._excluded(name):
            return False
        if self.include_fn is not None:
            return bool(self.include_fn(name))
        if self.include is None:
            return is_public(name) and not self.nested and not self._skips(name)
        # Whatever include= matches is cached: DEFAULT_SKIP shapes only the default.
        return any(_match(pattern, name) for pattern in self.include)

    def _skips(self, name: str) -> bool:
        if not skipped_by_default(name):
            return False
        if self.logged is None:
            self.logged = set()
        if name not in self.logged:
            self.logged.add(name)
            log.debug(
                "not caching %s(): its name is in proxycache.DEFAULT_SKIP (it changes state or releases "
                "resources); name it in include= to cache it", name,
            )
        return True

    def nested_paths(self, name: str) -> list[str] | None:
        """Dotted paths below attribute *name*, when the include list reaches into it."""
        if not self.nested:
            return None
        if self._excluded(name):
            return None
        return self.nested.get(name)

    def _excluded(self, name: str) -> bool:
        if self.exclude_fn is not None and self.exclude_fn(name):
            return True
        return bool(self.exclude) and any(_match(pattern, name) for pattern in self.exclude)


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def _match(pattern: str, name: str) -> bool:
    if _is_glob(pattern):
        # Globs select public names only; name a private method exactly to cache it.
        return is_public(name) and fnmatch.fnmatchcase(name, pattern)
    return pattern == name


def is_cacheable_value(value: Any) -> bool:
    """Callables worth caching: not classes (a call builds a new object each time)."""
    return callable(value) and not isinstance(value, type)


_NOT_FOUND: Any = object()
#: Metaclasses that do not shadow a class's __dict__ (what getattr_static guards against).
_PLAIN_METACLASSES = frozenset({type, abc.ABCMeta})
#: What methods are in a class body: no __set__, no __delete__.
_NOT_DATA_DESCRIPTORS = frozenset({types.FunctionType, staticmethod, classmethod, types.BuiltinFunctionType,
                                   types.WrapperDescriptorType, types.MethodDescriptorType})


def is_property(owner_type: type, name: str) -> bool:
    """True when *name* is a data descriptor (property and the like) on the type."""
    # The class's own MRO first, as inspect.getattr_static looks (it costs
    # ten times more, on every first access of a method); a name found only
    # on the metaclass, or a class whose metaclass shadows __dict__, goes to
    # getattr_static itself.
    attr: Any = _NOT_FOUND
    if type(owner_type) in _PLAIN_METACLASSES:
        for klass in owner_type.__mro__:
            found = klass.__dict__.get(name, _NOT_FOUND)
            if found is not _NOT_FOUND:
                attr = found
                break
    if attr is _NOT_FOUND:
        try:
            attr = inspect.getattr_static(owner_type, name)
        except AttributeError:
            return False
    kind = type(attr)
    if kind in _NOT_DATA_DESCRIPTORS:
        return False  # hasattr on a type that lacks the name formats an AttributeError: twice per method
    return hasattr(kind, "__set__") or hasattr(kind, "__delete__") or isinstance(attr, property)
