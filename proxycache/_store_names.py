"""Which memory keys may share a remembered store key: those that equal no key encoded apart from them.

A shared store's key is the digest of a canonical encoding of the memory
key (:func:`proxycache._keys.stable_digest`), which tells apart values that
are equal in Python: ``1`` and ``1.0``, ``0.0`` and ``-0.0``, ``Decimal("1")``
and ``Decimal("1.0")``, one instant at two UTC offsets, a boolean and the
number it equals inside a tuple. A digest costs more than a dict lookup, so
:class:`~proxycache._shared.SharedStorage` remembers recent ones by memory
key; remembered for a key that equals another key encoded apart, the first
one this process saw would name the other's entry too, and a call's store
key would hang on the process's history. :func:`memo_key` says by what a key
may be remembered, so that it never does.
"""

from __future__ import annotations

from typing import Any

from ._keys import _Marker, _Tagged
from ._keys_strict import tag_deep

__all__ = ["memo_key"]

#: Leaves two of which are equal only when they encode alike (a non-integral float is handled apart: an
#: integral one equals an int; a boolean is tagged: True equals 1). A class is equal only to itself.
_EXACT = frozenset({int, str, bytes, type(None), _Marker, _Tagged, type})
#: Deeper than this, a key is not remembered (the walk stays short; freeze refuses past 100 anyway).
_DEPTH = 20


def memo_key(key: Any) -> Any:
    """What *key*'s store key may be remembered by, or None when it may not be remembered.

    *key* itself when every leaf is of a type whose equal values encode
    alike (ints, strings, bytes, None, markers, tagged booleans, classes,
    floats that are not whole numbers) in tuples and frozensets; its copy
    with the booleans inside tagged when it holds some (``("x", True)`` is
    then remembered apart from ``("x", 1)``); None when it holds anything
    else (a whole float, which equals an int; a Decimal; a datetime; an
    object with an ``__eq__`` of its own), whose store key is worked out
    every time.
    """
    if type(key) in _EXACT:  # one argument (most keys): no walk
        return key
    found = _scan(key, 0)
    if found is None:
        return None
    return tag_deep(key) if found else key


def _scan(value: Any, depth: int) -> bool | None:
    """None when *value* holds a leaf of no exact encoding; else whether it holds a boolean."""
    cls = type(value)
    if cls in _EXACT:
        return False
    if value is True or value is False:
        return True
    if cls is float:
        # A whole float equals an int (1.0 == 1) and 0.0 equals -0.0, all encoded apart; NaN and infinities
        # equal no other key's leaf (NaN not even itself: a memo entry never found, which costs nothing).
        return None if value.is_integer() else False
    if (cls is tuple or cls is frozenset) and depth < _DEPTH:
        any_bool = False
        for item in value:
            found = _scan(item, depth + 1)
            if found is None:
                return None
            any_bool = any_bool or found
        return any_bool
    return None
