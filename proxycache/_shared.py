"""The storage of a cached method whose entries live in a store (``store=``).

It offers the same face as the in-memory storages of ``_storage`` (``HIT``,
``lookup``, ``put``...), so the cached callable does not know the difference.
What it adds: stable keys (``<namespace>:<digest>``, never argument values),
a serializer for stores that hold bytes, and fault tolerance: whatever the
store does (a dead server, a full disk, a corrupt or forged entry), the call
goes on as a miss, and the fault is reported (``_faults``). Its namespace
comes from ``_namespace``; its entries in the store's front cache are a
``_front.FrontTable``.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from typing import Any

from ._entry import Entry, EntryError
from ._entry_codec import ENVELOPE_MAGIC, EntryCodec, by_another_serializer, marked
from ._faults import report_fault, report_unserializable, warn_unsigned
from ._front import FrontTable
from ._hit import Hit
from ._keys_strict import Strict
from ._lifetime import OPTION, Expired
from ._miss import MISS
from ._namespace import namespace_for, store_digest
from ._options import Options
from ._plan import Plan
from ._stats import Counters
from ._storage import Storage
from ._store_base import in_thread
from ._store_names import memo_key
from .serializers import OutdatedEntry, PickleSerializer, serializer_for

log = logging.getLogger("proxycache")

_NOTHING = object()
#: Store keys remembered per method (then forgotten all at once and rebuilt).
_NAMES_KEPT = 256


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
        serializer = None if getattr(store, "holds_objects", False) else serializer_for(options.serializer)
        if isinstance(serializer, PickleSerializer) and not serializer.signed:
            warn_unsigned(store)
        #: Entries name their serializer (all but pickles, which name themselves): another's entry is a miss.
        self.serializer = marked(serializer)
        # Such a serializer binds each entry to its store key (namespace, version, arguments).
        self._binds_key = bool(getattr(self.serializer, "binds_key", False))
        #: Writes a result with its times (when the options time entries one by one) and reads either form.
        self.codec = EntryCodec(self.serializer, options)
        self.namespace = namespace_for(plan, options)
        self.prefix = self.namespace + ":"
        self.policy = str(getattr(store, "kind", type(store).__name__))  # type: ignore[misc]
        front = getattr(store, "front", None)
        #: This method's entries in the store's front cache, or None.
        self.front = None if front is None else FrontTable(front, self.namespace, self.codec.ttl)
        #: The store counts hits per namespace (``stats=True``): every hit then reports itself to it.
        self.counted = bool(getattr(store, "stats", False)) and callable(getattr(store, "record_hit", None))
        # A coroutine method awaits the store on its hit path too: the loop never waits on it.
        self.is_async = is_async
        #: The store answers sync calls (every store but a RedisStore with only an asyncio client).
        self.sync_io = bool(getattr(store, "sync_io", True))
        aget = getattr(store, "aget", None)
        self._aread: Any = aget if callable(aget) else functools.partial(in_thread, store.get)
        read = "await _pc_get({key})" if is_async else "_pc_get({key})"
        if self.front is not None and not self.counted:
            # The front is checked inline; only its misses call into this object.
            self.HIT = self.front.hit(read)  # type: ignore[misc]
        else:
            # A store that counts hits sees every one of them, front hits too (its reader checks the front).
            self.HIT = Hit(read)  # type: ignore[misc]
        # What the hit path of this thread just found missing, so the miss path
        # that follows does not ask the store a second time (and does not
        # count a second fault). _generation tells whether anything was stored since.
        self._note = threading.local()
        self._generation = 0
        # Recent memory keys -> store keys: a digest costs more than a dict lookup. Only keys that equal
        # no key encoded apart (see _store_names): a store key is the call's alone, never the process's history.
        self._names: dict[Any, str] = {}

    def bindings(self) -> dict[str, Any]:
        readers = {
            (False, False): self._get, (False, True): self._get_counted,
            (True, False): self._aget, (True, True): self._aget_counted,
        }
        front = {"_pc_front": None, "_pc_now": time.monotonic} if self.front is None else self.front.bindings()
        return {"_pc_get": readers[self.is_async, self.counted], **front}

    # -- reading ---------------------------------------------------------------

    def _name(self, key: Any) -> str:
        """The store key for *key*: ``<namespace>:<digest>``. TypeError for an unhashable *key*."""
        if type(key) is Strict:
            key = key.plain  # digested as the plain key: its encoding tells booleans from numbers at any depth
        memo = memo_key(key)
        if memo is None:
            hash(key)  # an unhashable key raises TypeError here, as the lookup would
            return self.prefix + store_digest(self.plan, key)
        try:
            return self._names[memo]
        except KeyError:
            pass
        name = self.prefix + store_digest(self.plan, key)
        names = self._names
        if len(names) >= _NAMES_KEPT:
            names.clear()
        names[memo] = name
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

    def _get_counted(self, key: Any) -> Any:
        """The hit path with a store that counts hits: the front, the store, then the hit reported."""
        value = MISS if self.front is None else self.front.get(key)
        if value is MISS:
            value = self._get(key)
        self._record_hit()
        return value

    def _record_hit(self) -> None:
        try:
            self.store.record_hit(self.namespace, self.counters.saved_per_hit())
        except Exception as error:
            self._fault("count", error)

    #: The store key (``<namespace>:<digest>``) that a key's entry and lease live under.
    store_key = _name

    def landed(self, key: Any, name: str) -> Any:
        """The value stored under *key* now, or MISS: single flight looks while it waits for another process.

        Faults are not counted here: the miss that led to the wait counted
        them, and the next read counts them again if they last. A look that
        fails is "not there yet" (a busy disk store fails now and then); the
        wait ends when the value lands or the holder's lease comes free.
        """
        try:
            return self._decode(key, name, self.store.get(name), 0, quiet=True)
        except Exception:
            return MISS

    def lookup(self, key: Any) -> Any:
        """The entry for *key*, or MISS (called under the method's lock)."""
        known = self._known(key)
        if known is not _NOTHING:
            return known
        value = self._fetch(key, self._name(key))
        return self._expired(key) if value is MISS else value

    def _known(self, key: Any) -> Any:
        """What a lookup of *key* answers without reading the store (the hit path's note, the front), or _NOTHING."""
        note = self._note
        if getattr(note, "key", _NOTHING) is key:
            note.key = _NOTHING
            if note.generation == self._generation:
                return self._expired(key)  # the hit path asked the store a moment ago
        value = MISS if self.front is None else self.front.get(key)
        return _NOTHING if value is MISS else value

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
        epoch = self.front.epoch if self.front is not None else 0
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
            except Exception as error:
                if data[:4] == ENVELOPE_MAGIC:
                    # Written with its times (by a method with stale serving, a ttl from results, or signed).
                    return self._fetched_entry(key, name, data, epoch)
                if isinstance(error, OutdatedEntry) or by_another_serializer(data):
                    # Written for another shape or format, or by another serializer (a change of
                    # serializer=): recomputed and overwritten, no fault.
                    return MISS
                if not quiet:
                    self._fault("decode", error)
                return MISS
        if quiet:
            return value
        if self.front is not None:
            self.front.remember(key, value, epoch=epoch)
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
            if not by_another_serializer(data):
                self._fault("decode", error)
            return MISS
        now = time.time()
        if entry.expires <= now:
            if now < entry.stale_until:
                self._note.expired = (key, Expired(entry, now))
            return MISS
        if self.front is not None:
            self.front.remember(key, entry.value, time.monotonic() + (entry.expires - now), epoch)  # in its clock
        return entry.value

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
            self.front.remember(key, value, math.inf if ttl is None else time.monotonic() + ttl)

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
            self.front.discard(key)
        return name, data, keep

    def delete(self, key: Any) -> bool:
        name = self._name(key)
        self._generation += 1
        if self.front is not None:
            self.front.discard(key)
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
        value = MISS if self.front is None else self.front.get(key)
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
        epoch = self.front.epoch if self.front is not None else 0
        try:
            data = await self._aread(name)
        except Exception as error:
            self._fault("read", error)
            return MISS
        return self._decode(key, name, data, epoch)

    async def alookup(self, key: Any) -> Any:
        """The entry for *key*, or MISS: :meth:`lookup` with the store awaited."""
        known = self._known(key)
        if known is not _NOTHING:
            return known
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
            self.front.discard(key)
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
        report_fault(self.plan.qualname, self.counters, self.store, op, error)

    def _unserializable(self, value: Any, error: Exception) -> None:
        report_unserializable(self.plan.qualname, self.counters, self.namespace, self.serializer, value, error)
