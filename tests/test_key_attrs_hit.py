"""The ``key_attrs`` hit: read inline, one flat key, the same answers as before.

Whatever the values and arguments (among them arguments shaped like another
call's key), the answers are those of a key ``(arguments, values)``: the
properties below check it against that model.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxycache import CachedProxy, DiskStore, cache_methods, cached_method

from .test_async import ENTRY_POINTS, entry_points, make
from .test_free_threading import run_threads


class Client:
    def __init__(self, user: str, org: str = "o") -> None:
        self.user = user
        self.org = org
        self.calls = 0

    def get(self, x: Any) -> str:
        self.calls += 1
        return f"{self.user}:{x!r}"

    def pair(self, a: Any, b: Any) -> str:
        self.calls += 1
        return f"{self.user}/{self.org}:{a!r},{b!r}"


def test_true_and_one_are_separate_entries_with_key_attrs() -> None:
    p = CachedProxy(Client("u"), key_attrs=["user"])
    assert p.get(1) == "u:1"
    assert p.get(True) == "u:True"
    assert p.get(1) == "u:1"
    assert p.pair(1, True) == "u/o:1,True"
    assert p.pair(1, 1) == "u/o:1,1"
    assert p.calls == 4


class Flagged:
    def __init__(self) -> None:
        self.debug: Any = 1
        self.calls = 0

    def get(self, x: Any) -> Any:
        self.calls += 1
        return (x, self.debug)


@entry_points
@pytest.mark.parametrize("arg", [5, [5]], ids=["hashable", "list"])
def test_a_boolean_value_is_not_one(kind: str, arg: Any) -> None:
    # The values are keyed as arguments are: True and 1 are equal and hash alike, but never share.
    obj = make(kind, Flagged, key_attrs=["debug"])
    for value in (1, True, 1.0, 0, False, 1, True, False):
        obj.debug = value
        assert obj.get(arg) == (arg, value)
        assert type(obj.get(arg)[1]) is (bool if type(value) is bool else int)
    assert obj.calls == 4  # 1 (and 1.0, equal to it), True, 0, False
    assert obj.get.cache_info().currsize == 4


@entry_points
def test_typed_keys_the_values_types_too(kind: str) -> None:
    obj = make(kind, Flagged, key_attrs=["debug"], typed=True)
    for value in (1, 1.0, True, 1, 1.0, True):
        obj.debug = value
        assert obj.get(5) == (5, value)
        assert type(obj.get(5)[1]) is type(value)
    assert obj.calls == 3


@pytest.mark.parametrize("name", ["class", "cfg.debug"], ids=["keyword", "dotted"])
def test_a_boolean_value_read_by_name_or_path_is_not_one(name: str) -> None:
    # A keyword is read by the reader (not inline); a dotted path inline, through the object it names.
    class Cfg:
        debug: Any = 1

    obj = Flagged()
    obj.cfg = Cfg()  # type: ignore[attr-defined]
    setattr(obj, "class", 1)
    c = cache_methods(obj, "get", key_attrs=[name])
    for value in (1, True, 1, True):
        setattr(obj, "class", value)
        obj.cfg.debug = value  # type: ignore[attr-defined]
        c.get(5)
    assert obj.calls == 2


def test_a_boolean_value_is_not_one_in_a_store(tmp_path: Any) -> None:
    # One instance whose attribute changes (its keys' names are kept in process), and a second one
    # on the same store: the entry of debug=1 is never the answer for debug=True.
    store = DiskStore(tmp_path / "cache")
    one, other = Flagged(), Flagged()
    a = CachedProxy(one, key_attrs=["debug"], store=store)
    for value in (1, True, 1, True):
        one.debug = value
        assert a.get(5) == (5, value)
    assert one.calls == 2
    other.debug = True
    b = CachedProxy(other, key_attrs=["debug"], store=store)
    assert b.get(5) == (5, True)
    assert other.calls == 0  # stored by the first instance under debug=True
    store.close()


@pytest.mark.parametrize("attrs", [["user"], ["user", "org"], ["org", "user"]])
def test_attribute_changes_make_new_entries(attrs: list[str]) -> None:
    c = cache_methods(Client("a"), "get", "pair", key_attrs=attrs)
    assert c.get(1) == c.get(x=1) == "a:1"
    assert c.pair(1, 2) == c.pair(1, b=2)
    assert c.calls == 2
    c.user = "b"
    assert c.get(1) == "b:1"
    assert c.pair(1, 2) == "b/o:1,2"
    assert c.calls == 4
    c.org = "p"
    assert c.pair(1, 2) == ("b/p:1,2" if "org" in attrs else "b/o:1,2")
    assert c.calls == 4 + ("org" in attrs)
    c.get(1)
    assert c.get.cache_invalidate(1) is True
    assert c.get.cache_invalidate(1) is False


def test_a_missing_attribute_is_named() -> None:
    p = CachedProxy(Client("u"), key_attrs=["user", "tenant"])
    with pytest.raises(AttributeError, match="key_attrs= names 'tenant'"):
        p.get(1)
    p.tenant = "t"
    assert p.get(1) == "u:1"


def test_an_attribute_named_like_a_keyword() -> None:
    c = Client("u")
    setattr(c, "class", "k")
    cache_methods(c, "get", key_attrs=["class"])
    assert c.get(1) == c.get(1)
    assert c.calls == 1
    setattr(c, "class", "l")
    c.get(1)
    assert c.calls == 2


def test_an_unkeyable_attribute_is_named() -> None:
    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

    class D:
        def __init__(self) -> None:
            self.user = Unhashable()

        @cached_method(key_attrs=["user"])
        def get(self, x: int) -> int:
            return x

    with pytest.raises(TypeError, match=r"key attribute 'user'.*key_attrs"):
        D().get(1)


def test_a_custom_key_with_key_attrs() -> None:
    c = cache_methods(Client("u"), "get", key=lambda x: x % 2, key_attrs=["user"])
    assert c.get(1) == c.get(3) == "u:1"
    c.user = "v"
    assert c.get(3) == "v:3"
    assert c.calls == 2


# -- answers while the values change -------------------------------------------------------------


class Account:
    """A result that names its user and argument: an entry served for the wrong one shows."""

    def __init__(self) -> None:
        self.user: Any = "alice"
        self.calls = 0

    def get(self, x: Any) -> Any:
        self.calls += 1
        return (x, self.user)


#: key_attrs values: plain ones, equal ones of other types
#: (1, 1.0, True), a tuple, an unhashable list (frozen) and a value built anew each time it is set.
VALUES: list[Any] = ["alice", "bob", 1, 1.0, True, None, (1, "bob"), b"alice", ["alice"], "fresh"]
#: Arguments, among them tuples shaped like another call's (argument, value) pair.
ARGS: list[Any] = [1, "x", True, None, (1, "bob"), (1, "alice"), ((1,), "bob"), ("x", "alice", "bob"), [1]]


def _model_key(x: Any, user: Any, typed: bool = False) -> Any:
    """The key of the model: the argument's and the value's, each keyed alike.

    Lists are keyed by their items; booleans are tagged, or with *typed*, every part has its type.
    """

    def keyed(v: Any) -> Any:
        if type(v) is list:
            v = ("list", tuple(v))
        elif typed:
            return (v, type(v))
        return ("bool", v) if v is True or v is False else v

    return (keyed(x), keyed(user))


def _value(drawn: Any) -> Any:
    # "fresh" stands for "alice" as a str made at run time: equal to "alice", not the same object.
    return "".join(["al", "ice"]) if drawn == "fresh" else drawn


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(ENTRY_POINTS),
    initial=st.sampled_from(VALUES),
    typed=st.booleans(),
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("set"), st.sampled_from(VALUES)),
            st.tuples(st.just("call"), st.sampled_from(ARGS)),
            st.tuples(st.just("invalidate"), st.sampled_from(ARGS)),
        ),
        max_size=30,
    ),
)
def test_answers_are_those_of_a_key_of_arguments_and_values(
    kind: str, initial: Any, typed: bool, steps: list[Any]
) -> None:
    class Started:
        def __init__(self) -> None:
            self.user = _value(initial)  # held at the method's first access
            self.calls = 0

        def get(self, x: Any) -> Any:
            self.calls += 1
            return (x, self.user)

    obj = make(kind, Started, key_attrs=["user"], maxsize=None, typed=typed)
    model: dict[Any, Any] = {}
    computed = 0
    for op, arg in steps:
        if op == "set":
            obj.user = _value(arg)
        elif op == "call":
            key = _model_key(arg, obj.user, typed)
            if key not in model:
                model[key] = (arg, obj.user)
                computed += 1
            assert obj.get(arg) == model[key]
            assert obj.calls == computed
        else:
            assert obj.get.cache_invalidate(arg) is (model.pop(_model_key(arg, obj.user, typed), None) is not None)
    assert obj.get.cache_info().currsize == len(model)


@entry_points
def test_an_argument_shaped_like_another_values_key_has_an_entry_of_its_own(kind: str) -> None:
    obj = make(kind, Account, key_attrs=["user"])
    assert obj.get((1, "bob")) == ((1, "bob"), "alice")
    obj.user = "bob"
    assert obj.get(1) == (1, "bob")  # not the entry of the argument (1, "bob") under "alice"
    obj.user = "alice"
    assert obj.get((1, "bob")) == ((1, "bob"), "alice")
    assert obj.calls == 2


@entry_points
def test_equal_values_share_entries(kind: str) -> None:
    obj = make(kind, Account, key_attrs=["user"])
    assert obj.get(1) == (1, "alice")
    obj.user = "".join(["al", "ice"])  # equal, another object
    assert obj.get(1) == (1, "alice")
    obj.user = 2
    assert obj.get(1) == (1, 2)
    obj.user = 2.0
    assert obj.get(1) == (1, 2)  # 2.0 == 2, as in a dict key
    assert obj.calls == 2


def test_a_property_is_read_once_a_call_and_never_at_first_access() -> None:
    class Counted:
        reads = 0

        @property
        def user(self) -> str:
            type(self).reads += 1
            return "p"

        def get(self, x: int) -> int:
            return x

    p = CachedProxy(Counted(), key_attrs=["user"])
    get = p.get  # the first access reads no property
    assert Counted.reads == 0
    assert get(1) == get(1) == 1
    assert Counted.reads == 2  # once a call
    assert get.cache_info().hits == 1


def test_a_store_keys_every_call_by_arguments_and_values(tmp_path: Any) -> None:
    """Entries in a store are shared: one instance's entry serves another whose value is the same."""
    store = DiskStore(str(tmp_path))
    first = CachedProxy(Client("alice"), store=store, key_attrs=["user"], serializer="json")
    assert first.get(1) == "alice:1"
    other = Client("bob")
    second = CachedProxy(other, store=store, key_attrs=["user"], serializer="json")
    assert second.get(1) == "bob:1"  # not "alice"'s entry
    other.user = "alice"
    assert second.get(1) == "alice:1"  # "alice"'s entry, written by the first
    assert (first.calls, other.calls) == (1, 1)


