"""The caching options: one frozen value, validated once at wrap time."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, MutableMapping
from datetime import timedelta
from typing import Any, TypeAlias

#: A name, a glob pattern, a dotted path, a list of those, or a predicate on the name.
Selector: TypeAlias = str | Iterable[str] | Callable[[str], bool]

POLICIES = ("lru", "lfu", "fifo", "rr")
SERIALIZER_NAMES = ("pickle", "json", "pydantic")
STREAMS = ("skip", "replay")


#: Every option with its default, in order.
_DEFAULTS: dict[str, Any] = {
    "maxsize": 128,
    "ttl": None,
    "policy": "lru",
    "cache": None,
    "getsizeof": None,
    "include": None,
    "exclude": None,
    "typed": False,
    "ignore": frozenset(),
    "key_attrs": None,
    "key": None,
    "cache_exceptions": (),
    "store": None,
    "serializer": None,
    "namespace": None,
    "version": None,
    "cache_if": None,
    "stale_if_error": None,
    "stale_while_revalidate": None,
    "streams": "skip",
    "single_flight": None,
}
_FIELD_NAMES = tuple(_DEFAULTS)


class Options:
    """Every caching option, normalized. Shared by all entry points.

    A frozen value, written out rather than made by ``dataclasses``: building
    a dataclass costs a fifth of ``import proxycache``. Made by
    :func:`make_options`, which validates; equal options hash alike.
    """

    # After the fields: what is worked out once per options object (the selection, the blueprints of the
    # methods cached with them), kept here rather than in tables of the modules so that it goes with the
    # options, and the store or functions they hold go with it.
    __slots__ = (*_FIELD_NAMES, "_selection", "_blueprints")

    maxsize: int | None
    #: Seconds (a float), a callable reading them from the result (see ``_lifetime``), or None.
    ttl: Any
    policy: str | type[MutableMapping[Any, Any]]
    cache: Callable[[], MutableMapping[Any, Any]] | None
    getsizeof: Callable[[Any], int] | None
    include: Selector | None
    exclude: Selector | None
    typed: bool
    ignore: frozenset[str]
    key_attrs: tuple[str, ...] | None
    key: Callable[..., Any] | None
    cache_exceptions: tuple[type[BaseException], ...]
    store: Any
    serializer: Any
    namespace: str | None
    version: str | int | None
    cache_if: Callable[[Any], Any] | None
    stale_if_error: float | None
    stale_while_revalidate: float | None
    streams: str
    single_flight: str | bool | None
    _selection: Any  # _select.Selection | None
    _blueprints: dict[tuple[Any, ...], tuple[Any, ...]]

    def __init__(self, **values: Any) -> None:
        unknown = values.keys() - _DEFAULTS.keys()
        if unknown:
            raise TypeError(f"Options got unknown fields {sorted(unknown)}")
        for name, default in _DEFAULTS.items():
            object.__setattr__(self, name, values.get(name, default))
        object.__setattr__(self, "_selection", None)  # a _select.Selection once asked for
        object.__setattr__(self, "_blueprints", {})  # see _make.make_cached and _blueprint._blueprint

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Options are frozen: cannot set {name!r} (use .replace({name}=...))")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Options are frozen: cannot delete {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self._values(),))

    def replace(self, **changes: Any) -> Options:
        """A copy with *changes* applied and validated."""
        return make_options(self, **changes)

    def parameters(self) -> dict[str, Any]:
        """The options as a plain dict (what ``cache_parameters()`` returns)."""
        return {name: getattr(self, name) for name in _FIELD_NAMES}

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _FIELD_NAMES)

    def __repr__(self) -> str:
        return f"{type(self).__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in _FIELD_NAMES)})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self._values() == other._values()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values())


def _rebuild(values: tuple[Any, ...]) -> Options:
    """Options from their values in field order (unpickling)."""
    return Options(**dict(zip(_FIELD_NAMES, values, strict=True)))


OPTION_NAMES = frozenset(_FIELD_NAMES)
DEFAULT = Options()
#: make_options() with nothing given, once made (see make_options).
_CHECKED_DEFAULT: list[Options] = []


def check_option_names(names: Iterable[str], where: str) -> None:
    """Fail on an unknown option name, suggesting the closest one."""
    for name in names:
        if name not in OPTION_NAMES:
            import difflib  # only for the error message

            close = difflib.get_close_matches(name, sorted(OPTION_NAMES), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise TypeError(
                f"{where} got an unknown option {name!r}.{hint} "
                f"Options are: {', '.join(sorted(OPTION_NAMES))}."
            )


def make_options(base: Options | None = None, **given: Any) -> Options:
    """Validate *given* options on top of *base* and return the frozen result."""
    if not given and base is None and _CHECKED_DEFAULT:
        return _CHECKED_DEFAULT[0]  # a proxy per request with default options: validated once
    check_option_names(given, "proxycache")
    base = base or DEFAULT
    values = base.parameters()
    values.update(given)

    maxsize = values["maxsize"]
    if maxsize is not None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int):
            raise TypeError(f"maxsize must be a non-negative int or None (unbounded), not {maxsize!r}")
        if maxsize < 0:
            raise ValueError(f"maxsize must be >= 0 or None (unbounded), not {maxsize!r}")

    ttl = values["ttl"]
    if not callable(ttl):
        ttl = values["ttl"] = _seconds(ttl, "ttl", "a number, a timedelta, a callable taking the result")
    _check_stale_options(values, given)

    policy = values["policy"]
    if isinstance(policy, type):
        from ._cachetools import check_policy_class  # only for those who name a cachetools class

        timed_by_entry = [n for n in ("stale_if_error", "stale_while_revalidate") if values[n] is not None]
        if callable(ttl):
            timed_by_entry.insert(0, "ttl as a callable")
        check_policy_class(policy, maxsize, None if callable(ttl) else ttl, timed_by_entry)
    elif policy not in POLICIES:
        raise ValueError(
            f"unknown policy {policy!r}; choose one of {', '.join(map(repr, POLICIES))}, "
            "or pass cache= a factory returning any cachetools cache or MutableMapping"
        )

    cache = values["cache"]
    if cache is not None:
        if not callable(cache):
            raise TypeError(
                "cache must be a zero-argument factory returning a MutableMapping "
                f"(for example lambda: cachetools.LFUCache(256)), not {cache!r}"
            )
        # One trial call, so a factory returning the wrong thing fails at wrap time.
        probe = cache()
        if not isinstance(probe, MutableMapping):
            raise TypeError(
                f"cache= must be a factory returning a MutableMapping (a cachetools cache or a dict); "
                f"{cache!r} returned {type(probe).__qualname__}"
            )
        clash = [n for n in ("maxsize", "policy", "ttl", "getsizeof") if n in given and given[n] != getattr(DEFAULT, n)]
        if clash:
            raise TypeError(
                f"cache= builds its own mapping, so {', '.join(clash)} cannot be given with it; "
                "configure the mapping the factory returns instead"
            )

    getsizeof = values["getsizeof"]
    if getsizeof is not None:
        if not callable(getsizeof):
            raise TypeError(f"getsizeof must be a callable returning a size, not {getsizeof!r}")
        if values["maxsize"] is None:
            raise ValueError("getsizeof needs a maxsize (the size budget); maxsize=None means unbounded")

    for name in ("include", "exclude"):
        sel = values[name]
        if sel is None or callable(sel):
            continue
        if isinstance(sel, str):
            values[name] = (sel,)
            continue
        try:
            items = tuple(sel)
        except TypeError:
            raise TypeError(
                f"{name} must be a name, a glob pattern, a dotted path, a list of those, "
                f"or a predicate taking the attribute name; not {sel!r}"
            ) from None
        bad = [i for i in items if not isinstance(i, str) or not i]
        if bad:
            raise TypeError(f"{name} entries must be non-empty strings, not {bad[0]!r}")
        values[name] = items

    if not isinstance(values["typed"], bool):
        raise TypeError(f"typed must be True or False, not {values['typed']!r}")

    values["ignore"] = _names(values["ignore"], "ignore", "parameter")
    if values["key_attrs"] is not None:
        values["key_attrs"] = tuple(sorted(_names(values["key_attrs"], "key_attrs", "attribute", dotted=True)))

    key = values["key"]
    if key is not None and not callable(key):
        raise TypeError(f"key must be a callable taking the call's arguments, not {key!r}")

    exc = values["cache_exceptions"]
    if isinstance(exc, (type, str)):  # a str would otherwise be taken apart into letters
        exc = (exc,)
    try:
        exc = tuple(exc)
    except TypeError:
        exc = (exc,)
    for e in exc:
        if not (isinstance(e, type) and issubclass(e, BaseException)):
            raise TypeError(f"cache_exceptions must be exception classes, not {e!r}")
    values["cache_exceptions"] = exc

    store = values["store"]
    if store is not None:
        missing = [m for m in ("get", "set", "delete", "clear") if not callable(getattr(store, m, None))]
        if missing:
            raise TypeError(
                f"store must be a proxycache store (DiskStore, RedisStore, MemoryStore or an object "
                f"with get/set/delete/clear); {store!r} has no {', '.join(missing)}"
            )
        if cache is not None:
            raise TypeError("store= and cache= cannot be combined: a store holds the entries itself")
        if values["key_attrs"] is None and getattr(store, "shared", True):
            raise TypeError(
                "a shared store needs key_attrs=: name the instance attributes that tell instances "
                "apart (key_attrs=('base_url', 'user')), or pass key_attrs=() to share entries "
                "between all instances"
            )

    serializer = values["serializer"]
    if serializer is not None:
        if isinstance(serializer, str):
            if serializer not in SERIALIZER_NAMES:
                raise ValueError(
                    f"unknown serializer {serializer!r}; choose one of "
                    f"{', '.join(map(repr, SERIALIZER_NAMES))}, or pass an object with dumps/loads"
                )
        elif not (callable(getattr(serializer, "dumps", None)) and callable(getattr(serializer, "loads", None))):
            raise TypeError(f"serializer must be a name or an object with dumps() and loads(), not {serializer!r}")
        if store is None:
            raise TypeError("serializer= applies to stores that hold bytes; pass store= as well")

    ns = values["namespace"]
    if ns is not None and (not isinstance(ns, str) or not ns):
        raise TypeError(f"namespace must be a non-empty string, not {ns!r}")
    ver = values["version"]
    if ver is not None and (isinstance(ver, bool) or not isinstance(ver, (str, int))):
        raise TypeError(f"version must be a string or an int, not {ver!r}")

    streams = values["streams"]
    if streams not in STREAMS:
        raise ValueError(
            f"streams must be 'skip' (one-shot results are returned uncached) or 'replay' "
            f"(record them as they are consumed, replay them to later callers), not {streams!r}"
        )
    if streams == "replay" and serializer == "json":
        raise TypeError(
            "streams='replay' stores the recorded items, which JSON cannot hold as they were "
            "(a stream's chunks are objects, not JSON values); use serializer='pickle' (the default) "
            "or 'pydantic' for Pydantic chunks such as openai's"
        )
    _check_single_flight(values["single_flight"], store)

    return Options(**values)


def _seconds(value: Any, name: str, kinds: str = "a number or a timedelta") -> float | None:
    """*value* as finite positive seconds (None stays None), or an error naming option *name*."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be seconds ({kinds}) or None, not {value!r}")
    try:
        seconds = float(value)
    except OverflowError:
        seconds = math.inf
    # inf would reach Redis as an expiry it refuses on every write; nan compares false to everything.
    if not 0 < seconds < math.inf:
        raise ValueError(
            f"{name} must be a finite, positive number of seconds, not {value!r}; "
            f"for no {name} pass {name}=None"
        )
    return seconds


