"""Serializers: how results become bytes for the disk and Redis stores.

Pass one as ``serializer=`` (an object, or the names ``"pickle"``, ``"json"``,
``"pydantic"``); any object with ``dumps(value) -> bytes`` and
``loads(bytes) -> value`` works too. The default is :class:`PickleSerializer`.

Unpickling runs code chosen by whoever wrote the bytes. When other parties can
write to the store (a shared Redis), give :class:`PickleSerializer` a secret
(or set the ``PROXYCACHE_SECRET`` environment variable): entries are then
signed with HMAC-SHA256 over their store key and bytes (and, with a ``ttl``,
their expiry), and an entry whose signature does not match (forged,
tampered, or copied from another key) is treated as a miss (logged,
counted) and never unpickled.

A serializer gives back what it was given, or stores nothing: the JSON and
Pydantic serializers refuse (at ``dumps``) a value they would hand back
changed, and the result is returned uncached.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import pickle
import sys
import weakref
from typing import Any, ClassVar

from ._contract import Serializer
from ._recording import Recording

__all__ = [
    "JsonSerializer",
    "OutdatedEntry",
    "PickleSerializer",
    "PydanticSerializer",
    "SignatureError",
    "serializer_for",
]

#: The environment variable that signs pickled entries when no secret is passed.
SECRET_ENV = "PROXYCACHE_SECRET"

class SignatureError(ValueError):
    """A signed entry is unsigned, truncated, signed with another secret or for another key."""


class OutdatedEntry(ValueError):
    """An entry written in an older format or for another shape of its data.

    Raised by ``loads`` (a Pydantic entry written for a model class whose
    fields have changed since, an entry signed by an older proxycache): the
    cached method treats it as a plain miss, recomputes and overwrites it,
    and counts no fault. Custom serializers may raise it too.
    """


class PickleSerializer:
    """Pickle, optionally signed: ``PickleSerializer(secret=b"...")``.

    Handles any picklable result, including cached exceptions. With a
    *secret* (bytes or str; by default the ``PROXYCACHE_SECRET`` environment
    variable when it is set), every entry carries an HMAC-SHA256 of its store
    key and its bytes, checked before anything is unpickled: an entry copied
    to another key, namespace or version does not check out.
    """

    #: ``dumps`` and ``loads`` take the entry's store key as ``key=`` and sign it with the bytes.
    binds_key: ClassVar[bool] = True
    _MAGIC = b"pcs2"
    _OLD_MAGIC = b"pcs1"  # signed over the bytes only, before keys were signed too

    def __init__(self, secret: bytes | str | None = None, *, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        if secret is None:
            secret = os.environ.get(SECRET_ENV) or None
        if isinstance(secret, str):
            secret = secret.encode()
        if secret is not None and (not isinstance(secret, bytes) or not secret):
            raise TypeError(f"secret must be non-empty bytes or str, or None for unsigned entries; not {secret!r}")
        self._secret = secret
        self.protocol = protocol

    def __repr__(self) -> str:
        return f"PickleSerializer(signed={self._secret is not None})"

    @property
    def signed(self) -> bool:
        """True when entries are signed (a secret was given or found in ``PROXYCACHE_SECRET``)."""
        return self._secret is not None

    def _mac(self, key: str | None, payload: bytes) -> bytes:
        assert self._secret is not None
        name = (key or "").encode("utf-8", "surrogatepass")
        mac = hmac.new(self._secret, self._MAGIC, hashlib.sha256)
        # The key's length first, so no key/payload split can be read two ways.
        mac.update(len(name).to_bytes(4, "big"))
        mac.update(name)
        mac.update(payload)
        return mac.digest()

    def dumps(self, value: Any, *, key: str | None = None) -> bytes:
        """Pickle *value*; signed for the store key *key* when there is a secret."""
        payload = pickle.dumps(value, protocol=self.protocol)
        if self._secret is None:
            return payload
        return self._MAGIC + self._mac(key, payload) + payload

    def loads(self, data: bytes, *, key: str | None = None) -> Any:
        """Unpickle *data*; with a secret, only once its signature for *key* checks out."""
        if self._secret is not None:
            magic = data[: len(self._MAGIC)]
            head = len(self._MAGIC) + hashlib.sha256().digest_size
            if magic == self._OLD_MAGIC:
                raise OutdatedEntry("entry signed by an older proxycache (without its key); not read")
            if magic != self._MAGIC or len(data) < head:
                raise SignatureError("entry is not signed (written without the secret, or truncated)")
            payload = data[head:]
            if not hmac.compare_digest(data[len(self._MAGIC) : head], self._mac(key, payload)):
                raise SignatureError(
                    "entry signature does not match (tampered, copied from another key, "
                    "or signed with another secret)"
                )
            data = payload
        return pickle.loads(data)


class JsonSerializer:
    """JSON: readable entries, exactly the JSON types.

    Stores ``None``, ``bool``, ``int``, ``float``, ``str``, and lists and
    str-keyed dicts of them (exact types, no subclasses). Anything JSON would
    give back changed (a tuple as a list, an int dict key as a string, an
    enum as its value) is refused: the result is returned uncached with a
    warning.
    """

    def __repr__(self) -> str:
        return "JsonSerializer()"

    def dumps(self, value: Any) -> bytes:
        data = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=True).encode()
        _check_json(value)  # after dumps, which has refused cycles
        return data

    def loads(self, data: bytes) -> Any:
        return json.loads(data)


_JSON_SCALARS = (str, int, float, bool, type(None))


def _check_json(value: Any) -> None:
    """TypeError unless json.loads gives back *value* with the same types."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            for name, inner in item.items():
                if type(name) is not str:
                    raise TypeError(
                        f"JSON gives dict key {name!r} ({type(name).__qualname__}) back as a string; "
                        "use str keys, or another serializer (pickle keeps them)"
                    )
                stack.append(inner)
        elif kind is list:
            stack.extend(item)
        elif kind not in _JSON_SCALARS:
            back = "a list" if isinstance(item, (tuple, list)) else "another type"
            raise TypeError(
                f"JSON gives a {kind.__qualname__} back as {back}; return plain JSON types, "
                "or use another serializer (pickle keeps them)"
            )


