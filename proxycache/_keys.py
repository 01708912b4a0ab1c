"""Turning call arguments into cache keys.

Two kinds of key exist. A *memory key* is any hashable value equal for equal
arguments; it never leaves the process. A *stable key* is a digest of a
canonical byte encoding of the memory key, identical across processes and
Python runs, so shared stores can use it (``hash()`` of a str is salted per
process and never used).

Hashable arguments are used as they are (like ``functools.lru_cache``), except
that ``True``/``False`` are never confused with ``1``/``0``. Unhashable
arguments are *frozen*: replaced by a hashable value built from their contents
and tagged with a private marker so that, say, ``[1]`` and ``(1,)`` never
produce the same key.
"""

from __future__ import annotations

import contextlib
import datetime
import math
import struct
import weakref
from abc import get_cache_token as _abc_token
from collections.abc import Callable, Mapping, Set
from typing import Any

__all__ = ["freeze", "stable_digest", "typed_bools", "UnkeyableError"]


class _Marker:
    """A private tag that user values can never equal."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"

    def __reduce__(self) -> str:
        # Markers are module singletons: pickling keeps identity.
        return f"_{self.name.upper()}"


_BOOL = _Marker("bool")
_LIST = _Marker("list")
_DICT = _Marker("dict")
_SET = _Marker("set")
_OBJ = _Marker("obj")
_KWARGS = _Marker("kwargs")
#: Stands for an argument that is its parameter's default object (in shared-store keys).
_DEFAULT = _Marker("default")


class _Tagged(tuple[Any, ...]):
    """A boolean argument's place in a key, ``(_BOOL, value)``: equal to that tuple, and hashed as it.

    Its own type tells a tagged boolean from the plain data beside it
    without looking inside: :func:`freeze` takes it as it is, and
    :func:`~proxycache._keys_again.freeze_again` does not hand it to
    marshal, which refuses a marker (after encoding all before it).
    """

    __slots__ = ()


#: The two tagged booleans (one object each: tagging builds no tuple).
_TRUE = _Tagged((_BOOL, True))
_FALSE = _Tagged((_BOOL, False))


class UnkeyableError(TypeError):
    """An argument can be neither hashed nor frozen into a key."""


def typed_bools(key: Any) -> Any:
    """Tag top-level booleans so ``f(True)`` and ``f(1)`` are separate entries."""
    if key is True or key is False:
        return _TRUE if key else _FALSE
    if type(key) is tuple:
        return tagged(key)
    return key


def freeze(value: Any, _depth: int = 0) -> Any:
    """Return a hashable stand-in for *value*, equal for equal contents.

    Raises :class:`UnkeyableError` for values that cannot be keyed by value.
    """
    if value is True or value is False:
        return _TRUE if value else _FALSE
    cls = type(value)
    if cls in _ATOMS:
        return value
    if _depth > 100:
        raise UnkeyableError("argument nests too deeply (or refers to itself)")
    # Atoms inside containers are taken as they are, without a call each
    # (bool is not an atom: it is tagged by the call); list comprehensions,
    # not generator expressions, which cost a generator object each. The
    # depth is passed positionally: a call with a keyword is not specialized.
    depth = _depth + 1
    if cls is tuple:
        return tuple([v if type(v) in _ATOMS else freeze(v, depth) for v in value])
    if cls is not dict:
        if cls is not list:  # a list is never in _ITSELF: one test, not the lookup
            itself = _ITSELF.get(id(cls))
            # A sentinel (httpx's USE_CLIENT_DEFAULT, openai's NOT_GIVEN): _freeze_object's last case, found
            # without its questions but the per-object ones, asked here, not in calls (a call costs a third).
            # __class__ may lie (a proxy answers its target's): then isinstance() does too, and cls tells nothing.
            if (
                itself is not None
                and itself[0]() is cls
                and itself[1] == _abc_token()
                and value.__class__ is cls
                and getattr(value, "model_dump", None) is None
            ):
                try:
                    hash(value)
                except TypeError:
                    pass  # unhashable after all: _freeze_object says why
                else:
                    return value
        if isinstance(value, list):
            return (_LIST, tuple([v if type(v) in _ATOMS else freeze(v, depth) for v in value]))
        if not isinstance(value, Mapping):  # the ABC check costs more than the rest of a small dict
            return _freeze_object(value, cls, depth)
    # A loop, not a comprehension: Python 3.11 makes a function object for each comprehension, which
    # costs a small dict (most are) more than its items do (3.12 inlines comprehensions: the same there).
    items = []
    for k, v in value.items():
        items.append((k if type(k) in _ATOMS else freeze(k, depth), v if type(v) in _ATOMS else freeze(v, depth)))
    return (_DICT, frozenset(items))


def _freeze_object(value: Any, cls: type, depth: int) -> Any:
    """:func:`freeze` for what is not an atom, a tuple, a list or a mapping."""
    if isinstance(value, (set, frozenset)) or (isinstance(value, Set) and not is_hashable(value)):
        return (_SET, cls is frozenset, frozenset(freeze(v, depth) for v in value))
    if isinstance(value, tuple):  # namedtuple and other tuple subclasses
        return (_OBJ, _type_id(cls), tuple(freeze(v, depth) for v in value))
    if hasattr(cls, _DATACLASS):
        if not is_hashable(value):
            fields = tuple((name, freeze(getattr(value, name), depth)) for name in _field_names(value))
            return (_OBJ, _type_id(cls), fields)
        return value
    if isinstance(getattr(cls, "__pydantic_fields__", None), dict) and not isinstance(value, type):
        # Pydantic models by every field: model_dump() leaves out excluded
        # fields and private attributes, and those may be what tells two
        # requests apart (a credential).
        state = (vars(value), value.__pydantic_extra__ or {}, value.__pydantic_private__ or {})
        return (_OBJ, _type_id(cls), tuple(freeze(part, depth) for part in state))
    dump = _model_dump(value)
    if dump is not None:  # a look-alike of a Pydantic model: keyed by its field values
        return (_OBJ, _type_id(cls), freeze(dump(), depth))
    if is_hashable(value):
        if value.__class__ is cls:
            if len(_ITSELF) >= 4096:
                _ITSELF.clear()  # the ids of classes long gone
            _ITSELF[id(cls)] = (weakref.ref(cls), _abc_token())
        return value
    raise UnkeyableError(f"{cls.__qualname__} objects are unhashable and cannot be keyed by value")


#: What freezes to itself, by exact type: hashable, and nothing can change that or give it a model_dump
#: (an ``object()`` sentinel, our markers).
_ATOMS = frozenset({int, float, complex, str, bytes, type(None), range, type(Ellipsis), object, _Marker, _Tagged})

#: Classes whose hashable instances freeze to themselves, by id: a weak reference (a class of the same
#: id later is another) and the ABC cache token (Set.register() and Mapping.register() change what
#: freeze asks). Its questions cost an AttributeError or an ABC check each: a sentinel default in a key
#: that did not hash took 14,700 instructions to freeze, and 4,100 once known.
_ITSELF: dict[int, tuple[weakref.ref[type], object]] = {}


def _model_dump(value: Any) -> Callable[[], Any] | None:
    """*value*'s ``model_dump`` when it is a look-alike of a Pydantic model (a class is not), else None."""
    dump = getattr(value, "model_dump", None)
    return dump if dump is not None and callable(dump) and not isinstance(value, type) else None