def _check_stale_options(values: dict[str, Any], given: dict[str, Any]) -> None:
    """``stale_if_error``, ``stale_while_revalidate`` (seconds after ``ttl``) and ``cache_if`` (a predicate)."""
    for name in ("stale_if_error", "stale_while_revalidate"):
        values[name] = _seconds(values[name], name)
        if values[name] is not None and values["ttl"] is None:
            raise TypeError(
                f"{name}= counts seconds after an entry expires, so it needs ttl= as well "
                f"(ttl=60, {name}=300), or ttl= a callable reading the lifetime from the result"
            )
        if values[name] is not None and values["cache"] is not None:
            raise TypeError(
                f"{name}= cannot be combined with cache=: the mapping the factory returns times its entries"
            )
    cache_if = values["cache_if"]
    if cache_if is not None and not callable(cache_if):
        raise TypeError(
            f"cache_if must be a predicate taking the result (lambda result: result.ok), or None, not {cache_if!r}"
        )
SINGLE_FLIGHTS = ("process", "store")


def _check_single_flight(mode: Any, store: Any) -> None:
    if mode is None or mode is False:
        return
    if mode not in SINGLE_FLIGHTS:
        raise ValueError(
            f"single_flight must be 'process' (threads and tasks of this process), 'store' (every process "
            f"using the store, through a lease in it), False (no single flight) or None (the default), "
            f"not {mode!r}"
        )
    if mode == "store":
        if store is None:
            raise TypeError("single_flight='store' needs store=: the lease lives in the store; "
                            "without one, single_flight='process' is what a per-instance cache can do")
        missing = [m for m in ("acquire_lease", "renew_lease", "release_lease")
                   if not callable(getattr(store, m, None))]
        if missing:
            raise TypeError(
                f"single_flight='store' needs a store with leases (DiskStore, RedisStore, MemoryStore, or one "
                f"with acquire_lease/renew_lease/release_lease); {store!r} has no {', '.join(missing)}. "
                "Pass single_flight='process' to coalesce within this process only"
            )