@entry_points
def test_a_coroutine_method_keys_by_arguments_and_values(kind: str) -> None:
    import asyncio

    class AsyncAccount:
        def __init__(self) -> None:
            self.user: Any = "alice"
            self.calls = 0

        async def get(self, x: Any) -> Any:
            self.calls += 1
            await asyncio.sleep(0)
            return (x, self.user)

    async def main() -> None:
        obj = make(kind, AsyncAccount, key_attrs=["user"])
        assert await obj.get((1, "bob")) == ((1, "bob"), "alice")
        assert await obj.get((1, "bob")) == ((1, "bob"), "alice")
        obj.user = "bob"
        assert await obj.get(1) == (1, "bob")
        assert await obj.get(1) == (1, "bob")
        obj.user = "".join(["al", "ice"])
        assert await obj.get((1, "bob")) == ((1, "bob"), "alice")
        obj.user = ["alice"]  # unhashable: frozen
        assert await obj.get(1) == (1, ["alice"])
        assert await obj.get(1) == (1, ["alice"])
        assert obj.calls == 3
        assert obj.get.cache_info()[:2] == (4, 3)

    asyncio.run(main())


# -- the index of keys (a method in memory finds its stored key, see proxycache/_storage_index.py) -----


def _index_of(method: Any) -> Any:
    storage = method.__proxycache__.storage
    return getattr(storage, "inner", storage)  # under ttl, the policy's storage keeps it


