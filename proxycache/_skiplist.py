"""The default skip-list: the method names a selection without ``include=`` leaves uncached, and how they match."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable

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
    # results that expire or are meant to differ per call (boto3 presigned URLs; redis-py's health check,
    # server clock and random picks)
    "generate_presigned_*", "ping", "time", "lastsave", "randomkey", "srandmember", "hrandfield", "zrandmember",
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

#: What skipped_by_default answered, by name.
_skip_known: dict[str, bool] = {}
#: DEFAULT_SKIP as one test (_make_skip_rule), made on first use.
_skip_rule: list[Callable[[str], bool]] = []


def skipped_by_default(name: str) -> bool:
    """Whether the default selection leaves *name* uncached (see :data:`DEFAULT_SKIP`)."""
    known = _skip_known.get(name)
    if known is None:
        if not _skip_rule:  # two threads may both make it: either rule is the same
            _skip_rule.append(_make_skip_rule(DEFAULT_SKIP))
        known = _skip_rule[0](name)
        if len(_skip_known) < 4096:  # remote objects may show any number of names
            _skip_known[name] = known
    return known


def _make_skip_rule(patterns: tuple[str, ...]) -> Callable[[str], bool]:
    """A test that matches a name as ``fnmatchcase`` would against any of *patterns*.

    Most patterns are a name, a prefix (``post*``), a suffix (``*store``) or
    a part (``*push*``): a set and three string tests. Only the rest go into a
    regular expression. Compiling all of them into one costs the first
    access of every process about 20 million instructions (6 ms).
    """
    names: set[str] = set()
    prefixes: list[str] = []
    suffixes: list[str] = []
    parts: list[str] = []
    globs: list[str] = []
    for pattern in patterns:
        inner = pattern.strip("*")
        if "?" in pattern or "[" in pattern or "*" in inner:
            globs.append(pattern)
        elif pattern == inner:
            names.add(pattern)
        elif pattern == inner + "*":
            prefixes.append(inner)
        elif pattern == "*" + inner:
            suffixes.append(inner)
        elif pattern == f"*{inner}*":
            parts.append(inner)
        else:  # more stars at an end than one
            globs.append(pattern)
    starts, ends = tuple(prefixes), tuple(suffixes)
    glob = re.compile("|".join(fnmatch.translate(p) for p in globs)).match if globs else None

    def skipped(name: str) -> bool:
        return (
            name in names
            or name.startswith(starts)
            or name.endswith(ends)
            or any(part in name for part in parts)
            or (glob is not None and glob(name) is not None)
        )

    return skipped