def flight_mode(options: Options) -> str | None:
    """Who shares a computation: ``"store"``, ``"process"``, or None (nobody; ``single_flight=False``).

    The default is ``"store"`` with a shared store that has leases, else ``"process"``.
    """
    mode = options.single_flight
    if mode is False:
        return None
    if mode is None:
        store = options.store
        if store is not None and getattr(store, "shared", True) and callable(getattr(store, "acquire_lease", None)):
            return "store"
        return "process"
    return str(mode)


def _names(value: Any, option: str, what: str, dotted: bool = False) -> frozenset[str]:
    if isinstance(value, str):
        value = (value,)
    try:
        names = frozenset(value)
    except TypeError:
        raise TypeError(f"{option} must be a {what} name or a list of {what} names, not {value!r}") from None
    bad = [n for n in names if not isinstance(n, str) or not _is_name(n, dotted)]
    if bad:
        paths = " or dotted paths ('meta.region_name')" if dotted else ""
        raise TypeError(f"{option} must list {what} names (identifiers){paths}, not {bad[0]!r}")
    return names


def _is_name(name: str, dotted: bool) -> bool:
    return all(part.isidentifier() for part in name.split(".")) if dotted else name.isidentifier()


_CHECKED_DEFAULT.append(make_options())
#: The default options as ``make_options()`` gives them, validated once: what an entry point given none uses.
CHECKED_DEFAULT = _CHECKED_DEFAULT[0]
