"""The storage of a cached method whose entries live in a store (``store=``).

It offers the same face as the in-memory storages of ``_storage`` (``HIT``,
``lookup``, ``put``...), so the cached callable does not know the difference.
What it adds: stable keys (``<namespace>:<digest>``, never argument values),
a serializer for stores that hold bytes, and fault tolerance: whatever the
store does (a dead server, a full disk, a corrupt or forged entry), the call
goes on as a miss, and the fault is counted, logged (rate-limited) and sent
to listeners.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import math
import threading
import time
import types
import warnings
import weakref
from typing import Any

from ._codegen import Hit
from ._contract import MISS, Entry, EntryError, StoreWarning
from ._events import emit
from ._keyerror import defaults_marked, unkeyable_error
from ._keys import UnkeyableError, freeze, stable_digest
from ._lifetime import ENVELOPE_MAGIC, OPTION, EntryCodec, Expired
from ._options import Options
from ._plan import Plan
from ._stats import Counters
from ._storage import Storage
from .serializers import OutdatedEntry, PickleSerializer, serializer_for

log = logging.getLogger("proxycache")

#: Seconds between two log records about the faults of one store.
LOG_INTERVAL = 10.0
_logged: dict[int, list[float]] = {}  # id(store) -> [time of last record, faults not logged since]
_warned: set[str] = set()  # namespaces already warned about an unserializable result
_NOTHING = object()
#: Store keys remembered per method (then forgotten all at once and rebuilt).
_NAMES_KEPT = 256


def namespace_for(plan: Plan, options: Options) -> str:
    """``options.namespace``, or ``module.Class.attribute`` of the class the method is looked up on; plus ``@version``.

    The class is the instance's (the wrapped object's for a proxy), never
    the function's own qualname, which decorators without ``functools.wraps``
    and lambdas share. A default namespace already claimed in this process
    by another function is refused: the two would answer each other's calls.
    """
    namespace = options.namespace
    if namespace is None:
        namespace = _default_namespace(plan)
        _claim(namespace, plan)
    if options.version is not None:
        namespace = f"{namespace}@{options.version}"
    return namespace


def _default_namespace(plan: Plan) -> str:
    owner = plan.attrs_of() if plan.attrs_of is not None else None
    if owner is None:
        # No instance (a static or class method, a plain function): its own name.
        module = getattr(plan.wrapped, "__module__", None)
        if not isinstance(module, str):
            # Objects may answer any attribute with anything; a repr in the
            # namespace (an address) would differ between processes.
            module = type(plan.wrapped).__module__
        return f"{module}.{plan.qualname}" if module else plan.qualname
    if isinstance(owner, types.ModuleType):
        prefix = owner.__name__
        heads = [type(owner).__qualname__ + "."]
    else:
        cls = owner if isinstance(owner, type) else type(owner)
        prefix = f"{cls.__module__}.{cls.__qualname__}"
        heads = [cls.__qualname__ + ".", type(owner).__qualname__ + "."]
    bound_to = getattr(plan.wrapped, "__self__", None)
    if bound_to is not None and bound_to is not owner:
        heads.append(type(bound_to).__qualname__ + ".")  # a nested object's method, named after that object
    return f"{prefix}.{_attribute_path(plan.qualname, heads, plan.name)}"


def _attribute_path(qualname: str, heads: list[str], name: str) -> str:
    """The attribute path from the owner to the method: ``get``, or ``chat.completions.create`` for nested objects.

    It comes from the qualname the entry point gives (``Owner.path.name``)
    when that reads as one; a function's own qualname (``wrapper``,
    ``Client.<lambda>``, a base class's ``Base.get``) gives just the name.
    """
    for head in heads:
        if qualname.startswith(head):
            rest = qualname[len(head):]
            if (rest == name or rest.endswith("." + name)) and all(p.isidentifier() for p in rest.split(".")):
                return rest
    return name


#: Default namespace -> (code of the function that claimed it, its qualname, the live functions with that code).
_claims: dict[str, tuple[tuple[types.CodeType | None, ...], str, weakref.WeakSet[Any]]] = {}
_claims_lock = threading.Lock()


def _claim(namespace: str, plan: Plan) -> None:
    func = getattr(plan.wrapped, "__func__", plan.wrapped)
    code = getattr(func, "__code__", None)
    if not isinstance(code, types.CodeType):
        return  # builtins and callable objects: nothing to compare
    # A wrapper without functools.wraps has the same code for every method
    # it wraps: what it closes over tells them apart.
    codes = (code, *(_cell_code(cell) for cell in func.__closure__ or ()))
    with _claims_lock:
        held = _claims.get(namespace)
        if held is None or (held[0] != codes and not held[2]):
            # Free, or held by functions that are all gone (a class defined anew).
            held = _claims[namespace] = (codes, getattr(func, "__qualname__", repr(func)), weakref.WeakSet())
        elif held[0] != codes:
            raise TypeError(
                f"{plan.qualname}: its default store namespace {namespace!r} is already used by another "
                f"function in this process ({held[1]}); the two would answer each other's calls. "
                f"Pass namespace= a name of its own (namespace={namespace + '2'!r})"
            )
        with contextlib.suppress(TypeError):  # a function that cannot be weakly referenced
            held[2].add(func)


def _cell_code(cell: Any) -> Any:
    try:
        return getattr(cell.cell_contents, "__code__", None)
    except ValueError:  # an empty cell
        return None


class SharedStorage(Storage):
    """Entries of one cached method in ``options.store``, under the method's namespace.

    Clearing clears the whole namespace: the entries of every instance and
    process that share it. ``currsize()`` counts the namespace's entries in
    the store (a scan; an estimate while others write).
    """

    #: Stores have their own size budget; per method there is no maxsize.
    maxsize: int | None = None

    def __init__(self, plan: Plan, counters: Counters, options: Options, is_async: bool = False) -> None:
        # Storage's per-entry bookkeeping is not used: the store keeps the entries.
        super().__init__(None, None)
        store = options.store
        self.plan = plan
        #: Where faults and unstorable results are reported.
        self.counters = counters
        self.store = store
        self.serializer = None if getattr(store, "holds_objects", False) else serializer_for(options.serializer)
        # Such a serializer binds each entry to its store key (namespace, version, arguments).
        self._binds_key = bool(getattr(self.serializer, "binds_key", False))
        #: Writes a result with its times (when the options time entries one by one) and reads either form.
        self.codec = EntryCodec(self.serializer, options)
        if isinstance(self.serializer, PickleSerializer) and not self.serializer.signed:
            _warn_unsigned(store)
        self.namespace = namespace_for(plan, options)
        self.prefix = self.namespace + ":"
        self.policy = str(getattr(store, "kind", type(store).__name__))  # type: ignore[misc]
        front = getattr(store, "front", None)
        self.front: dict[Any, tuple[Any, float]] | None = None
        self.front_ttl = 0.0
        self._front_cache: Any = front
        #: The store counts hits per namespace (``stats=True``): every hit then reports itself to it.
        self.counted = bool(getattr(store, "stats", False)) and callable(getattr(store, "record_hit", None))
        # A coroutine method awaits the store on its hit path too: the loop never waits on it.
        self.is_async = is_async
        aget = getattr(store, "aget", None)
        self._aread: Any = aget if callable(aget) else functools.partial(in_thread, store.get)
        read = "await _pc_get({key})" if is_async else "_pc_get({key})"
        if front is not None:
            self.front = front.table(self.namespace)
            self.front_ttl = min(front.ttl, self.codec.ttl or front.ttl)
            self.front_maxsize: int = front.maxsize
        if front is not None and not self.counted:
            # The front is checked inline; only its misses call into this object.
            self.HIT = Hit("_pc_front[{key}]", expires=True, fallback=read)  # type: ignore[misc]
        else:
            # A store that counts hits sees every one of them, front hits too (its reader checks the front).
            self.HIT = Hit(read)  # type: ignore[misc]
        # What the hit path of this thread just found missing, so the miss path
        # that follows does not ask the store a second time (and does not
        # count a second fault). _generation tells whether anything was stored since.
        self._note = threading.local()
        self._generation = 0
        # Recent memory keys -> store keys: a digest costs more than a dict
        # lookup. Equal keys (1 and 1.0) then share one entry, as in memory.
        self._names: dict[Any, str] = {}

    def bindings(self) -> dict[str, Any]:
        readers = {
            (False, False): self._get, (False, True): self._get_counted,
            (True, False): self._aget, (True, True): self._aget_counted,
        }
        return {"_pc_get": readers[self.is_async, self.counted], "_pc_front": self.front, "_pc_now": time.monotonic}

    # -- keys ------------------------------------------------------------------

    def _digest(self, key: Any) -> str:
        try:
            return stable_digest(key)
        except UnkeyableError as first:
            try:
                # Hashable values without a canonical encoding of their own
                # (namedtuples, hashable Pydantic models) are keyed by value.
                return stable_digest(freeze(key))
            except UnkeyableError:
                try:
                    return stable_digest(freeze(defaults_marked(self.plan, key)))
                except UnkeyableError:
                    raise unkeyable_error(self.plan, key, first) from None

    # -- reading ---------------------------------------------------------------

    def _name(self, key: Any) -> str:
        """The store key for *key*: ``<namespace>:<digest>``. TypeError for an unhashable *key*."""
        try:
            return self._names[key]
        except KeyError:
            pass
        name = self.prefix + self._digest(key)
        names = self._names
        if len(names) >= _NAMES_KEPT:
            names.clear()
        names[key] = name
        return name

    def _get(self, key: Any) -> Any:
        """The hit path: the value, or KeyError (a miss) or TypeError (an unhashable key)."""
        value = self._fetch(key, self._name(key))
        if value is MISS:
            note = self._note
            note.key = key
            note.generation = self._generation
            raise KeyError(key)
        return value

    def _front_value(self, key: Any) -> Any:
        front = self.front
        if front is not None:
            entry = front.get(key)
            if entry is not None and entry[1] > time.monotonic():
                return entry[0]
        return MISS

    def _get_counted(self, key: Any) -> Any:
        """The hit path with a store that counts hits: the front, the store, then the hit reported."""
        value = self._front_value(key)
        if value is MISS:
            value = self._get(key)
        self._record_hit()
        return value

    def _record_hit(self) -> None:
        try:
            self.store.record_hit(self.namespace, self.counters.saved_per_hit())
        except Exception as error:
            self._fault("count", error)

    def store_key(self, key: Any) -> str:
        """The store key (``<namespace>:<digest>``) that *key*'s entry and lease live under."""
        return self._name(key)

    def landed(self, key: Any, name: str) -> Any:
        """The value stored under *key* now, or MISS: single flight looks while it waits for another process.

        Faults are not counted here: the miss that led to the wait counted
        them, and the next read counts them again if they last.
        """
        try:
            return self._decode(key, name, self.store.get(name), 0, quiet=True)
        except Exception:
            return MISS

    def lookup(self, key: Any) -> Any:
        """The entry for *key*, or MISS (called under the method's lock)."""
        note = self._note
        if getattr(note, "key", _NOTHING) is key:
            note.key = _NOTHING
            if note.generation == self._generation:
                return self._expired(key)  # the hit path asked the store a moment ago
        front = self.front
        if front is not None:
            entry = front.get(key)
            if entry is not None and entry[1] > time.monotonic():
                return entry[0]
        value = self._fetch(key, self._name(key))
        return self._expired(key) if value is MISS else value

    def _expired(self, key: Any) -> Any:
        """What the last read of *key* in this thread left for stale serving: ``Expired``, or MISS."""
        note = self._note
        found = getattr(note, "expired", None)
        if found is None:
            return MISS
        note.expired = None
        return found[1] if found[0] == key else MISS

    def peek(self, key: Any) -> Any:
        """The value for *key* while fresh, or MISS."""
        found = self.lookup(key)
        return MISS if type(found) is Expired else found

    def _fetch(self, key: Any, name: str) -> Any:
        # An invalidation from another process while this read is on its way may concern it.
        epoch = self._front_cache.epoch if self._front_cache is not None else 0
        try:
            data = self.store.get(name)
        except Exception as error:
            self._fault("read", error)
            return MISS
        return self._decode(key, name, data, epoch)

    def _decode(self, key: Any, name: str, data: Any, epoch: int, quiet: bool = False) -> Any:
        """The value *data* (read under *name*) holds, or MISS; remembered in the front cache unless *quiet*."""
        if data is MISS:
            return MISS
        serializer: Any = self.serializer  # dumps/loads take key= when it binds_key
        if self.codec.timed or (serializer is None and type(data) is Entry):
            return self._fetched_entry(key, name, data, epoch)
        if serializer is None:
            value = data
        else:
            try:
                value = serializer.loads(data, key=name) if self._binds_key else serializer.loads(data)
            except OutdatedEntry:
                return MISS  # written for another shape or format: recomputed and overwritten, no fault
            except Exception as error:
                if data[:4] == ENVELOPE_MAGIC:
                    # Written with its times (by a method with stale serving or ttl from results).
                    return self._fetched_entry(key, name, data, epoch)
                if not quiet:
                    self._fault("decode", error)
                return MISS
        if quiet:
            return value
        if self.front is not None and self._front_cache.epoch == epoch:
            self._remember(key, value)
        return value

    def _fetched_entry(self, key: Any, name: str, data: Any, epoch: int) -> Any:
        """The value of an entry stored with its times while fresh; MISS once expired.

        An expired entry still within its stale window is left in this
        thread's note for the miss path (``lookup``), which may serve it.
        """
        try:
            entry = self.codec.load(name, data)
        except (OutdatedEntry, EntryError):
            return MISS  # written for another shape or format: recomputed and overwritten, no fault
        except Exception as error:
            self._fault("decode", error)
            return MISS
        now = time.time()
        if entry.expires <= now:
            if now < entry.stale_until:
                self._note.expired = (key, Expired(entry, now))
            return MISS
        if self.front is not None and self._front_cache.epoch == epoch:
            self._remember(key, entry.value, time.monotonic() + (entry.expires - now))  # in the front's clock
        return entry.value

    def _remember(self, key: Any, value: Any, expires: float = math.inf) -> None:
        """Keep *value* in the front cache for ``front_ttl``, and never past *expires* (monotonic)."""
        front = self.front
        assert front is not None
        if len(front) >= self.front_maxsize and key not in front:
            # StopIteration/RuntimeError: emptied or resized by another thread meanwhile.
            with contextlib.suppress(StopIteration, RuntimeError):
                front.pop(next(iter(front)), None)
        front[key] = (value, min(time.monotonic() + self.front_ttl, expires))

    # -- writing ---------------------------------------------------------------

    def put(self, key: Any, value: Any, ttl: Any = OPTION) -> bool:
        """Store *value* fresh for *ttl* seconds (default: the option's); False (still returned) if it cannot."""
        name, data, keep = self._encode(key, value, ttl)
        if name is None:
            return False
        try:
            self.store.set(name, data, keep)
        except Exception as error:
            self._fault("write", error)
            return False
        self._written(key, value, ttl)
        return True

    def _written(self, key: Any, value: Any, ttl: Any) -> None:
        """After a write (sync or awaited): the front keeps *value* no longer than the entry lives."""
        if self.front is not None:
            if ttl is OPTION:
                ttl = self.codec.ttl
            self._remember(key, value, math.inf if ttl is None else time.monotonic() + ttl)

    def _encode(self, key: Any, value: Any, ttl: Any = OPTION) -> tuple[str | None, Any, Any]:
        """``(store key, bytes, the store's ttl)`` for *value*, or Nones when it cannot be serialized.

        Its front entry goes: the store is about to change under it.
        """
        name = self._name(key)
        try:
            data, keep = self.codec.dump(name, value, ttl, time.time())
        except Exception as error:
            self._unserializable(value, error)
            return None, None, None
        self._generation += 1
        if self.front is not None:
            self.front.pop(key, None)
        return name, data, keep

    def delete(self, key: Any) -> bool:
        name = self._name(key)
        self._generation += 1
        if self.front is not None:
            self.front.pop(key, None)
        try:
            return bool(self.store.delete(name))
        except Exception as error:
            self._fault("delete", error)
            return False

    def clear(self) -> None:
        self._generation += 1
        if self.front is not None:
            self.front.clear()
        try:
            self.store.clear(self.namespace)
        except Exception as error:
            self._fault("clear", error)

    # -- coroutines: the same reads and writes, the store awaited ------------------
    #
    # A coroutine method never blocks its loop on the store, hits included:
    # the store's coroutines (redis.asyncio, or disk in a worker thread), or
    # its sync calls in a worker thread. Only the I/O differs from above.

    async def _aget(self, key: Any) -> Any:
        """The hit path of a coroutine method: the value, or KeyError (a miss)."""
        value = await self._afetch(key, self._name(key))
        if value is MISS:
            note = self._note
            note.key = key
            note.generation = self._generation
            raise KeyError(key)
        return value

    async def _aget_counted(self, key: Any) -> Any:
        """:meth:`_aget` with a store that counts hits: the front, the store, then the hit reported."""
        value = self._front_value(key)
        if value is MISS:
            value = await self._aget(key)
        arecord = getattr(self.store, "arecord_hit", None)
        if arecord is None:
            self._record_hit()
            return value
        try:
            await arecord(self.namespace, self.counters.saved_per_hit())
        except Exception as error:
            self._fault("count", error)
        return value

    async def _afetch(self, key: Any, name: str) -> Any:
        # An invalidation from another process while this read is on its way may concern it.
        epoch = self._front_cache.epoch if self._front_cache is not None else 0
        try:
            data = await self._aread(name)
        except Exception as error:
            self._fault("read", error)
            return MISS
        return self._decode(key, name, data, epoch)

    async def alookup(self, key: Any) -> Any:
        """The entry for *key*, or MISS: :meth:`lookup` with the store awaited."""
        note = self._note
        if getattr(note, "key", _NOTHING) is key:
            note.key = _NOTHING
            if note.generation == self._generation:
                return self._expired(key)  # the hit path asked the store a moment ago
        value = self._front_value(key)
        if value is not MISS:
            return value
        value = await self._afetch(key, self._name(key))
        return self._expired(key) if value is MISS else value

    async def alanded(self, key: Any, name: str) -> Any:
        """:meth:`landed` with the store awaited."""
        try:
            return self._decode(key, name, await self._aread(name), 0, quiet=True)
        except Exception:
            return MISS

    async def aput(self, key: Any, value: Any, ttl: Any = OPTION) -> bool:
        """:meth:`put` with the store awaited."""
        name, data, keep = self._encode(key, value, ttl)
        if name is None:
            return False
        try:
            aset = getattr(self.store, "aset", None)
            if aset is not None:
                await aset(name, data, keep)
            else:
                await in_thread(self.store.set, name, data, keep)
        except Exception as error:
            self._fault("write", error)
            return False
        self._written(key, value, ttl)
        return True

    async def adelete(self, key: Any) -> bool:
        """:meth:`delete` with the store awaited."""
        name = self._name(key)
        self._generation += 1
        if self.front is not None:
            self.front.pop(key, None)
        try:
            adelete = getattr(self.store, "adelete", None)
            if adelete is not None:
                return bool(await adelete(name))
            return bool(await in_thread(self.store.delete, name))
        except Exception as error:
            self._fault("delete", error)
            return False

    # -- size ------------------------------------------------------------------

    def keys(self) -> list[str]:
        """The store keys of this namespace (digests: memory keys cannot be recovered)."""
        keys = getattr(self.store, "keys", None)
        if keys is None:
            return []
        try:
            return list(keys(self.namespace))
        except Exception as error:
            # Statistics only: a store that cannot be scanned reports 0 and
            # is not counted as a fault of the method's calls.
            log.debug("%s: %r scan failed: %r", self.plan.qualname, self.store, error)
            return []

    def currsize(self) -> int:
        return len(self.keys())

    def __len__(self) -> int:
        return self.currsize()

    # -- trouble ---------------------------------------------------------------

    def _fault(self, op: str, error: Exception) -> None:
        qualname = self.plan.qualname
        self.counters.fault()
        emit("fault", qualname, {"op": op, "store": repr(self.store), "error": error})
        reason = fault_reason(error)
        first = _faults.get(self.store) is None
        _faults.put(self.store, reason)
        if first:
            detail = f"{type(error).__name__}: {error}"
            why = detail if reason == type(error).__name__ else f"{reason} ({detail})"
            _warn(
                f"{qualname}(): {self.store!r} {op} failed: {why}; calls go on uncached "
                "(later faults of this store are counted in cache_stats()['faults'] and logged on the "
                "'proxycache' logger, not warned again)"
            )
        now = time.monotonic()
        record = _logged.get(id(self.store))
        if record is not None and now - record[0] < LOG_INTERVAL:
            record[1] += 1
            return
        quiet = int(record[1]) if record is not None else 0
        _logged[id(self.store)] = [now, 0]
        log.warning(
            "%s: %s %s failed (%s: %s); the call went on without the cache%s",
            qualname,
            repr(self.store),
            op,
            type(error).__name__,
            error,
            f" ({quiet} more faults of this store in the last {LOG_INTERVAL:g}s not logged)" if quiet else "",
        )

    def _unserializable(self, value: Any, error: Exception) -> None:
        qualname = self.plan.qualname
        self.counters.uncached_result()
        emit("uncached", qualname, {"reason": "unserializable", "error": error})
        if self.namespace in _warned:
            return
        _warned.add(self.namespace)
        _warn(
            f"{qualname}() returned a {type(value).__qualname__} that {self.serializer!r} cannot store "
            f"({type(error).__name__}: {error}); it was returned uncached. Pass serializer= one that can "
            "(pickle handles most objects), or return plain data. (Warned once per method.)",
            RuntimeWarning,
        )


