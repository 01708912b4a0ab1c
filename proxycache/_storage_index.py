"""The keys of a ``key_attrs`` method's entries, found by their parts: its hit rebuilds no key.

A ``key_attrs`` key is the flat tuple ``(arguments' key, value, ...)``. Built
on every call, it is a new tuple that a hit hashes and compares element by
element twice (the LRU touch, then the read): most of what ``key_attrs``
adds to a hit. The index maps the values, then the arguments' key, to the
very tuple the storage holds, so a hit reads two small dicts and then finds
its entry by identity. What the index gives is always equal to the tuple the
call would build, so it can only find the entry that tuple finds; a key the
index lacks is built as before, and one whose entry another thread has just
dropped makes the call a miss, as the built one would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._storage import Storage, _FirstOut


class IndexedStorage(Storage):
    """Mixin, before a policy's storage: keeps ``index`` (values, then arguments' key, to the stored key).

    Kept exactly, on the miss path and under the method's lock, through the
    policy's hooks: puts take the general path (``Storage.put``), which
    reports every insertion and removal, evictions among them (the
    policies' own puts evict without reporting). So an evicted argument is
    not kept alive by the index.
    """

    def __init__(self, maxsize: int | None, getsizeof: Callable[[Any], int] | None, width: int) -> None:
        super().__init__(maxsize, getsizeof)
        #: How many key_attrs values a key holds after the arguments' key.
        self.width = width
        self.index: dict[Any, dict[Any, Any]] = {}

    def bindings(self) -> dict[str, Any]:
        return {**super().bindings(), "_pc_index": self.index}

    def put(self, key: Any, value: Any) -> bool:
        return Storage.put(self, key, value)

    def _inserted(self, key: Any) -> None:
        super()._inserted(key)
        self._add(key)

    def _removed(self, key: Any) -> None:
        super()._removed(key)
        self._drop(key)

    def _cleared(self) -> None:
        super()._cleared()
        self.index.clear()

    def _add(self, key: Any) -> None:
        # Only keys of the (arguments' key, value, ...) shape: a tuple's length tells a frozen key apart.
        if type(key) is tuple and len(key) == self.width + 1:
            values = key[1] if self.width == 1 else key[1:]
            found = self.index.get(values)
            if found is None:
                found = self.index[values] = {}
            found[key[0]] = key

    def _drop(self, key: Any) -> None:
        if type(key) is tuple and len(key) == self.width + 1:
            values = key[1] if self.width == 1 else key[1:]
            found = self.index.get(values)
            if found is not None:
                found.pop(key[0], None)
                if not found:
                    del self.index[values]


class IndexedFirstOut(IndexedStorage):
    """LRU and FIFO: their common miss as ``_FirstOut.put`` writes it out, the evicted key dropped from the index."""

    def put(self, key: Any, value: Any) -> bool:
        maxsize = self.maxsize
        if self.sizes is None and maxsize:
            data = self.data
            if key in data:
                del data[key]  # its index entry is replaced below
            if len(data) >= maxsize:
                self._drop(data.popitem(False)[0])  # type: ignore[call-arg]  # an OrderedDict's, see _FirstOut
            data[key] = value
            self._add(key)
            return True
        return Storage.put(self, key, value)


_classes: dict[type[Storage], type[IndexedStorage]] = {}


def indexed(cls: type[Storage], maxsize: int | None, getsizeof: Callable[[Any], int] | None, width: int) -> Storage:
    """A *cls* storage that also keeps the index of its keys' parts, for *width* key_attrs values."""
    klass = _classes.get(cls)
    if klass is None:
        # IndexedFirstOut writes _FirstOut's put out: a storage with a put of its own takes the general one.
        mixin = IndexedFirstOut if cls.put is _FirstOut.put else IndexedStorage
        made: Any = type(f"Indexed{cls.__name__}", (mixin, cls), {})
        klass = _classes.setdefault(cls, made)
    return klass(maxsize, getsizeof, width)
