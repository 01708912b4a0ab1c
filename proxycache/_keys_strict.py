"""Keys of calls whose tuple or frozenset arguments hold booleans, or numbers a boolean equals.

A hashable argument is its own key, and ``(True,) == (1,)``: in a plain
dict, the call with one finds the other's entry. Top-level booleans are
tagged by the generated key (``_keys.tagged``); looking inside every tuple
argument there would cost every hit. Instead the miss path, which sees the
arguments, stores such a call's entry under a :class:`Strict` key: equal to
the plain key the hit path builds for the same call (and hashed as it, so a
hit still finds it in one lookup), and unequal to the plain key of a call
whose arguments differ only in a boolean and the number it equals. Only
such calls pay (a comparison in Python on their hits); calls without tuple
or frozenset arguments are not looked at.
"""

from __future__ import annotations

from typing import Any

from ._keys import _FALSE, _TRUE, _Marker, _Tagged

__all__ = ["Strict", "strict_key"]

#: Leaves no boolean equals: a tuple argument made of these (and of tuples of these) needs no Strict key.
_NOT_BOOLISH = frozenset({str, bytes, type(None), _Marker, _Tagged, type})
#: Deeper than this, a container is taken to hold booleans (a Strict key costs a hit, never an answer).
_DEPTH = 50


class Strict:
    """A key that equals the plain key of the same call, and no key with a boolean where it has a number.

    Hashed as the plain key (*plain*); compared by *plain* and by its copy
    with every boolean at any depth tagged (*tagged*).
    """

    __slots__ = ("plain", "tagged")

    def __init__(self, plain: Any) -> None:
        self.plain = plain
        self.tagged = tag_deep(plain)

    def __hash__(self) -> int:
        return hash(self.plain)

    def __eq__(self, other: object) -> bool:
        if type(other) is Strict:
            return bool(self.tagged == other.tagged)
        # The plain key first: for a key of another call that costs one comparison, as a plain key's would.
        return bool(self.plain == other) and _same_bools(self.plain, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __repr__(self) -> str:
        return f"Strict({self.plain!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Strict, (self.plain,))


def tag_deep(value: Any) -> Any:
    """*value* with every boolean in it, in tuples and frozensets at any depth, tagged (``_TRUE``/``_FALSE``)."""
    if value is True or value is False:
        return _TRUE if value else _FALSE
    if isinstance(value, tuple) and type(value) is not _Tagged:
        return tuple([tag_deep(item) for item in value])
    if isinstance(value, frozenset):
        return frozenset([tag_deep(item) for item in value])
    return value


def _same_bools(mine: Any, other: Any) -> bool:
    """Whether *other*, equal to *mine*, has its booleans where *mine* has (a hit runs this: plain tuples are
    walked side by side, building nothing)."""
    if type(mine) is tuple and type(other) is tuple:
        for a, b in zip(mine, other, strict=False):  # of one length: they are equal
            if a is b:
                continue
            if (a is True or a is False) is not (b is True or b is False):
                return False
            if isinstance(a, (tuple, frozenset)) and not _same_bools(a, b):
                return False
        return True
    if isinstance(mine, (tuple, frozenset)):
        return bool(tag_deep(mine) == tag_deep(other))  # a frozenset, a namedtuple: by their tagged copies
    return True


#: Arguments that are no tuple or frozenset, told by their exact type: isinstance() with a tuple of classes
#: costs a miss about 2,000 instructions on CPython 3.11 (it calls each class's __instancecheck__). A key
#: that is one of these (a method of one parameter) has no tuple argument to look into.
LEAVES = frozenset({int, str, float, bytes, type(None), bool})


def strict_key(key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """*key*, or its :class:`Strict` form when a tuple or frozenset among *args* and *kwargs* holds a boolean
    or a value that may equal one (at any depth)."""
    for value in args:
        if type(value) not in LEAVES and isinstance(value, (tuple, frozenset)) and _boolish(value, 0):
            return Strict(key)
    if kwargs:
        for value in kwargs.values():
            if type(value) not in LEAVES and isinstance(value, (tuple, frozenset)) and _boolish(value, 0):
                return Strict(key)
    return key


def _boolish(container: Any, depth: int) -> bool:
    """Whether *container* holds a boolean, or a value that may equal one (1, 0.0, an object of its own)."""
    if depth > _DEPTH:
        return True
    for item in container:
        cls = type(item)
        if cls in _NOT_BOOLISH:
            continue
        if cls is int or cls is float:
            if item == 0 or item == 1:
                return True
            continue
        if isinstance(item, (tuple, frozenset)):
            if _boolish(item, depth + 1):
                return True
            continue
        return True  # a boolean, or an object whose __eq__ we do not know
    return False
