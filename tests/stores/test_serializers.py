"""Serializers: round trips, signatures, Pydantic types restored, and how options name them."""

from __future__ import annotations

import datetime
import pickle
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from proxycache import CachedProxy
from proxycache._method import state_of
from proxycache._stores import DiskStore
from proxycache.serializers import (
    JsonSerializer,
    OutdatedEntry,
    PickleSerializer,
    PydanticSerializer,
    SignatureError,
    serializer_for,
)


class Address(BaseModel):
    city: str
    zip: str | None = None


class User(BaseModel):
    name: str
    born: datetime.date
    address: Address
    tags: list[str] = []


class Outer:
    class Inner(BaseModel):
        n: int


ALICE = User(name="Alice", born=datetime.date(1990, 5, 17), address=Address(city="Oslo"), tags=["a"])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=50, deadline=None)
@given(json_values)
def test_json_round_trips_json_values(value: Any) -> None:
    assert JsonSerializer().loads(JsonSerializer().dumps(value)) == value


@settings(max_examples=50, deadline=None)
@given(json_values)
def test_pydantic_serializer_round_trips_plain_json_too(value: Any) -> None:
    s = PydanticSerializer()
    assert s.loads(s.dumps(value)) == value


@settings(max_examples=50, deadline=None)
@given(st.one_of(json_values, st.tuples(st.integers(), st.text()), st.sets(st.integers())))
def test_pickle_round_trips_signed_and_unsigned(value: Any) -> None:
    for s in (PickleSerializer(), PickleSerializer(secret=b"k")):
        assert s.loads(s.dumps(value)) == value


def test_pydantic_models_come_back_as_the_same_types() -> None:
    s = PydanticSerializer()
    values: list[Any] = [
        ALICE,
        [ALICE, ALICE.address],
        (ALICE, 3),
        {"owner": ALICE, "n": None, "nested": {"addresses": [Address(city="Lima", zip="15001")]}},
        Outer.Inner(n=3),
        [],
    ]
    for value in values:
        back = s.loads(s.dumps(value))
        assert back == value
        assert type(back) is type(value)
    back = s.loads(s.dumps({"owner": ALICE}))
    assert type(back["owner"]) is User
    assert type(back["owner"].address) is Address
    assert back["owner"].born == datetime.date(1990, 5, 17)


def test_pydantic_serializer_refuses_what_it_cannot_restore() -> None:
    s = PydanticSerializer()
    with pytest.raises(TypeError, match="str keys"):
        s.dumps({1: ALICE})
    with pytest.raises(TypeError, match="set"):
        s.dumps({1, 2})
    # A class this process has not imported is never imported because an entry names it.
    forged = b'{"m":"os:system","v":"echo hi"}'
    with pytest.raises(ValueError, match="not importable"):
        s.loads(forged)


def test_signature_checks() -> None:
    signed = PickleSerializer(secret="one")
    data = signed.dumps({"a": 1})
    assert data.startswith(b"pcs2")
    assert signed.loads(data) == {"a": 1}
    # The signature covers the store key: the same bytes under another key do not check out.
    bound = signed.dumps({"a": 1}, key="ns:" + "0" * 40)
    assert signed.loads(bound, key="ns:" + "0" * 40) == {"a": 1}
    for elsewhere in (None, "ns:" + "1" * 40, "other:" + "0" * 40):
        with pytest.raises(SignatureError, match="copied from another key"):
            signed.loads(bound, key=elsewhere)
    # Entries signed before keys were signed too are outdated: a quiet miss, never read.
    with pytest.raises(OutdatedEntry):
        signed.loads(b"pcs1" + data[4:])
    with pytest.raises(SignatureError, match="does not match"):
        PickleSerializer(secret="two").loads(data)
    with pytest.raises(SignatureError, match="does not match"):
        signed.loads(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(SignatureError, match="not signed"):
        signed.loads(pickle.dumps({"a": 1}))
    with pytest.raises(SignatureError, match="not signed"):
        signed.loads(data[:10])
    # An unsigned reader takes signed bytes as a (broken) pickle: it fails, never succeeds silently.
    with pytest.raises(pickle.UnpicklingError):
        PickleSerializer().loads(data)


def test_bad_secret_and_names() -> None:
    with pytest.raises(TypeError, match="secret must be"):
        PickleSerializer(secret=b"")
    with pytest.raises(TypeError, match="secret must be"):
        PickleSerializer(secret=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown serializer 'yaml'"):
        serializer_for("yaml")
    with pytest.raises(TypeError, match="dumps"):
        serializer_for(object())
    assert isinstance(serializer_for(None), PickleSerializer)
    assert isinstance(serializer_for("json"), JsonSerializer)


class Directory:
    """Returns models, without return annotations."""

    base = "https://directory"

    def __init__(self) -> None:
        self.calls = 0

    def user(self, name):  # type: ignore[no-untyped-def]
        self.calls += 1
        return ALICE.model_copy(update={"name": name})

    def users(self, names):  # type: ignore[no-untyped-def]
        self.calls += 1
        return {n: ALICE.model_copy(update={"name": n}) for n in names}


@pytest.mark.parametrize("serializer", ["pickle", "pydantic", PickleSerializer(secret="k")])
def test_models_through_a_store(tmp_path: Path, serializer: Any) -> None:
    first = Directory()
    proxy = CachedProxy(first, store=DiskStore(tmp_path), key_attrs=("base",), serializer=serializer)
    assert proxy.user("Bob").name == "Bob"
    assert proxy.users(["x", "y"])["y"].name == "y"
    # Another instance reads them from disk, as models.
    second = Directory()
    again = CachedProxy(second, store=DiskStore(tmp_path), key_attrs=("base",), serializer=serializer)
    bob = again.user("Bob")
    users = again.users(["x", "y"])
    assert second.calls == 0
    assert type(bob) is User
    assert bob == ALICE.model_copy(update={"name": "Bob"})
    assert {k: type(v) for k, v in users.items()} == {"x": User, "y": User}


class Codec:
    """A custom pair: anything with dumps and loads."""

    def dumps(self, value: Any) -> bytes:
        return repr(value).encode()[::-1]

    def loads(self, data: bytes) -> Any:
        import ast

        return ast.literal_eval(data[::-1].decode())


def test_custom_serializer_object(tmp_path: Path) -> None:
    class Calc:
        def add(self, a: int, b: int) -> dict[str, int]:
            return {"sum": a + b}

    proxy = CachedProxy(Calc(), store=DiskStore(tmp_path), key_attrs=(), serializer=Codec())
    assert proxy.add(1, 2) == {"sum": 3}
    store = state_of(proxy.add).options.store  # type: ignore[union-attr]
    (name,) = store.keys()
    assert store.get(name) == b"}3 :'mus'{"
    assert proxy.add(1, 2) == {"sum": 3}
    assert proxy.add.cache_info().hits == 1


def test_json_serializer_through_a_store(tmp_path: Path) -> None:
    class Api:
        def get(self, n: int) -> dict[str, Any]:
            return {"n": n, "items": [1, 2]}

    proxy = CachedProxy(Api(), store=DiskStore(tmp_path), key_attrs=(), serializer="json")
    proxy.get(1)
    store = state_of(proxy.get).options.store  # type: ignore[union-attr]
    (name,) = store.keys()
    assert store.get(name) == b'{"n":1,"items":[1,2]}'
    assert proxy.get(1) == {"n": 1, "items": [1, 2]}