class PydanticSerializer:
    """Pydantic models, and lists, tuples and dicts of them, restored as the same types.

    The model class travels in the entry (``module:QualName``), so results
    come back as models even when the method has no return annotation. A
    class is only looked up in modules already imported, never imported on
    the strength of what an entry says. An entry written for another version
    of the class (its JSON schema changed) is a miss. Other JSON values pass
    through. A model that would not come back equal (a ``SecretStr``, which
    dumps masked; a ``Field(exclude=True)`` or private attribute, which is
    not dumped) is refused, and the result is returned uncached.
    """

    def __init__(self) -> None:
        try:
            import pydantic
        except ImportError:
            raise ImportError(
                "the pydantic serializer needs pydantic: pip install 'proxycache[pydantic]'"
            ) from None
        self._base: type[Any] = pydantic.BaseModel

    def __repr__(self) -> str:
        return "PydanticSerializer()"

    def dumps(self, value: Any) -> bytes:
        data = json.dumps(self._encode(value), separators=(",", ":"), ensure_ascii=False).encode()
        where = _difference(value, self.loads(data), "the result")
        if where is not None:
            raise ValueError(f"{where} would not come back as it was from JSON; stored nothing")
        return data

    def loads(self, data: bytes) -> Any:
        return self._decode(json.loads(data))

    # Every value is a one-key object naming its kind, so nothing is guessed on the way back.
    def _encode(self, value: Any) -> Any:
        if value is None or isinstance(value, (bool, int, float, str)):
            return {"j": value}
        if isinstance(value, self._base):
            cls = type(value)
            return {
                "m": f"{cls.__module__}:{cls.__qualname__}",
                "s": _schema_of(cls),
                "v": value.model_dump(mode="json", by_alias=True, round_trip=True),
            }
        if type(value) is Recording:  # streams="replay": the recorded items
            return {"r": [self._encode(v) for v in value.items], "a": value.is_async}
        if isinstance(value, list):
            return {"l": [self._encode(v) for v in value]}
        if isinstance(value, tuple):
            return {"t": [self._encode(v) for v in value]}
        if isinstance(value, dict):
            if not all(isinstance(k, str) for k in value):
                raise TypeError("the pydantic serializer stores dicts with str keys only")
            return {"d": {k: self._encode(v) for k, v in value.items()}}
        raise TypeError(
            f"the pydantic serializer stores models, JSON values, and lists, tuples and dicts of them; "
            f"not {type(value).__qualname__}"
        )

    def _decode(self, node: Any) -> Any:
        if "j" in node:
            return node["j"]
        if "m" in node:
            cls = self._model(node["m"])
            if node.get("s") != _schema_of(cls):
                raise OutdatedEntry(f"entry written for another version of model class {node['m']}")
            return cls.model_validate(node["v"])
        if "r" in node:
            return Recording([self._decode(v) for v in node["r"]], node.get("a") is True)
        if "l" in node:
            return [self._decode(v) for v in node["l"]]
        if "t" in node:
            return tuple(self._decode(v) for v in node["t"])
        if "d" in node:
            return {k: self._decode(v) for k, v in node["d"].items()}
        raise ValueError(f"not a pydantic serializer entry: {sorted(node)}")

    def _model(self, name: str) -> Any:
        module_name, _, qualname = name.partition(":")
        obj: Any = sys.modules.get(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part, None)
        if not (isinstance(obj, type) and issubclass(obj, self._base)):
            raise ValueError(f"model class {name} is not importable here (is its module imported?)")
        return obj


