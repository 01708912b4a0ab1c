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
import logging
import threading
import time
import types
import warnings
import weakref
from typing import TYPE_CHECKING, Any, ClassVar

from ._contract import MISS
from ._events import emit
from ._keys import _DEFAULT, UnkeyableError, freeze, stable_digest
from ._options import Options
from ._storage import Storage
from .serializers import serializer_for

if TYPE_CHECKING:
    from ._method import CachedMethod

log = logging.getLogger("proxycache")

#: Seconds between two log records about the faults of one store.
LOG_INTERVAL = 10.0
_logged: dict[int, list[float]] = {}  # id(store) -> [time of last record, faults not logged since]
_warned: set[str] = set()  # namespaces already warned about an unserializable result
_NOTHING = object()
#: Store keys remembered per method (then forgotten all at once and rebuilt).
_NAMES_KEPT = 256


def namespace_for(state: CachedMethod, options: Options) -> str:
    """``options.namespace``, or ``module.Class.attribute`` of the class the method is looked up on; plus ``@version``.

    The class is the instance's (the wrapped object's for a proxy), never
    the function's own qualname, which decorators without ``functools.wraps``
    and lambdas share. A default namespace already claimed in this process
    by another function is refused: the two would answer each other's calls.
    """
    namespace = options.namespace
    if namespace is None:
        namespace = _default_namespace(state)
        _claim(namespace, state)
    if options.version is not None:
        namespace = f"{namespace}@{options.version}"
    return namespace


def _default_namespace(state: CachedMethod) -> str:
    owner = state.attrs_of() if state.attrs_of is not None else None
    if owner is None:
        # No instance (a static or class method, a plain function): its own name.
        module = getattr(state.wrapped, "__module__", None)
        if not isinstance(module, str):
            # Objects may answer any attribute with anything; a repr in the
            # namespace (an address) would differ between processes.
            module = type(state.wrapped).__module__
        return f"{module}.{state.qualname}" if module else state.qualname
    if isinstance(owner, types.ModuleType):
        prefix = owner.__name__
        heads = [type(owner).__qualname__ + "."]
    else:
        cls = owner if isinstance(owner, type) else type(owner)
        prefix = f"{cls.__module__}.{cls.__qualname__}"
        heads = [cls.__qualname__ + ".", type(owner).__qualname__ + "."]
    bound_to = getattr(state.wrapped, "__self__", None)
    if bound_to is not None and bound_to is not owner:
        heads.append(type(bound_to).__qualname__ + ".")  # a nested object's method, named after that object
    return f"{prefix}.{_attribute_path(state.qualname, heads, state.name)}"


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


