"""Serializers: round trips, signatures, Pydantic types restored, and how options name them."""

from __future__ import annotations

import datetime
import enum
import pickle
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, SecretStr

from proxycache import CachedProxy, DiskStore, cache_of
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
    store = cache_of(proxy.add).cache_parameters()["store"]
    (name,) = store.keys()
    # What the serializer made, after the mark naming it (an entry of another serializer is a miss).
    assert store.get(name) == b"pcm1tests.stores.test_serializers:Codec\x00}3 :'mus'{"
    assert proxy.add(1, 2) == {"sum": 3}
    assert proxy.add.cache_info().hits == 1


def test_json_serializer_through_a_store(tmp_path: Path) -> None:
    class Api:
        def get(self, n: int) -> dict[str, Any]:
            return {"n": n, "items": [1, 2]}

    proxy = CachedProxy(Api(), store=DiskStore(tmp_path), key_attrs=(), serializer="json")
    proxy.get(1)
    store = cache_of(proxy.get).cache_parameters()["store"]
    (name,) = store.keys()
    assert store.get(name) == b'pcm1json\x00{"n":1,"items":[1,2]}'  # JSON after the mark naming it
    assert proxy.get(1) == {"n": 1, "items": [1, 2]}


# -- a serializer gives back what it was given, or stores nothing ----------------------


def same(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down (1 is not True, a tuple is not a list)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(v, b[k]) for k, v in a.items())
    if isinstance(a, float) and a != a:
        return bool(b != b)
    return bool(a == b)


class Color(enum.IntEnum):
    RED = 1
    BLUE = 2


scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
exact_json = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=20
)
# What people return, JSON or not: tuples, int keys, sets, bytes, enums.
anything = st.recursive(
    scalars | st.binary(max_size=8) | st.sampled_from([Color.RED, Color.BLUE]) | st.dates(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text() | st.integers(), inner, max_size=4)
        | st.frozensets(st.integers(), max_size=3)
    ),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None)
@given(exact_json)
def test_json_gives_back_every_value_it_claims(value: Any) -> None:
    s = JsonSerializer()
    assert same(s.loads(s.dumps(value)), value)


@settings(max_examples=100, deadline=None)
@given(anything)
def test_json_refuses_what_it_would_give_back_changed(value: Any) -> None:
    s = JsonSerializer()
    try:
        data = s.dumps(value)
    except (TypeError, ValueError):
        return
    assert same(s.loads(data), value)


@settings(max_examples=100, deadline=None)
@given(anything)
def test_pickle_gives_back_every_value_it_claims(value: Any) -> None:
    for s in (PickleSerializer(), PickleSerializer(secret=b"k")):
        assert same(s.loads(s.dumps(value, key="ns:" + "0" * 40), key="ns:" + "0" * 40), value)


def test_json_examples_of_the_issue() -> None:
    s = JsonSerializer()
    for lossy in [(1, 2), {1: "a"}, [("x", 1)], {"a": {2: 3}}, Color.RED, {"ok": [True, Color.BLUE]}]:
        with pytest.raises(TypeError, match="JSON gives"):
            s.dumps(lossy)
    with pytest.raises(TypeError, match="not JSON serializable"):
        s.dumps({1, 2})
    assert same(s.loads(s.dumps({"a": [1, 2.5, None, True]})), {"a": [1, 2.5, None, True]})


class Secretive(BaseModel):
    name: str
    token: SecretStr


class Excluding(BaseModel):
    name: str
    api_key: str = Field(default="", exclude=True)


class WithPrivate(BaseModel):
    name: str
    _seen: int = 0


class Loose(BaseModel):
    anything: Any


class Label(str, enum.Enum):
    A = "a"


class Aliased(BaseModel):
    user_id: int = Field(alias="userId")
    full_name: str = Field(alias="fullName", default="")


class Shapes(BaseModel):
    n: int
    x: float
    when: datetime.date
    tags: tuple[str, ...]
    scores: dict[str, int]
    address: Address | None = None


shapes = st.builds(
    Shapes,
    n=st.integers(),
    x=st.floats(allow_nan=False),
    when=st.dates(),
    tags=st.tuples(st.text()).map(tuple) | st.just(()),
    scores=st.dictionaries(st.text(), st.integers(), max_size=3),
    address=st.none() | st.builds(Address, city=st.text(), zip=st.none() | st.text()),
)
models = shapes | st.builds(lambda n: Aliased(userId=n, fullName=str(n)), st.integers())
model_results = st.recursive(
    models | exact_json,
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=60, deadline=None)
@given(model_results)
def test_pydantic_gives_back_every_value_it_claims(value: Any) -> None:
    s = PydanticSerializer()
    assert same(s.loads(s.dumps(value)), value)