class _PerStore:
    """A fact per store, forgotten with the store (kept by id for stores that cannot be weakly referenced)."""

    def __init__(self) -> None:
        self._weak: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        self._ids: dict[int, str] = {}

    def get(self, store: Any) -> str | None:
        try:
            return self._weak.get(store)
        except TypeError:
            return self._ids.get(id(store))

    def put(self, store: Any, fact: str) -> None:
        try:
            self._weak[store] = fact
        except TypeError:
            self._ids[id(store)] = fact


_faults = _PerStore()  # store -> the reason of its latest fault
_unsigned = _PerStore()  # Redis stores already warned about their unsigned pickles


def last_fault(store: Any) -> str | None:
    """Why *store* last failed in this process ("permission denied"...), or None if it never did."""
    return _faults.get(store)


def fault_reason(error: BaseException) -> str:
    """A few words on why a store failed, for people: "authentication required", "not a directory"..."""
    names = {cls.__name__ for cls in type(error).__mro__}
    if "StoreUnavailable" in names and error.__cause__ is not None:
        return fault_reason(error.__cause__)
    text = str(error)
    if names & {"AuthenticationError", "AuthenticationWrongNumberOfArgsError"} or text.startswith(
        ("NOAUTH", "WRONGPASS", "Authentication required")
    ):
        return "authentication required (or a wrong password)"
    if isinstance(error, OSError) and error.errno is not None:
        known = {
            errno.EACCES: "permission denied",
            errno.EPERM: "permission denied",
            errno.ENOTDIR: "not a directory",
            errno.ENOENT: "no such file or directory",
            errno.ENOSPC: "no space left on the device",
            errno.EROFS: "read-only file system",
            errno.ECONNREFUSED: "connection refused (is the server running?)",
        }
        if error.errno in known:
            return known[error.errno]
    if "SignatureError" in names:
        return "an entry with a bad signature"
    if "ForeignEntry" in names:
        return "an entry proxycache did not write"
    if names & {"TimeoutError", "Timeout"}:
        return "timed out"
    if "StoreUnavailable" in names:
        return "failed recently, not retried yet"
    if "ConnectionError" in names:
        return "connection refused (is the server running?)" if "refused" in text else "cannot connect"
    if "DatabaseError" in names:  # sqlite3's, under diskcache: its text is the reason
        for words, reason in _SQLITE_REASONS:
            if words in text:
                return reason
        return "database error"
    return type(error).__name__