_schemas: weakref.WeakKeyDictionary[type, str] = weakref.WeakKeyDictionary()


def _schema_of(cls: Any) -> str:
    """A short digest of a model class's JSON schema: the shape its entries were written for."""
    try:
        return _schemas[cls]
    except KeyError:
        pass
    try:
        text = json.dumps(cls.model_json_schema(), sort_keys=True, default=repr)
    except Exception:
        # Types without a JSON schema: the fields and their annotations still say the shape.
        text = repr(sorted((name, repr(field.annotation)) for name, field in cls.model_fields.items()))
    digest = hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
    _schemas[cls] = digest
    return digest


def _difference(given: Any, back: Any, where: str) -> str | None:
    """Where *back* differs from *given* (type or value), or None when it is the same."""
    if type(given) is not type(back):
        return f"{where} (a {type(given).__qualname__}, given back as a {type(back).__qualname__})"
    if type(given) is Recording:
        if given.is_async != back.is_async:
            return where
        given, back = given.items, back.items
    if type(given) in (list, tuple):
        if len(given) != len(back):
            return where
        for i, (a, b) in enumerate(zip(given, back, strict=True)):
            found = _difference(a, b, f"{where}[{i}]")
            if found is not None:
                return found
        return None
    if type(given) is dict:
        if list(given) != list(back) or [type(k) for k in given] != [type(k) for k in back]:
            return f"{where} (its keys)"
        for name, a in given.items():
            found = _difference(a, back[name], f"{where}[{name!r}]")
            if found is not None:
                return found
        return None
    fields = getattr(type(given), "model_fields", None)
    if isinstance(fields, dict):  # a Pydantic model: field by field, then what == sees besides fields
        for name in fields:
            found = _difference(getattr(given, name, None), getattr(back, name, None), f"{where}.{name}")
            if found is not None:
                return f"{found} (field {name!r} of {type(given).__qualname__})"
        if given != back:
            return f"{where} (a private attribute or extra field of {type(given).__qualname__})"
        return None
    if given == back or (given != given and back != back):  # NaN is itself
        return None
    return where


def serializer_for(spec: Any) -> Serializer:
    """The serializer an option value names: None (pickle), a name, or an object."""
    if spec is None or spec == "pickle":
        return PickleSerializer()
    if spec == "json":
        return JsonSerializer()
    if spec == "pydantic":
        return PydanticSerializer()
    if isinstance(spec, str):
        raise ValueError(f"unknown serializer {spec!r}; choose 'pickle', 'json' or 'pydantic', or pass an object")
    if not (callable(getattr(spec, "dumps", None)) and callable(getattr(spec, "loads", None))):
        raise TypeError(f"serializer must be a name or an object with dumps() and loads(), not {spec!r}")
    return spec  # type: ignore[no-any-return]