@settings(max_examples=60, deadline=None)
@given(
    st.builds(Secretive, name=st.text(), token=st.text().map(SecretStr))
    | st.builds(Excluding, name=st.text(), api_key=st.text(min_size=1))
    | anything
)
def test_pydantic_refuses_what_it_would_give_back_changed(value: Any) -> None:
    s = PydanticSerializer()
    try:
        data = s.dumps(value)
    except (TypeError, ValueError):
        return
    assert same(s.loads(data), value)


def test_pydantic_examples_of_the_issue() -> None:
    s = PydanticSerializer()
    with pytest.raises(ValueError, match="field 'token'"):
        s.dumps(Secretive(name="a", token=SecretStr("hunter2")))  # would come back as '**********'
    with pytest.raises(ValueError, match="field 'api_key'"):
        s.dumps([Excluding(name="a", api_key="k")])  # would come back reset to ''
    with pytest.raises(ValueError, match="field 'anything'"):
        s.dumps(Loose(anything=Color.RED))  # an IntEnum in an Any field would come back as an int
    with pytest.raises(ValueError, match="its keys"):
        s.dumps({Label.A: 1})  # a str enum key would come back as a plain str
    private = WithPrivate(name="a")
    private._seen = 3
    with pytest.raises(ValueError, match="private attribute"):
        s.dumps(private)
    assert s.loads(s.dumps(Excluding(name="a"))) == Excluding(name="a")  # nothing lost: stored
    aliased = Aliased(userId=7, fullName="Ada")
    assert same(s.loads(s.dumps(aliased)), aliased)  # aliased models come back (and so hit)


def test_lossy_results_are_returned_uncached_and_counted(tmp_path: Path) -> None:
    class Api:
        def pair(self) -> tuple[int, int]:
            return (1, 2)

        def secret(self) -> Secretive:
            return Secretive(name="a", token=SecretStr("hunter2"))

        def user(self) -> Aliased:
            return Aliased(userId=7)

    store = DiskStore(tmp_path)
    as_json = CachedProxy(Api(), store=store, key_attrs=(), serializer="json")
    as_models = CachedProxy(Api(), store=store, key_attrs=(), serializer="pydantic")
    with pytest.warns(RuntimeWarning, match="returned uncached"):
        assert [as_json.pair(), as_json.pair()] == [(1, 2), (1, 2)]  # a tuple, never a list
    with pytest.warns(RuntimeWarning, match="returned uncached"):
        assert as_models.secret().token.get_secret_value() == "hunter2"
    assert as_models.secret().token.get_secret_value() == "hunter2"
    assert as_json.pair.cache_stats()["uncached"] == 2
    assert as_models.secret.cache_stats()["uncached"] == 2
    assert as_json.pair.cache_info().currsize == as_models.secret.cache_info().currsize == 0
    assert as_models.user() == as_models.user() == Aliased(userId=7)
    assert as_models.user.cache_info().hits == 1


def test_an_entry_written_for_another_model_schema_is_a_quiet_miss(tmp_path: Path) -> None:
    """The model class changed between the process that wrote and the one that reads."""
    module = types.ModuleType("schema_change_app")
    sys.modules[module.__name__] = module
    try:
        exec("from pydantic import BaseModel\nclass Reply(BaseModel):\n    text: str\n", module.__dict__)

        class Llm:
            calls = 0

            def ask(self, q: str) -> Any:
                Llm.calls += 1
                return module.Reply(text=q)

        def proxy() -> Any:
            return CachedProxy(Llm(), store=DiskStore(tmp_path), key_attrs=(), serializer="pydantic", namespace="llm")

        assert proxy().ask("hi") == module.Reply(text="hi")
        assert proxy().ask("hi") == module.Reply(text="hi")
        assert Llm.calls == 1
        # The next release adds a field.
        exec(
            "from pydantic import BaseModel\nclass Reply(BaseModel):\n    text: str\n    tokens: int = 0\n",
            module.__dict__,
        )
        reader = proxy()
        assert type(reader.ask("hi")) is module.Reply
        assert Llm.calls == 2  # a miss...
        assert reader.ask.cache_stats()["faults"] == 0  # ...not a fault
        assert type(proxy().ask("hi")) is module.Reply  # and then a hit
        assert Llm.calls == 2
    finally:
        del sys.modules[module.__name__]


def test_proxycache_secret_signs_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROXYCACHE_SECRET", "from the environment")
    assert PickleSerializer().signed
    assert serializer_for(None).signed  # type: ignore[attr-defined]
    client = Directory()
    proxy = CachedProxy(client, store=DiskStore(tmp_path), key_attrs=("base",))
    proxy.user("Bob")
    store = cache_of(proxy.user).cache_parameters()["store"]
    (name,) = store.keys()
    assert store.get(name).startswith(b"pcs2")
    store.set(name, pickle.dumps("forged"))  # a writer without the secret
    assert proxy.user("Bob").name == "Bob"
    assert client.calls == 2
    assert proxy.user.cache_stats()["faults"] == 1
    monkeypatch.delenv("PROXYCACHE_SECRET")
    assert not PickleSerializer().signed