def is_hashable(value: Any) -> bool:
    """Whether ``hash(value)`` succeeds."""
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _type_id(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


# -- stable encoding ---------------------------------------------------------


def stable_digest(key: Any) -> str:
    """A hex digest of *key* that is the same in every process and Python run.

    Only values with a canonical encoding are accepted: None, bool, int, float,
    complex, str, bytes, tuples, frozensets, markers, ``Decimal``, dates and
    times (with their time zone offset), ``UUID``, paths, enums, dataclasses
    and Pydantic models by value, and classes by qualified name (Pydantic
    models and dataclasses also by their fields). Anything else (objects keyed by identity) raises
    :class:`UnkeyableError`, since its identity means nothing to another
    process.
    """
    import hashlib  # here, not at import: only shared stores need digests

    out = bytearray()
    _encode(key, out)
    return hashlib.blake2b(bytes(out), digest_size=20).hexdigest()


def _encode(value: Any, out: bytearray) -> None:
    cls = type(value)
    if value is None:
        out += b"N"
    elif value is True:
        out += b"T"
    elif value is False:
        out += b"F"
    elif cls is int:
        # Bytes, not str(): str() of an int past 4,300 digits raises ValueError.
        data = value.to_bytes((value.bit_length() + 8) // 8, "big", signed=True)
        out += b"i" + struct.pack(">I", len(data)) + data
    elif cls is float:
        # Every float takes eight bytes, NaN too (one NaN for all): a shorter NaN would let a float whose
        # bytes begin with "nan" and the value after it spell out NaN and another value.
        out += b"f" + struct.pack(">d", math.nan if value != value else value)
    elif cls is complex:
        out += b"c" + struct.pack(">dd", value.real, value.imag)
    elif cls is str:
        data = value.encode("utf-8", "surrogatepass")
        out += b"s" + struct.pack(">I", len(data)) + data
    elif cls is bytes:
        out += b"b" + struct.pack(">I", len(value)) + value
    elif cls is tuple or cls is _Tagged:  # a tagged boolean as the tuple it equals
        out += b"(" + struct.pack(">I", len(value))
        for item in value:
            _encode(item, out)
        out += b")"
    elif cls is frozenset:
        parts = []
        for item in value:
            buf = bytearray()
            _encode(item, buf)
            parts.append(bytes(buf))
        parts.sort()
        out += b"{" + struct.pack(">I", len(parts)) + b"".join(parts) + b"}"
    elif cls is _Marker:
        out += b"m"
        _encode(value.name, out)
    elif isinstance(value, type):
        out += b"t"
        _encode(_type_id(value), out)
        _encode(class_shape(value), out)
    elif cls in (encoders := _value_encoders()):
        tag, encode = encoders[cls]
        out += tag
        _encode(encode(value), out)
    else:
        import enum
        from pathlib import PurePath, PureWindowsPath

        if isinstance(value, enum.Enum):
            out += b"e"
            _encode(_type_id(cls), out)
            _encode(value.value, out)
        elif isinstance(value, (int, float, str, bytes)):
            # Subclasses of builtins (IntEnum handled above): by builtin value.
            base: type[Any] = next(b for b in (bool, int, float, str, bytes) if isinstance(value, b))
            _encode(base(value), out)
        elif hasattr(cls, _DATACLASS):
            out += b"d"
            _encode(_type_id(cls), out)
            _encode(tuple((name, getattr(value, name)) for name in _field_names(value)), out)
        elif isinstance(value, range):
            # A tag of its own, as every kind has: range(0, 5) is not the tuple ("range", 0, 5, 1).
            out += b"r"
            _encode((value.start, value.stop, value.step), out)
        elif isinstance(value, PurePath):
            out += b"p"
            _encode((isinstance(value, PureWindowsPath), str(value)), out)
        elif isinstance(value, tuple(encoders)):
            # Subclasses of the value types: by the base type's encoding.
            base = next(b for b in encoders if isinstance(value, b))
            out += encoders[base][0]
            _encode(encoders[base][1](value), out)
        elif callable(getattr(value, "get_secret_value", None)):
            # Pydantic's SecretStr/SecretBytes: by the secret (only its digest reaches the store).
            out += b"S"
            _encode((_type_id(cls), value.get_secret_value()), out)
        elif isinstance(getattr(cls, "__pydantic_fields__", None), dict):
            _encode(freeze(value), out)
        else:
            raise UnkeyableError(
                f"{cls.__qualname__} objects have no stable encoding (they are keyed by identity, "
                "which differs between processes)"
            )


def _when(value: datetime.date | datetime.time) -> tuple[str, int]:
    # isoformat() carries the UTC offset (aware and naive differ); fold tells
    # apart the two readings of an hour a clock goes through twice.
    return (value.isoformat(), getattr(value, "fold", 0))


_VALUE_ENCODERS: dict[type, tuple[bytes, Callable[[Any], Any]]] = {}


def _value_encoders() -> dict[type, tuple[bytes, Callable[[Any], Any]]]:
    """Value types keyed by value, built on first use: only shared stores need digests."""
    if not _VALUE_ENCODERS:
        import uuid
        from decimal import Decimal

        _VALUE_ENCODERS.update({
            Decimal: (b"D", str),  # str() of a Decimal is exact: digits, exponent, sign, NaN
            datetime.datetime: (b"W", _when),
            datetime.date: (b"A", _when),
            datetime.time: (b"O", _when),
            datetime.timedelta: (b"L", lambda v: (v.days, v.seconds, v.microseconds)),
            uuid.UUID: (b"u", lambda v: v.bytes),
        })
    return _VALUE_ENCODERS


_shapes: weakref.WeakKeyDictionary[type, str] = weakref.WeakKeyDictionary()


def class_shape(cls: type) -> str:
    """What a class passed as an argument is keyed by besides its name.

    For a Pydantic model, its JSON schema (fields, types, descriptions: what
    an LLM is shown); for a dataclass, its field names and types; else "".
    So changing a ``response_model`` misses instead of returning the old shape.
    """
    try:
        return _shapes[cls]
    except (KeyError, TypeError):
        pass
    shape = ""
    if isinstance(getattr(cls, "__pydantic_fields__", None), dict):
        try:
            import json

            shape = json.dumps(cls.model_json_schema(), sort_keys=True, default=repr)  # type: ignore[attr-defined]
        except Exception:
            # Types without a JSON schema: the fields and their annotations.
            fields = cls.__pydantic_fields__  # type: ignore[attr-defined]
            shape = repr(sorted((name, repr(f.annotation)) for name, f in fields.items()))
    elif hasattr(cls, _DATACLASS):
        import dataclasses  # loaded already: cls is a dataclass

        shape = repr([(f.name, f.type if isinstance(f.type, str) else repr(f.type)) for f in dataclasses.fields(cls)])
    with contextlib.suppress(TypeError):  # a class that cannot be weakly referenced is worked out each time
        _shapes[cls] = shape
    return shape


# -- parts of the keys the generated callables build ---------------------------


def tagged(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """*values* with its booleans tagged (:func:`typed_bools` of a tuple); *values* itself when it holds none."""
    # A loop that stops at the first boolean, not a generator expression: most calls have none (a
    # generator object and a resume per item cost a *args key more than the rest of a hit).
    for v in values:
        if v is True or v is False:
            return tuple([_TRUE if v is True else _FALSE if v is False else v for v in values])
    return values


def attr_values(values: tuple[Any, ...], typed: bool) -> tuple[Any, ...]:
    """``key_attrs`` values keyed as arguments are: booleans tagged, or with *typed*, each with its type."""
    if typed:
        return tuple((v, type(v)) for v in values)
    return tagged(values)


def kwkey(kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """The ``**kwargs`` part of a key: the (name, value) items in name order, a boolean's item tagged.

    A boolean value's item is ``(name, value, None)``: f(x=True) and f(x=1)
    differ (their items are of different lengths), and the key stays plain
    data, which :func:`~proxycache._keys_again.freeze_again` encodes whole.
    """
    # Sorting compares names only (they are unique), never values. A loop first: most calls hold no boolean.
    if not kwargs:
        return ()  # a call without keywords: sorted() and tuple() cost a few thousand instructions
    for v in kwargs.values():
        if v is True or v is False:
            items = []
            for name, value in kwargs.items():
                items.append((name, value, None) if value is True or value is False else (name, value))
            items.sort()
            return tuple(items)
    return tuple(sorted(kwargs.items()))


def types_of(values: Any) -> tuple[type, ...]:
    return tuple(map(type, values))


def kwtypes(kwargs: dict[str, Any]) -> tuple[type, ...]:
    # In name order, like kwkey: f(a=1, b=1.0) and f(b=1, a=1.0) differ.
    return tuple(type(kwargs[k]) for k in sorted(kwargs))


def generic_key(args: tuple[Any, ...], kwargs: dict[str, Any], typed: bool = False) -> Any:
    # The marker keeps f(x, y) apart from f(x, **kw) whose parts happen to look alike.
    key = (typed_bools(args), _KWARGS, kwkey(kwargs)) if kwargs else typed_bools(args)
    if typed:
        return (key, types_of(args), kwtypes(kwargs))
    return key


#: What ``dataclasses.is_dataclass`` looks for, read without importing dataclasses (a cost on import).
_DATACLASS = "__dataclass_fields__"


def _field_names(value: Any) -> tuple[str, ...]:
    """The names of a dataclass instance's fields, in order (``dataclasses.fields``)."""
    import dataclasses  # loaded already: value is a dataclass

    return tuple(f.name for f in dataclasses.fields(value))