@pytest.mark.parametrize("policy", ["lru", "lfu", "fifo", "rr"])
@pytest.mark.parametrize("ttl", [None, 60])
def test_the_index_holds_the_stored_keys_and_no_others(policy: str, ttl: Any) -> None:
    c = cache_methods(Account(), "get", key_attrs=["user"], maxsize=4, policy=policy, ttl=ttl)
    for i in range(500):  # a miss-heavy run: almost every put evicts
        c.user = f"u{i % 7}"
        assert c.get(i % 11) == (i % 11, c.user)
        storage = _index_of(c.get)
        held = list(storage.data)
        assert all(storage.index[k[1]][k[0]] is k for k in held)
        assert sum(map(len, storage.index.values())) == len(held)  # an evicted argument is not kept alive
    c.user = "u1"
    c.get(1)
    assert c.get.cache_invalidate(1) is True
    assert 1 not in _index_of(c.get).index.get("u1", {})
    c.get.cache_clear()
    assert _index_of(c.get).index == {}
    assert c.get(1) == (1, "u1")


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(ENTRY_POINTS),
    policy=st.sampled_from(["lru", "lfu", "fifo", "rr"]),
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("set"), st.sampled_from(VALUES)),
            st.tuples(st.just("call"), st.sampled_from(ARGS)),
            st.tuples(st.just("invalidate"), st.sampled_from(ARGS)),
            st.tuples(st.just("clear"), st.none()),
        ),
        max_size=60,
    ),
)
def test_answers_under_eviction_are_those_of_the_current_values(kind: str, policy: str, steps: list[Any]) -> None:
    obj = make(kind, Account, key_attrs=["user"], maxsize=2, policy=policy)
    for op, arg in steps:
        if op == "set":
            obj.user = _value(arg)
        elif op == "call":
            assert obj.get(arg) == (arg, obj.user)
            assert obj.get(arg) == (arg, obj.user)
        elif op == "invalidate":
            obj.get.cache_invalidate(arg)
            calls = obj.calls
            obj.get(arg)
            assert obj.calls == calls + 1  # invalidated: computed again
        else:
            obj.get.cache_clear()
    info = obj.get.cache_info()
    assert info.currsize <= 2


