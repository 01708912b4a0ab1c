"""Keys for unhashable arguments seen before: the frozen key of plain data, remembered by its encoding.

:func:`freeze_again` is :func:`proxycache._keys.freeze` for a call's key
that did not hash (a dict or list argument), remembered: a chat request's
messages, passed again, are keyed without walking them in Python. It only
ever answers the key freeze would make; see its docstring for why.
"""

from __future__ import annotations

from marshal import dumps as _marshal
from marshal import loads as _unmarshal
from typing import Any

from ._flags import CODE_GLOBALS, NO_GIL
from ._keys import _ATOMS, _Marker, freeze

__all__ = ["forget_frozen", "freeze_again", "freeze_key"]

#: Frozen keys of plain data, by its ``marshal`` encoding (see :func:`freeze_again`), and the bytes those hold.
_REMEMBERED: dict[bytes, Any] = {}
_remembered_bytes = 0
#: At most this many bytes of encodings are remembered (past it, all are forgotten at once); an
#: encoding longer than _REMEMBER_ONE never is, or one large argument would push out the others.
_REMEMBER_ALL = 1 << 20
_REMEMBER_ONE = 1 << 16
#: And at most this many, each with the key it stands for.
_REMEMBER_COUNT = 4096
#: Plain data nests at most this deep, and is remembered at most this deep in a key: far from the
#: depth freeze refuses, so a remembered key is always the one freeze would make there.
_PLAIN_DEPTH = 40
#: Plain data's leaves (floats and complex numbers too, but NaN) and containers, as exact types.
_PLAIN_ATOMS = frozenset({int, str, type(None), bool})
_PLAIN_CONTAINERS = frozenset({tuple, list, dict, set, frozenset})
#: What freeze_again remembers (lists, dicts, sets; tuples of _WHOLE) or looks into (other tuples): a
#: frozenset always hashes, so no key that did not hash is one.
_REMEMBERED_KINDS = _PLAIN_CONTAINERS - {frozenset}
#: A tuple of these is encoded whole: one key object, which the storage then finds by identity.
_FLAT = frozenset({int, float, complex, str, type(None), list, dict, set})
#: A call's key tuple is encoded whole with tuples among its parts too (the ``*args`` and ``**kwargs``
#: parts of a key): marshal refuses the few that hold an object, then its parts are taken as _FLAT.
_WHOLE = _FLAT | {tuple}
_FORGOTTEN = _Marker("forgotten")
_NOT_PLAIN = _Marker("not_plain")


def freeze_again(value: Any, _depth: int = 0, _learn: bool = True) -> Any:
    """:func:`freeze`, remembered for plain data: an equal argument passed again is not walked in Python.

    Plain data is None, bools, ints, floats (not NaN), complex numbers and
    strings, in tuples, lists, dicts and sets, all of exact types. Its
    ``marshal`` encoding (version 2: no references, nothing about interning)
    is the same for two values only when they hold the same types and
    contents in the same order, so one frozen key serves both. Two equal
    dicts in different orders encode apart; they freeze to equal keys, and
    the second costs a walk. Bytes are not plain: marshal encodes any buffer
    (a bytearray, a NumPy array) as bytes, and :func:`freeze` keys those
    apart, or refuses them.

    An encoding is remembered when it is seen a second time, so arguments
    that never come back (a miss each) cost an encoding, not a walk more;
    the key is then the first sighting's, the object the storage holds.
    A call's key tuple is encoded whole when its parts are numbers, strings,
    None, tuples, lists, dicts or sets, and frozen part by part otherwise
    (or when marshal refuses an object nested in it).

    Without *_learn* (:func:`remembered_key`), nothing is walked or learnt:
    None stands for plain data not remembered yet.
    """
    # Identity tests, not `cls in _REMEMBERED_KINDS`: in 3.11 a set lookup costs about 200 instructions,
    # and this runs on every hit with a dict argument.
    cls = type(value)
    if cls is tuple:
        if not (_WHOLE if _depth == 0 else _FLAT).issuperset(map(type, value)):
            return _by_part(value, _depth, _learn)  # an object among them (a sentinel default): marshal would refuse it
    elif cls is not dict and cls is not list and cls is not set:
        return freeze(value, _depth) if _learn else None
    try:
        data = _marshal(value, 2)
    except Exception:  # ValueError: an object marshal does not know; RuntimeError: changed while read
        # A key's tuples may hold one nested (a tagged bool, an object in **kwargs): its parts are encoded
        # one by one, as flat tuples (one refused encoding of the whole, not one more at each level).
        if cls is tuple:
            return _by_part(value, _depth, _learn)
        return freeze(value, _depth) if _learn else None
    frozen = _REMEMBERED.get(data, _FORGOTTEN)
    if frozen is _FORGOTTEN:
        if not _learn:
            return None  # never seen: the miss path keys it, walking it once
        frozen = freeze(value, _depth)
        if len(data) <= _REMEMBER_ONE:
            _remember(data, [frozen])  # seen once: a list, which no key is (keys hash), holds its key
        return frozen
    if type(frozen) is list:
        if not _learn:
            return None  # seen once: the miss path remembers it
        frozen = _REMEMBERED[data] = _seen_again(data, frozen[0])  # where the first sighting's bytes are counted
    return freeze(value, _depth) if frozen is _NOT_PLAIN else frozen