_SQLITE_REASONS = [
    ("readonly", "permission denied (the store is read-only here)"),
    ("unable to open", "cannot open the database (permission denied?)"),
    ("locked", "the database is locked (busy)"),
    ("full", "no space left on the device"),
    ("not a database", "the database is corrupt"),
    ("malformed", "the database is corrupt"),
    ("I/O error", "disk I/O error"),
]


def _warn_unsigned(store: Any) -> None:
    """Once per Redis store: its entries are unsigned pickles, so whoever can write to it runs code here."""
    if getattr(store, "kind", None) != "redis":
        return
    if _unsigned.get(store) is not None:
        return
    _unsigned.put(store, "warned")
    _warn(
        f"{store!r} holds unsigned pickles: anyone who can write to this Redis server can run code in "
        "every process that reads from it. Set the PROXYCACHE_SECRET environment variable (or pass "
        "serializer=PickleSerializer(secret=...)) to sign entries, or use serializer='json' or "
        "'pydantic'. See the security page of the docs. (Warned once per store.)"
    )


def _warn(message: str, category: type[Warning] = StoreWarning) -> None:
    """Warn; never fail the call, even where warnings are turned into errors."""
    try:
        warnings.warn(message, category, stacklevel=3)
    except Exception as error:
        log.warning("%s (raised as %s by the warnings filter; the call went on)", message, type(error).__name__)



async def in_thread(call: Any, *args: Any) -> Any:
    """*call* in a worker thread: a store without coroutines never blocks the loop."""
    import asyncio

    return await asyncio.to_thread(call, *args)
