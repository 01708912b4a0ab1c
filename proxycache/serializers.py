"""Serializers: how results become bytes for the disk and Redis stores.

Pass one as ``serializer=`` (an object, or the names ``"pickle"``, ``"json"``,
``"pydantic"``); any object with ``dumps(value) -> bytes`` and
``loads(bytes) -> value`` works too. The default is :class:`PickleSerializer`.

Unpickling runs code chosen by whoever wrote the bytes. When other parties can
write to the store (a shared Redis), give :class:`PickleSerializer` a secret:
entries are then signed with HMAC-SHA256, and an entry whose signature does
not match is treated as a miss (logged, counted) and never unpickled.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import pickle
import sys
from typing import Any

from ._contract import Serializer

__all__ = [
    "JsonSerializer",
    "PickleSerializer",
    "PydanticSerializer",
    "SignatureError",
    "serializer_for",
]


class SignatureError(ValueError):
    """A signed entry is unsigned, truncated or signed with another secret."""


class PickleSerializer:
    """Pickle, optionally signed: ``PickleSerializer(secret=b"...")``.

    Handles any picklable result, including cached exceptions. With a
    *secret* (bytes or str), every entry carries an HMAC-SHA256 of its bytes,
    checked before anything is unpickled.
    """

    _MAGIC = b"pcs1"

    def __init__(self, secret: bytes | str | None = None, *, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        if isinstance(secret, str):
            secret = secret.encode()
        if secret is not None and (not isinstance(secret, bytes) or not secret):
            raise TypeError(f"secret must be non-empty bytes or str, or None for unsigned entries; not {secret!r}")
        self._secret = secret
        self.protocol = protocol

    def __repr__(self) -> str:
        return f"PickleSerializer(signed={self._secret is not None})"

    def _mac(self, payload: bytes) -> bytes:
        assert self._secret is not None
        return hmac.new(self._secret, payload, hashlib.sha256).digest()

    def dumps(self, value: Any) -> bytes:
        payload = pickle.dumps(value, protocol=self.protocol)
        if self._secret is None:
            return payload
        return self._MAGIC + self._mac(payload) + payload

    def loads(self, data: bytes) -> Any:
        if self._secret is not None:
            head = len(self._MAGIC) + hashlib.sha256().digest_size
            if data[: len(self._MAGIC)] != self._MAGIC or len(data) < head:
                raise SignatureError("entry is not signed (written without the secret, or truncated)")
            payload = data[head:]
            if not hmac.compare_digest(data[len(self._MAGIC) : head], self._mac(payload)):
                raise SignatureError("entry signature does not match (tampered, or signed with another secret)")
            data = payload
        return pickle.loads(data)


class JsonSerializer:
    """JSON: readable entries, only JSON types.

    Tuples come back as lists and dict keys as strings; a result JSON cannot
    represent is returned uncached with a warning.
    """

    def __repr__(self) -> str:
        return "JsonSerializer()"

    def dumps(self, value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=True).encode()

    def loads(self, data: bytes) -> Any:
        return json.loads(data)


class PydanticSerializer:
    """Pydantic models, and lists, tuples and dicts of them, restored as the same types.

    The model class travels in the entry (``module:QualName``), so results
    come back as models even when the method has no return annotation. A
    class is only looked up in modules already imported, never imported on
    the strength of what an entry says. Other JSON values pass through.
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
        return json.dumps(self._encode(value), separators=(",", ":"), ensure_ascii=False).encode()

    def loads(self, data: bytes) -> Any:
        return self._decode(json.loads(data))

    # Every value is a one-key object naming its kind, so nothing is guessed on the way back.
    def _encode(self, value: Any) -> Any:
        if value is None or isinstance(value, (bool, int, float, str)):
            return {"j": value}
        if isinstance(value, self._base):
            cls = type(value)
            return {"m": f"{cls.__module__}:{cls.__qualname__}", "v": value.model_dump(mode="json")}
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
            return self._model(node["m"]).model_validate(node["v"])
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