def _seen_again(data: bytes, first: Any) -> Any:
    """What *data*, seen a second time, is remembered as: its key (the first sighting's, *first*, when
    equal), or _NOT_PLAIN (bytes, NaN, code: keyed as freeze has them; a bytearray is refused there)."""
    # Frozen from what was encoded, not from the argument: another thread may change it meanwhile,
    # and the key remembered for these bytes must be the one they stand for.
    copy = _unmarshal(data)
    if not _plain(copy, 0):
        return _NOT_PLAIN
    key = freeze(copy)
    # The first sighting's key when it is this one: what the storage holds, found there by identity.
    try:
        same = first == key
    except Exception:  # frozen from an argument changed meanwhile, to hold an object whose == raises
        same = False
    return first if same else key


def _by_part(value: tuple[Any, ...], depth: int, learn: bool) -> Any:
    """:func:`freeze_again` of a call's key tuple that cannot be encoded whole: part by part, as freeze takes it."""
    depth += 1
    parts = []
    # SDK methods default most of their parameters to one sentinel (openai's omit, thirty times in
    # chat.completions.create): an object seen last in this key is frozen once (about 2 us each).
    last: Any = _NOT_PLAIN
    last_frozen: Any = None
    for v in value:
        kind = type(v)
        if kind in _ATOMS:
            parts.append(v)
        elif kind in _REMEMBERED_KINDS and depth <= _PLAIN_DEPTH:  # deeper, as freeze has it: see _PLAIN_DEPTH
            part = freeze_again(v, depth, learn)
            if part is None:
                return None  # not remembered yet (no key is None)
            parts.append(part)
        elif v is last:
            parts.append(last_frozen)
        else:
            last, last_frozen = v, freeze(v, depth)
            parts.append(last_frozen)
    return tuple(parts)


def forget_frozen() -> None:
    """Forget every remembered encoding (``cache_clear()``: no argument of a cleared cache stays in memory)."""
    global _remembered_bytes
    _REMEMBERED.clear()
    _remembered_bytes = 0


def _remember(data: bytes, frozen: Any) -> None:
    global _remembered_bytes
    if _remembered_bytes + len(data) > _REMEMBER_ALL or len(_REMEMBERED) >= _REMEMBER_COUNT:
        _REMEMBERED.clear()  # threads may count past the bound a little: it bounds memory, it is no rule
        _remembered_bytes = 0
    _REMEMBERED[data] = frozen
    _remembered_bytes += len(data)


def _plain(value: Any, depth: int) -> bool:
    """Whether *value* (as ``marshal.loads`` made it) is plain data, see :func:`freeze_again`."""
    cls = type(value)
    if cls in _PLAIN_ATOMS:
        return True
    if cls is float or cls is complex:
        return bool(value == value)  # NaN is unequal to itself: freeze keys each NaN object apart
    if cls not in _PLAIN_CONTAINERS or depth >= _PLAIN_DEPTH:
        return False
    depth += 1
    # Loops, not all() over comprehensions: a function object each in Python 3.11, and no early exit.
    if cls is dict:
        for k, v in value.items():
            if not (type(k) in _PLAIN_ATOMS or _plain(k, depth)) or not (type(v) in _PLAIN_ATOMS or _plain(v, depth)):
                return False
        return True
    for v in value:  # noqa: SIM110 (all() over a generator: a generator object, and a call per item)
        if not (type(v) in _PLAIN_ATOMS or _plain(v, depth)):
            return False
    return True


#: What freezes a call's key that did not hash: freeze_again, but freeze without the GIL, where marshal
#: reads a list or dict without the locks that keep another thread's change of it from crashing it.
freeze_key = freeze if NO_GIL else freeze_again


def remembered_key(value: Any) -> Any:
    """:func:`freeze_again` for a hit (``_codegen._FROZEN``) from what is remembered, or None.

    None where freeze_again would walk plain data (seen once, or never: the
    miss path keys it, walking it once) or raise (the miss path says why).
    No key is None.
    """
    try:
        return freeze_again(value, 0, False)
    except Exception:
        return None


# A generated function runs only once this module is loaded (_method loads it).
CODE_GLOBALS["_pc_remembered"] = remembered_key