def _claim(namespace: str, state: CachedMethod) -> None:
    func = getattr(state.wrapped, "__func__", state.wrapped)
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
                f"{state.qualname}: its default store namespace {namespace!r} is already used by another "
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

    LOCK_ON_HIT: ClassVar[bool] = False
    #: Stores have their own size budget; per method there is no maxsize.
    maxsize: int | None = None

    def __init__(self, state: CachedMethod, options: Options) -> None:
        # Storage's per-entry bookkeeping is not used: the store keeps the entries.
        super().__init__(None, None)
        store = options.store
        self.state = state
        self.store = store
        self.ttl = options.ttl
        self.serializer = None if getattr(store, "holds_objects", False) else serializer_for(options.serializer)
        self.namespace = namespace_for(state, options)
        self.prefix = self.namespace + ":"
        self.policy = str(getattr(store, "kind", type(store).__name__))  # type: ignore[misc]
        front = getattr(store, "front", None)
        self.front: dict[Any, tuple[Any, float]] | None = None
        self.front_ttl = 0.0
        if front is not None:
            self.front = front.table(self.namespace)
            self.front_ttl = min(front.ttl, options.ttl or front.ttl)
            self.front_maxsize: int = front.maxsize
            # The front is checked inline; only its misses call into this object.
            self.HIT = (  # type: ignore[misc]
                "try:\n"
                "    _pc_result, _pc_expires = _pc_front[_pc_key]\n"
                "    if _pc_expires <= _pc_now():\n"
                "        raise KeyError\n"
                "except KeyError:\n"
                "    _pc_result = _pc_get(_pc_key)"
            )
        else:
            self.HIT = "_pc_result = _pc_get(_pc_key)"  # type: ignore[misc]
        # What the hit path of this thread just found missing, so the miss path
        # that follows does not ask the store a second time (and does not
        # count a second fault). _generation tells whether anything was stored since.
        self._note = threading.local()
        self._generation = 0
        # Recent memory keys -> store keys: a digest costs more than a dict
        # lookup. Equal keys (1 and 1.0) then share one entry, as in memory.
        self._names: dict[Any, str] = {}

    def bindings(self) -> dict[str, Any]:
        return {"_pc_get": self._get, "_pc_front": self.front, "_pc_now": time.monotonic}

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
                    return stable_digest(freeze(self._defaults_marked(key)))
                except UnkeyableError:
                    raise self.unkeyable(key, first) from None

    def unkeyable(self, key: Any, error: Exception) -> TypeError:
        """The error naming every part of *key* that has no stable encoding."""
        state = self.state
        if state.options.key is not None:
            return TypeError(
                f"{state.qualname}(): the key= function's result cannot be part of a shared-store key ({error}). "
                "Build the key from values (another process cannot know an object by identity)"
            )
        from ._method import unkeyable_error

        return unkeyable_error(
            state.qualname, state.key_culprits(self._defaults_marked(key), _encoding_problem), error,
            what="be part of a shared-store key",
            attrs_fix="name attributes whose values are plain data, or pass key= a function that builds the key",
            args_fix="or pass key= a function that builds the key from values (another process cannot know "
            "this object by identity)",
        )

    def _defaults_marked(self, key: Any) -> Any:
        """*key* with every argument that is its parameter's default object replaced by a marker.

        Sentinel defaults (httpx's ``USE_CLIENT_DEFAULT``) have no stable
        encoding, but an argument that *is* the default means "the default"
        in every process. Plain defaults never get here: they encode as they are.
        """
        state = self.state
        signature = state.signature
        if state.options.key is not None or signature is None:
            return key
        has_attrs = bool(state.options.key_attrs)
        attrs: Any = None
        original = key
        try:
            if has_attrs:
                key, attrs = key
            typed = state.options.typed
            single = len(state.key_names) == 1 and not typed
            parts = [key] if single else list(key)
            step = 2 if typed else 1
            params = signature.parameters
            for i, name in enumerate(state.key_names):
                param = params.get(name)
                if param is not None and param.default is not param.empty and parts[i * step] is param.default:
                    parts[i * step] = _DEFAULT
        except (TypeError, ValueError, IndexError):
            return original  # not the layout shape_of builds: nothing to mark
        marked = parts[0] if single else tuple(parts)
        return (marked, attrs) if has_attrs else marked

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

    def lookup(self, key: Any) -> Any:
        """The entry for *key*, or MISS (called under the method's lock)."""
        note = self._note
        if getattr(note, "key", _NOTHING) is key:
            note.key = _NOTHING
            if note.generation == self._generation:
                return MISS  # the hit path asked the store a moment ago
        front = self.front
        if front is not None:
            entry = front.get(key)
            if entry is not None and entry[1] > time.monotonic():
                return entry[0]
        return self._fetch(key, self._name(key))

    peek = lookup

    def _fetch(self, key: Any, name: str) -> Any:
        try:
            data = self.store.get(name)
        except Exception as error:
            self._fault("read", error)
            return MISS
        if data is MISS:
            return MISS
        if self.serializer is None:
            value = data
        else:
            try:
                value = self.serializer.loads(data)
            except Exception as error:
                self._fault("decode", error)
                return MISS
        if self.front is not None:
            self._remember(key, value)
        return value

    def _remember(self, key: Any, value: Any) -> None:
        front = self.front
        assert front is not None
        if len(front) >= self.front_maxsize and key not in front:
            # StopIteration/RuntimeError: emptied or resized by another thread meanwhile.
            with contextlib.suppress(StopIteration, RuntimeError):
                front.pop(next(iter(front)), None)
        front[key] = (value, time.monotonic() + self.front_ttl)

    # -- writing ---------------------------------------------------------------

    def put(self, key: Any, value: Any) -> bool:
        """Store *value*; False (and the caller still gets it) when it cannot be stored."""
        name = self._name(key)
        data = value
        if self.serializer is not None:
            try:
                data = self.serializer.dumps(value)
            except Exception as error:
                self._unserializable(value, error)
                return False
        self._generation += 1
        if self.front is not None:
            self.front.pop(key, None)
        try:
            self.store.set(name, data, self.ttl)
        except Exception as error:
            self._fault("write", error)
            return False
        if self.front is not None:
            self._remember(key, value)
        return True

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
            log.debug("%s: %r scan failed: %r", self.state.qualname, self.store, error)
            return []

    def currsize(self) -> int:
        return len(self.keys())

    def __len__(self) -> int:
        return self.currsize()

    # -- trouble ---------------------------------------------------------------

    def _fault(self, op: str, error: Exception) -> None:
        state = self.state
        with state.lock:
            state.faults += 1
        emit("fault", state.qualname, {"op": op, "store": repr(self.store), "error": error})
        now = time.monotonic()
        record = _logged.get(id(self.store))
        if record is not None and now - record[0] < LOG_INTERVAL:
            record[1] += 1
            return
        quiet = int(record[1]) if record is not None else 0
        _logged[id(self.store)] = [now, 0]
        log.warning(
            "%s: %s %s failed (%s: %s); the call went on without the cache%s",
            state.qualname,
            repr(self.store),
            op,
            type(error).__name__,
            error,
            f" ({quiet} more faults of this store in the last {LOG_INTERVAL:g}s not logged)" if quiet else "",
        )

    def _unserializable(self, value: Any, error: Exception) -> None:
        state = self.state
        with state.lock:
            state.uncached += 1
        emit("uncached", state.qualname, {"reason": "unserializable", "error": error})
        if self.namespace in _warned:
            return
        _warned.add(self.namespace)
        warnings.warn(
            f"{state.qualname}() returned a {type(value).__qualname__} that {self.serializer!r} cannot store "
            f"({type(error).__name__}: {error}); it was returned uncached. Pass serializer= one that can "
            "(pickle handles most objects), or return plain data. (Warned once per method.)",
            RuntimeWarning,
            stacklevel=2,
        )


def _encodable(value: Any) -> bool:
    try:
        stable_digest(value)
    except UnkeyableError:
        try:
            stable_digest(freeze(value))
        except UnkeyableError:
            return False
    return True


def _encoding_problem(value: Any) -> str | None:
    """Why *value* cannot be part of a shared-store key, or None."""
    if _encodable(value):
        return None
    try:
        stable_digest(value)
    except UnkeyableError as error:
        return str(error)
    return None