def test_threads_changing_the_values_under_eviction_get_right_answers() -> None:
    class Shared:
        user = "a"

        def get(self, x: int) -> int:
            return x * 10

    obj = cache_methods(Shared(), "get", key_attrs=["user"], maxsize=8)

    def work(n: int) -> None:
        for i in range(3000):
            if i % 50 == n:
                obj.user = f"u{i % 13}"  # a value shared by all threads: keys and index churn
            x = (i * 7 + n) % 29
            assert obj.get(x) == x * 10

    run_threads(work, 4)
    storage = _index_of(obj.get)
    assert all(storage.index[k[1]][k[0]] is k for k in list(storage.data))


class Failing:
    def __init__(self) -> None:
        self.user = "alice"

    def get(self, x: Any) -> Any:
        if x == "boom" or x == ["boom"]:
            raise KeyError(x)  # the kind of error the index lookup raises
        return x


@entry_points
@pytest.mark.parametrize("arg", ["boom", ["boom"]], ids=["hashable", "list"])
def test_a_miss_raises_the_methods_error_without_a_trace_of_the_lookup(kind: str, arg: Any) -> None:
    obj = make(kind, Failing, key_attrs=["user"])
    obj.get(1)  # the value has entries: the index knows it
    for user in ("alice", "bob", True):
        obj.user = user
        with pytest.raises(KeyError) as caught:
            obj.get("boom" if type(arg) is str else arg)
        assert caught.value.__context__ is None
        assert caught.value.__cause__ is None
