"""Cache keys: normalized against the signature, unhashable arguments keyed by value.

The property tests drive cached methods with random arguments and compare every
result with what a reference model of the key rules predicts: equal arguments
share one entry, and values the rules keep apart never return each other's
results.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import math
import os
import struct
import subprocess
import sys
import uuid
from collections import Counter, namedtuple
from collections.abc import Mapping
from decimal import Decimal
from pathlib import PurePath, PurePosixPath, PureWindowsPath
from typing import Any

import pytest
import wrapt
from hypothesis import given, settings
from hypothesis import strategies as st

from proxycache import CachedProxy, cache_methods
from proxycache._keys import (
    _BOOL,
    _FALSE,
    _LIST,
    _TRUE,
    UnkeyableError,
    freeze,
    stable_digest,
    tagged,
    typed_bools,
)

_UNSET = object()


class Shapes:
    """Methods of every signature shape; each returns its arguments and counts calls."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def f(self, a: Any, b: Any = 2) -> Any:
        self.calls["f"] += 1
        return (a, b)

    def posonly(self, a: Any, /, b: Any = 2) -> Any:
        self.calls["posonly"] += 1
        return (a, b)

    def kwonly(self, a: Any, *, flag: Any = False) -> Any:
        self.calls["kwonly"] += 1
        return (a, flag)

    def star(self, *args: Any) -> Any:
        self.calls["star"] += 1
        return args

    def kw(self, **kw: Any) -> Any:
        self.calls["kw"] += 1
        return kw

    def many(self, a: Any, b: Any = 0, *args: Any, c: Any = None, **kw: Any) -> Any:
        self.calls["many"] += 1
        return (a, b, args, c, kw)

    def mutable_default(self, a: Any, opts: Any = []) -> Any:  # noqa: B006 - the point of the test
        self.calls["mutable_default"] += 1
        return (a, list(opts))

    def sentinel(self, a: Any, token: Any = _UNSET) -> Any:
        self.calls["sentinel"] += 1
        return (a, token is _UNSET)

    def describe(self, x: Any) -> tuple[str, str]:
        self.calls["describe"] += 1
        return (type(x).__name__, repr(x))

    def describe_many(self, a: Any, b: Any = 0, *args: Any, c: Any = None, **kw: Any) -> str:
        self.calls["describe_many"] += 1
        return repr((a, b, args, c, sorted(kw.items())))

    def _pc_shadow(self, _pc_x: Any) -> Any:
        # A parameter name the generated code reserves: the generic (*args, **kwargs) form is used.
        self.calls["_pc_shadow"] += 1
        return (type(_pc_x).__name__, _pc_x)


@pytest.fixture
def shapes() -> Shapes:
    return Shapes()


def entries(proxy: Any, name: str) -> int:
    return int(getattr(proxy, name).cache_info().currsize)


# -- normalization against the signature ----------------------------------------


def test_positional_keyword_and_default_are_one_entry(shapes: Shapes) -> None:
    proxy = CachedProxy(shapes)
    results = {proxy.f(1), proxy.f(a=1), proxy.f(1, 2), proxy.f(1, b=2), proxy.f(a=1, b=2), proxy.f(b=2, a=1)}
    assert results == {(1, 2)}
    assert shapes.calls["f"] == 1
    assert proxy.f.cache_info()[:2] == (5, 1)
    assert proxy.f(1, 3) == (1, 3)
    assert entries(proxy, "f") == 2


def test_positional_only(shapes: Shapes) -> None:
    proxy = CachedProxy(shapes)
    assert proxy.posonly(1) == proxy.posonly(1, 2) == proxy.posonly(1, b=2) == (1, 2)
    assert shapes.calls["posonly"] == 1
    with pytest.raises(TypeError, match="positional-only"):
        proxy.posonly(a=1)


def test_keyword_only(shapes: Shapes) -> None:
    proxy = CachedProxy(shapes)
    assert proxy.kwonly(1) == proxy.kwonly(1, flag=False) == proxy.kwonly(a=1, flag=False) == (1, False)
    assert proxy.kwonly(1, flag=True) == (1, True)
    assert shapes.calls["kwonly"] == 2
    with pytest.raises(TypeError):
        proxy.kwonly(1, True)


def test_var_positional(shapes: Shapes) -> None:
    proxy = CachedProxy(shapes)
    assert proxy.star() == ()
    assert proxy.star(1, 2) == (1, 2)
    assert proxy.star(1, 2) == (1, 2)
    assert proxy.star(2, 1) == (2, 1)
    assert proxy.star(1) == (1,)
    assert proxy.star((1, 2)) == ((1, 2),)  # one tuple argument is not two arguments
    assert shapes.calls["star"] == 5


def test_var_keyword_in_any_order(shapes: Shapes) -> None:
    proxy = CachedProxy(shapes)
    assert proxy.kw(x=1, y=2) == {"x": 1, "y": 2}
    assert proxy.kw(y=2, x=1) == {"x": 1, "y": 2}
    assert proxy.kw(x=1) == {"x": 1}
    assert proxy.kw() == {}
    assert shapes.calls["kw"] == 3


def test_everything_together(shapes: Shapes) -> None:
    proxy = CachedProxy(shapes)
    assert proxy.many(1) == (1, 0, (), None, {})
    proxy.many(1, 0)
    proxy.many(a=1, b=0, c=None)
    assert shapes.calls["many"] == 1
    assert proxy.many(1, 0, 5, c=2, z=3) == (1, 0, (5,), 2, {"z": 3})
    proxy.many(1, 0, 5, z=3, c=2)
    assert shapes.calls["many"] == 2
    assert proxy.many(1, 0, 5, z=3) == (1, 0, (5,), None, {"z": 3})
    assert shapes.calls["many"] == 3


def test_a_mutable_default_is_keyed_by_value(shapes: Shapes) -> None:
    proxy = CachedProxy(shapes)
    assert proxy.mutable_default(1) == (1, [])
    assert proxy.mutable_default(1, []) == (1, [])
    assert proxy.mutable_default(1, opts=[]) == (1, [])
    assert proxy.mutable_default(1, [0]) == (1, [0])
    assert shapes.calls["mutable_default"] == 2


def test_a_sentinel_default_is_its_own_value(shapes: Shapes) -> None:
    proxy = CachedProxy(shapes)
    assert proxy.sentinel(1) == (1, True)
    assert proxy.sentinel(1, _UNSET) == (1, True)
    assert proxy.sentinel(1, None) == (1, False)
    assert proxy.sentinel(1, object()) == (1, False)
    assert shapes.calls["sentinel"] == 3


# -- unhashable arguments, keyed by value ----------------------------------------


@dataclasses.dataclass
class Query:
    text: str
    tags: list[str]


@dataclasses.dataclass
class Other:
    text: str
    tags: list[str]


@dataclasses.dataclass(frozen=True)
class Frozen:
    text: str


Point = namedtuple("Point", "x y")


def test_dicts_in_any_insertion_order(shapes: Shapes) -> None:
    proxy = CachedProxy(shapes)
    proxy.describe({"a": 1, "b": [1, 2]})
    assert proxy.describe({"b": [1, 2], "a": 1}) == ("dict", "{'a': 1, 'b': [1, 2]}")
    proxy.describe({"a": 1, "b": [2, 1]})
    proxy.describe({"a": 1})
    assert shapes.calls["describe"] == 3


@pytest.mark.parametrize(
    ("first", "equal", "different"),
    [
        ([1, 2], [1, 2], [2, 1]),
        ({1, 2}, {2, 1}, {1, 3}),
        ([{"a": {1, 2}}, (3, [4])], [{"a": {2, 1}}, (3, [4])], [{"a": {1, 2}}, (3, [5])]),
        ({"k": [1, {"n": (1, [2])}]}, {"k": [1, {"n": (1, [2])}]}, {"k": [1, {"n": (1, [3])}]}),
        (Query("q", ["a"]), Query("q", ["a"]), Query("q", ["b"])),
        (Point([1], 2), Point([1], 2), Point([1], 3)),
        (Point(1, 2), Point(1, 2), Point(2, 1)),
        (Frozen("a"), Frozen("a"), Frozen("b")),
        ((1, [2]), (1, [2]), (1, [2], 3)),
    ],
    ids=["list", "set", "nested", "deep-dict", "dataclass", "namedtuple-unhashable", "namedtuple", "frozen", "tuple"],
)
def test_unhashable_arguments_are_keyed_by_value(shapes: Shapes, first: Any, equal: Any, different: Any) -> None:
    proxy = CachedProxy(shapes)
    assert proxy.describe(first) == shapes.describe(first)
    assert proxy.describe(equal) == shapes.describe(first)
    assert proxy.describe(different) == shapes.describe(different)
    assert proxy.describe.cache_info()[:2] == (1, 2)
    assert proxy.describe.cache_invalidate(equal)
    assert not proxy.describe.cache_invalidate(first)


def test_dataclasses_of_different_types_with_equal_fields_are_distinct(shapes: Shapes) -> None:
    proxy = CachedProxy(shapes)
    assert proxy.describe(Query("q", ["a"]))[0] == "Query"
    assert proxy.describe(Other("q", ["a"]))[0] == "Other"


def test_containers_of_equal_contents_but_different_types_are_distinct(shapes: Shapes) -> None:
    proxy = CachedProxy(shapes)
    values = [[1], (1,), {1}, frozenset({1}), {1: None}, [[1]], [(1,)], ((1,),), [{1}]]
    results = [proxy.describe(v) for v in values]
    assert results == [shapes.describe(v) for v in values]
    assert proxy.describe.cache_info().misses == len(values)


def test_pydantic_models_are_keyed_by_field_values(shapes: Shapes) -> None:
    pydantic = pytest.importorskip("pydantic")

    class Item(pydantic.BaseModel):  # type: ignore[misc, name-defined]
        name: str
        tags: list[str] = pydantic.Field(default_factory=list)

    proxy = CachedProxy(shapes)
    assert proxy.describe(Item(name="a", tags=["x"]))[0] == "Item"
    proxy.describe(Item(name="a", tags=["x"]))
    proxy.describe(Item(name="a", tags=["y"]))
    assert shapes.calls["describe"] == 2
    assert proxy.describe.cache_invalidate(Item(name="a", tags=["y"]))


# -- arguments that cannot be keyed ----------------------------------------------


class NoHash:
    """Unhashable (``__eq__`` without ``__hash__``), not a container, not a dataclass."""

    def __init__(self, n: int = 0) -> None:
        self.n = n

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NoHash) and other.n == self.n


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "param"),
    [
        ("describe", (NoHash(),), {}, "x"),
        ("describe", ([1, {"a": NoHash()}],), {}, "x"),
        ("f", (1,), {"b": NoHash()}, "b"),
        ("f", (NoHash(), [1]), {}, "a"),
        ("kwonly", (1,), {"flag": NoHash()}, "flag"),
    ],
)
@pytest.mark.parametrize("typed", [False, True])  # typed keys interleave values and types
def test_an_unkeyable_argument_names_the_parameter_and_the_way_out(
    shapes: Shapes, method: str, args: tuple[Any, ...], kwargs: dict[str, Any], param: str, typed: bool
) -> None:
    proxy = CachedProxy(shapes, typed=typed)
    with pytest.raises(TypeError) as info:
        getattr(proxy, method)(*args, **kwargs)
    message = str(info.value)
    assert f"Shapes.{method}()" in message
    assert repr(param) in message or repr("*" + param) in message or repr("**" + param) in message
    assert f"ignore=[{param!r}]" in message
    assert "key=" in message
    assert "NoHash" in message
    assert shapes.calls[method] == 0  # nothing ran
    # The advice works: with the parameter ignored, the call caches.
    fixed = CachedProxy(shapes, ignore=[param], typed=typed)
    getattr(fixed, method)(*args, **kwargs)
    getattr(fixed, method)(*args, **kwargs)
    assert shapes.calls[method] == 1


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "named"),
    [("star", (1, NoHash()), {}, "args[1]"), ("kw", (), {"q": NoHash(), "page": 1}, "kw['q']")],
)
@pytest.mark.parametrize("typed", [False, True])
def test_an_unkeyable_value_in_star_args_or_kwargs_is_named_and_sent_to_key(
    shapes: Shapes, method: str, args: tuple[Any, ...], kwargs: dict[str, Any], named: str, typed: bool
) -> None:
    # Leaving all of *args or **kwargs out of the key would make calls that differ anywhere else share
    # one entry (boto3's Table.query(**kwargs): every query answered with the first one's result).
    proxy = CachedProxy(shapes, typed=typed)
    with pytest.raises(TypeError) as info:
        getattr(proxy, method)(*args, **kwargs)
    message = str(info.value)
    assert f"Shapes.{method}(): argument {named!r} cannot be used in a cache key (NoHash" in message
    assert "ignore=[" not in message
    assert "Pass key= a function" in message
    assert shapes.calls[method] == 0


def test_the_generic_key_names_the_keyword_at_fault() -> None:
    class Remote:
        """Methods without a signature (made up per name) get the generic (*args, **kwargs) key."""

        def __getattr__(self, name: str) -> Any:
            if name.startswith("_"):
                raise AttributeError(name)
            return Dynamic()

    class Dynamic:
        __signature__ = "made up"

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return args

    proxy = CachedProxy(Remote(), include=["query"])
    with pytest.raises(TypeError, match=r"argument \"kwargs\['where'\]\" cannot .*\. Pass key= a function"):
        proxy.query(1, where=NoHash())
    with pytest.raises(TypeError, match=r"argument 'args\[1\]' cannot .*\. Pass key= a function"):
        proxy.query(1, NoHash(), limit=2)


def test_unkeyable_error_is_a_type_error_for_invalidate_too(shapes: Shapes) -> None:
    proxy = CachedProxy(shapes)
    with pytest.raises(TypeError, match="argument 'a'"):
        proxy.f.cache_invalidate(NoHash())


def test_key_function_is_the_other_way_out(shapes: Shapes) -> None:
    proxy = CachedProxy(shapes, key=lambda x: ("n", x.n))
    a = proxy.describe(NoHash(1))
    assert proxy.describe(NoHash(1)) is a
    proxy.describe(NoHash(2))
    assert shapes.calls["describe"] == 2


# -- typed, booleans ---------------------------------------------------------------


def test_default_one_and_one_point_zero_share_an_entry(shapes: Shapes) -> None:
    proxy = CachedProxy(shapes)
    assert proxy.describe(1) == ("int", "1")
    assert proxy.describe(1.0) == ("int", "1")  # as functools.lru_cache(typed=False)
    assert shapes.calls["describe"] == 1


def test_typed_keeps_one_and_one_point_zero_apart(shapes: Shapes) -> None:
    # Results are compared by repr: 1 == 1.0 == True, so == could not see a mix-up.
    proxy = CachedProxy(shapes, typed=True)
    assert proxy.describe(1) == ("int", "1")
    assert proxy.describe(1.0) == ("float", "1.0")
    assert repr(proxy.f(1, b=2)) == "(1, 2)"
    assert repr(proxy.f(1, b=2.0)) == "(1, 2.0)"
    assert repr(proxy.kw(a=1, b=1.0)) == "{'a': 1, 'b': 1.0}"
    assert repr(proxy.kw(b=1, a=1.0)) == "{'b': 1, 'a': 1.0}"  # types follow the names, not the order
    assert repr(proxy.star(1, 2.0)) == "(1, 2.0)"
    assert repr(proxy.star(1.0, 2)) == "(1.0, 2)"


@pytest.mark.parametrize("typed", [False, True])
def test_booleans_never_share_with_ints(shapes: Shapes, typed: bool) -> None:
    proxy = CachedProxy(shapes, typed=typed)
    for a, b in [(True, 1), (False, 0), (1, True), (0, False), (True, 1.0)]:
        assert proxy.describe(a) == shapes.describe(a)
        assert proxy.describe(b) == shapes.describe(b)
        assert proxy.describe(x=b) == shapes.describe(b)
        proxy.describe.cache_clear()
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
        ("f", (True, 1), {}),
        ("f", (1, True), {}),
        ("f", (1, 1), {}),
        ("f", (), {"a": True, "b": True}),
        ("f", (), {"a": 1, "b": 1}),
        ("kwonly", (1,), {"flag": 1}),
        ("kwonly", (1,), {"flag": True}),
        ("star", (True, 0), {}),
        ("star", (1, False), {}),
        ("star", (1, 0), {}),
        ("kw", (), {"x": True}),
        ("kw", (), {"x": 1}),
        ("kw", (), {"x": 0, "y": False}),
        ("kw", (), {"x": False, "y": 0}),
        ("describe", ([True],), {}),
        ("describe", ([1],), {}),
        ("describe", ({"k": 0},), {}),
        ("describe", ({"k": False},), {}),
        ("describe", ({True: "v"},), {}),
        ("describe", ({1: "v"},), {}),
        ("describe", ({1, 2},), {}),
        ("describe", ({True, 2},), {}),
    ]
    for name, args, kwargs in calls:
        # Compared by repr: True == 1, so == could not see a mix-up.
        assert repr(getattr(proxy, name)(*args, **kwargs)) == repr(getattr(shapes, name)(*args, **kwargs))


_BOOLS_INSIDE = [
    ((True,), (1,)),
    (("x", False), ("x", 0)),
    (("x", (True, "y")), ("x", (1.0, "y"))),
    (frozenset({True}), frozenset({1})),
    ((frozenset({False}), 2), (frozenset({0}), 2)),
    (Point(True, 2), Point(1, 2)),
]


@pytest.mark.parametrize("typed", [False, True])
@pytest.mark.parametrize(("with_bool", "with_number"), _BOOLS_INSIDE)
def test_booleans_inside_hashable_tuples_and_frozensets(
    shapes: Shapes, typed: bool, with_bool: Any, with_number: Any
) -> None:
    """A tuple or frozenset holding a boolean (at any depth) is keyed apart from the one holding the equal number,
    either first, by position, keyword, in *args and **kwargs; and each is still a hit the second time."""
    assert with_bool == with_number
    for first, then in [(with_bool, with_number), (with_number, with_bool)]:
        proxy = CachedProxy(Shapes(), typed=typed)
        calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
            ("describe", (first,), {}),
            ("describe", (then,), {}),
            ("describe", (), {"x": then}),
            ("f", (first, 1), {}),
            ("f", (then, 1), {}),
            ("star", (first, then), {}),
            ("star", (then, first), {}),
            ("kw", (), {"a": first}),
            ("kw", (), {"a": then}),
            ("describe_many", (1, 2, then), {"c": first}),
            ("describe_many", (1, 2, first), {"c": then}),
        ]
        for _ in range(2):
            for name, args, kwargs in calls:
                # Compared by repr: True == 1, so == could not see a mix-up.
                assert repr(getattr(proxy, name)(*args, **kwargs)) == repr(getattr(shapes, name)(*args, **kwargs))
        assert sum(getattr(proxy, name).cache_info().misses for name in ("describe", "f", "star", "kw")) == 8
        assert proxy.describe.cache_info().hits == 4
        assert proxy.describe.cache_invalidate(then)
        assert repr(proxy.describe(first)) == repr(shapes.describe(first))  # the other entry stays
        assert proxy.describe.cache_info().hits == 5


def test_signatureless_methods_use_the_generic_key(shapes: Shapes) -> None:
    typed = CachedProxy(shapes, typed=True, include=["_pc_shadow"])
    plain = CachedProxy(shapes, include=["_pc_shadow"])
    assert plain._pc_shadow(1) == ("int", 1)
    assert plain._pc_shadow(1.0) == ("int", 1)
    assert plain._pc_shadow(True) == ("bool", True)
    assert plain._pc_shadow(_pc_x=True) == ("bool", True)
    assert plain._pc_shadow(_pc_x=1) == ("int", 1)
    assert typed._pc_shadow(1) == ("int", 1)
    assert typed._pc_shadow(1.0) == ("float", 1.0)
    assert typed._pc_shadow(_pc_x=1.0) == ("float", 1.0)
    assert typed._pc_shadow(_pc_x=1) == ("int", 1)


# -- ignore, key_attrs, key ------------------------------------------------------------


def test_ignore_leaves_parameters_out_of_the_key(shapes: Shapes) -> None:
    proxy = CachedProxy(shapes, ignore=["b"], include=["f"])
    assert proxy.f(1, 2) == (1, 2)
    assert proxy.f(1, 3) == (1, 2)  # b does not count
    assert proxy.f(1, b=[4]) == (1, 2)  # nor does an unhashable b
    assert proxy.f(2, 3) == (2, 3)
    assert shapes.calls["f"] == 2
    assert proxy.f.cache_invalidate(1, "anything")


def test_ignore_a_keyword_only_and_a_var_keyword_parameter(shapes: Shapes) -> None:
    proxy = CachedProxy(shapes, ignore=["kw", "c"], include=["many"])
    proxy.many(1, 2, 3, c=1, x=1)
    proxy.many(1, 2, 3, c=2, y=[2])
    assert shapes.calls["many"] == 1
    proxy.many(1, 2, 4)
    assert shapes.calls["many"] == 2


def test_key_attrs_join_the_key(shapes: Shapes) -> None:
    shapes.region = "eu"  # type: ignore[attr-defined]
    proxy = CachedProxy(shapes, key_attrs=["region"])
    proxy.f(1)
    proxy.f(1)
    assert shapes.calls["f"] == 1
    proxy.region = "us"  # through the proxy: reaches the object
    assert shapes.region == "us"  # type: ignore[attr-defined]
    proxy.f(1)
    assert shapes.calls["f"] == 2
    shapes.region = "eu"  # type: ignore[attr-defined]  # directly on the object
    proxy.f(1)
    assert shapes.calls["f"] == 2  # the "eu" entry is still there
    assert entries(proxy, "f") == 2
    assert proxy.f.cache_invalidate(1)  # for the current region
    proxy.f(1)
    assert shapes.calls["f"] == 3


def test_key_attrs_with_unhashable_values(shapes: Shapes) -> None:
    shapes.scopes = ["read"]  # type: ignore[attr-defined]
    proxy = CachedProxy(shapes, key_attrs=["scopes"])
    proxy.describe(1)
    proxy.describe(1)
    shapes.scopes.append("write")  # type: ignore[attr-defined]
    proxy.describe(1)
    assert shapes.calls["describe"] == 2


def test_custom_key_function(shapes: Shapes) -> None:
    # The key function receives the call's arguments normalized: defaults filled in.
    seen: list[tuple[Any, Any]] = []

    def key(a: Any, b: Any) -> Any:
        seen.append((a, b))
        return a % 10

    proxy = CachedProxy(shapes, key=key, include=["f"])
    assert proxy.f(1) == (1, 2)
    assert proxy.f(11, b=5) == (1, 2)
    assert proxy.f(a=2) == (2, 2)
    assert seen == [(1, 2), (11, 5), (2, 2)]
    assert shapes.calls["f"] == 2
    assert proxy.f.cache_invalidate(21)


def test_custom_key_may_return_an_unhashable_value(shapes: Shapes) -> None:
    proxy = CachedProxy(shapes, key=lambda a, b: [a, {"b": b}], include=["f"])
    proxy.f(1)
    proxy.f(1, 2)
    assert shapes.calls["f"] == 1
    assert proxy.f.cache_invalidate(1)


# -- property tests --------------------------------------------------------------------

# Few leaves, so that look-alike values meet often within one sequence of calls.
_NUMBERS_ETC = [0, 1, 1.0, 0.0, "1", b"1", "", None]
_BOOLS = [True, False]
scalars_nobool = st.sampled_from(_NUMBERS_ETC)
scalars = st.sampled_from(_BOOLS + _NUMBERS_ETC)


def _hashables(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # A named function, not a lambda: hypothesis reads extend's source to check that it recurses, and
    # misreads a lambda's that ends a line of a call (a deprecation warning, which it will make an error).
    def extend(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.lists(inner, max_size=3).map(tuple) | st.frozensets(inner, max_size=3)

    return st.recursive(leaves, extend, max_leaves=6)


def nested(leaves: st.SearchStrategy[Any], items: st.SearchStrategy[Any], keys: st.SearchStrategy[Any]) -> Any:
    """Lists, tuples, sets and frozensets (of *items*) and dicts (by *keys*), nested, of *leaves*."""
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.lists(inner, max_size=3).map(tuple)
            | st.sets(items, max_size=3)
            | st.frozensets(items, max_size=3)
            | st.dictionaries(keys, inner, max_size=3)
        ),
        max_leaves=8,
    )


hashables = _hashables(scalars)
hashables_nobool = _hashables(scalars_nobool)
values = nested(scalars, hashables, hashables)


def _is_hashable(x: Any) -> bool:
    try:
        hash(x)
    except TypeError:
        return False
    return True


def _by_value(x: Any) -> Any:
    """The reference rule inside unhashable arguments: contents and container types; bools tagged."""
    if x is True or x is False:
        return ("bool", x)
    if isinstance(x, list):
        return ("list", tuple(map(_by_value, x)))
    if isinstance(x, tuple):
        return ("tuple", tuple(map(_by_value, x)))
    if isinstance(x, dict):
        return ("dict", frozenset((_by_value(k), _by_value(v)) for k, v in x.items()))
    if isinstance(x, (set, frozenset)):
        return (type(x).__name__, frozenset(map(_by_value, x)))
    return x  # numbers (1 == 1.0), str, bytes, None


def model_key(x: Any, typed: bool = False) -> Any:
    """What the contract says an argument's key is (independent of the implementation).

    Bools never share with ints, at the top level or inside tuples and
    frozensets; hashable arguments are otherwise keyed as themselves
    (functools' rule, so 1 == 1.0 and (1,) == (1.0,)); unhashable ones by
    value. ``typed`` adds the argument's own type.
    """
    if x is True or x is False:
        key: Any = ("bool", x)
    elif _is_hashable(x):
        key = ("as-is", _bools_apart(x))
    else:
        key = ("by-value", _by_value(x))
    return (type(x), key) if typed else key


_A_BOOL = object()


def _bools_apart(x: Any) -> Any:
    """*x* with the bools inside its tuples and frozensets made unequal to numbers."""
    if x is True or x is False:
        return (_A_BOOL, x)
    if type(x) is tuple:
        return tuple(_bools_apart(v) for v in x)
    if type(x) is frozenset:
        return frozenset(_bools_apart(v) for v in x)
    return x


def rebuilt(x: Any) -> Any:
    """An equal copy built anew: dicts in reversed insertion order, fresh containers."""
    if isinstance(x, list):
        return [rebuilt(v) for v in x]
    if isinstance(x, tuple):
        return tuple(rebuilt(v) for v in x)
    if isinstance(x, dict):
        return {rebuilt(k): rebuilt(v) for k, v in reversed(list(x.items()))}
    if isinstance(x, (set, frozenset)):
        return type(x)(rebuilt(v) for v in reversed(list(x)))
    return x


@pytest.mark.parametrize("typed", [False, True])
@settings(max_examples=120, deadline=None)
@given(calls=st.lists(values, max_size=25))
def test_no_wrong_result_for_any_mix_of_values(typed: bool, calls: list[Any]) -> None:
    shapes = Shapes()
    proxy = CachedProxy(shapes, maxsize=None, typed=typed)
    expected: dict[Any, Any] = {}
    for x in calls:
        want = expected.setdefault(model_key(x, typed), shapes.describe(x))
        assert proxy.describe(x) == want, x
    # One entry per key the model tells apart: equal arguments were never split.
    assert proxy.describe.cache_info().misses == len(expected)


@settings(max_examples=100, deadline=None)
@given(x=values)
def test_equal_arguments_give_equal_keys(x: Any) -> None:
    shapes = Shapes()
    proxy = CachedProxy(shapes)
    first = proxy.describe(x)
    assert proxy.describe(rebuilt(x)) == first == shapes.describe(x)
    assert proxy.describe.cache_info()[:2] == (1, 1)
    assert proxy.describe.cache_invalidate(rebuilt(x))


# Hashable tuple/frozenset arguments are keyed as themselves, so in calls with
# several parameters they carry no bools (whether one other argument is
# unhashable must not matter to the model).
small = st.sampled_from([True, False, 0, 1, 1.0])
param_values = (
    small
    | _hashables(st.sampled_from([0, 1, 1.0]))
    | st.lists(small | st.lists(small, max_size=2).map(tuple), max_size=2)
    | st.sets(small, max_size=2)
    | st.dictionaries(small, small, max_size=2)
)
names = st.sampled_from(["x", "y"])


@st.composite
def calls_of_many(draw: st.DrawFn) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Calls of one shape (same parameters given), so that look-alike calls meet often."""
    nargs = draw(st.integers(1, 3))
    kwnames = draw(st.sets(names))
    with_c = draw(st.booleans())
    leaf = draw(st.sampled_from([small, param_values]))
    calls = []
    for _ in range(draw(st.integers(1, 15))):
        args = [draw(leaf) for _ in range(nargs)]
        kwargs = {k: draw(leaf) for k in kwnames}
        if with_c:
            kwargs["c"] = draw(leaf)
        if nargs == 1 and draw(st.booleans()):
            kwargs["a"] = args.pop()  # the same call, spelled with a keyword
        calls.append((tuple(args), kwargs))
    return calls


def model_call_key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if "a" in kwargs:
        a, b, rest = kwargs["a"], 0, ()
    else:
        a, b, rest = args[0], (args[1] if len(args) > 1 else 0), args[2:]
    kw = {k: v for k, v in kwargs.items() if k not in ("a", "c")}
    return (
        model_key(a),
        model_key(b),
        tuple(map(model_key, rest)),
        model_key(kwargs.get("c")),
        frozenset((k, model_key(v)) for k, v in kw.items()),
    )


@settings(max_examples=150, deadline=None)
@given(calls=calls_of_many())
def test_no_wrong_result_across_parameters(calls: list[tuple[tuple[Any, ...], dict[str, Any]]]) -> None:
    shapes = Shapes()
    proxy = CachedProxy(shapes, maxsize=None)
    expected: dict[Any, Any] = {}
    for args, kwargs in calls:
        want = expected.setdefault(model_call_key(args, kwargs), shapes.describe_many(*args, **kwargs))
        assert proxy.describe_many(*args, **kwargs) == want, (args, kwargs)
    assert proxy.describe_many.cache_info().misses == len(expected)


# -- stable digests --------------------------------------------------------------------

_DIGEST_SCRIPT = """
import json
from proxycache._keys import freeze, stable_digest

words = frozenset({"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"})
keys = [
    "a string",
    ("a", 1, 2.5, None, True, False, b"x", -7, 10**30),
    words,
    (words, frozenset({("k", 1), ("j", 2.0)})),
    freeze({"b": [1, 2], "a": {"x", "y", "z"}, "c": {"n": [True, 1]}}),
    freeze([frozenset({"p", "q", "r"}), ("s", 1.0), {"u", "v"}]),
    freeze({frozenset({"m", "n"}): ["o"]}),
]
print(json.dumps({"digests": [stable_digest(k) for k in keys], "order": list(words)}))
"""


def _digests_in_a_new_process(seed: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, "-c", _DIGEST_SCRIPT], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_stable_digest_is_the_same_in_every_process() -> None:
    runs = [_digests_in_a_new_process(seed) for seed in ("1", "2", "3")]
    # The processes really did order strings differently...
    assert len({tuple(r["order"]) for r in runs}) > 1
    # ...and still agree on every digest, all distinct.
    digests = runs[0]["digests"]
    assert all(r["digests"] == digests for r in runs)
    assert len(set(digests)) == len(digests)
    namespace: dict[str, Any] = {}
    exec(_DIGEST_SCRIPT.replace("print(", "result = ("), namespace)
    assert json.loads(namespace["result"])["digests"] == digests


def test_stable_digest_refuses_identity_keyed_objects() -> None:
    with pytest.raises(UnkeyableError, match="no stable encoding"):
        stable_digest((1, object()))


def test_stable_digest_tells_apart_what_the_keys_tell_apart() -> None:
    keys = [1, True, "1", b"1", 1.5, (1,), freeze([1]), freeze({1}), frozenset({1}), freeze({1: 1}), None, ()]
    assert len({stable_digest(k) for k in keys}) == len(keys)
    assert stable_digest(freeze({"a": 1, "b": 2})) == stable_digest(freeze({"b": 2, "a": 1}))


# -- objects keyed as themselves: their class is remembered, and asked again when it may have changed


class Sentinel:
    """Like an SDK's NOT_GIVEN default: an object keyed as itself."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN = Sentinel()


def test_sentinel_defaults_and_tagged_bools_freeze_to_themselves_every_time() -> None:
    for _ in range(3):  # the first time asks every question; then the class is known
        assert freeze(NOT_GIVEN) is NOT_GIVEN
        assert freeze((_BOOL, True)) == (_BOOL, (_BOOL, True))
        assert freeze(["m", NOT_GIVEN, (_BOOL, False)]) == (_LIST, ("m", NOT_GIVEN, (_BOOL, (_BOOL, False))))
        assert freeze(_TRUE) is _TRUE  # a call's tagged boolean is taken as it is
        assert freeze(["m", _FALSE]) == (_LIST, ("m", (_BOOL, False)))


def test_a_tagged_boolean_is_the_tuple_it_stands_for() -> None:
    # Equal, hashed and digested as (marker, value): keys of calls with a boolean argument are the same as before.
    assert tagged(("m", True, 1, False)) == ("m", (_BOOL, True), 1, (_BOOL, False))
    assert hash(_TRUE) == hash((_BOOL, True))
    assert stable_digest(tagged(("m", True))) == stable_digest(("m", (_BOOL, True)))
    assert stable_digest(_FALSE) != stable_digest(_TRUE) != stable_digest(1)
    assert typed_bools(True) is _TRUE
    assert freeze(False) is _FALSE
    sentinel = object()
    assert freeze(sentinel) is sentinel
    assert freeze(_BOOL) is _BOOL


def test_a_class_registered_as_a_mapping_later_freezes_as_one_from_then_on() -> None:
    class Record:
        def __init__(self, **fields: Any) -> None:
            self.fields = fields

        def items(self) -> Any:
            return self.fields.items()

        def __hash__(self) -> int:
            return hash(frozenset(self.fields.items()))

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Record) and self.fields == other.fields

    record = Record(a=1)
    for _ in range(3):
        assert freeze(record) is record  # a plain hashable object: itself, and its class remembered
    Mapping.register(Record)  # the ABCs' caches change: what freeze asked must be asked again
    assert freeze(record) == freeze({"a": 1}) == freeze(Record(a=1.0))
    assert freeze(Record(a=True)) != freeze(record)  # by contents now, bools tagged


def test_a_proxy_is_not_known_by_its_class() -> None:
    # A proxy's __class__ is its target's: isinstance() follows it, so its class tells nothing.
    for _ in range(3):
        assert freeze(wrapt.ObjectProxy(NOT_GIVEN)) == NOT_GIVEN
    assert freeze(wrapt.ObjectProxy(frozenset({True}))) != freeze(wrapt.ObjectProxy(frozenset({1})))


def test_an_object_whose_class_changes_its_story_is_asked_again() -> None:
    class Lazy:
        """A lazy proxy: itself until given a target, then its target's class to isinstance()."""

        def __init__(self, target: Any = None) -> None:
            self.target = target

        @property  # type: ignore[misc]
        def __class__(self) -> type:
            return type(self) if self.target is None else type(self.target)

        def __iter__(self) -> Any:
            return iter(self.target)

        def __hash__(self) -> int:
            return hash(self.target)

        def __eq__(self, other: object) -> bool:
            return self.target == getattr(other, "target", other)

    unset = Lazy()
    for _ in range(3):
        assert freeze(unset) is unset  # honest about its class: keyed as itself, the class remembered
    assert freeze(Lazy(frozenset({True}))) != freeze(Lazy(frozenset({1})))
    assert freeze(Lazy([True])) == freeze([True])  # a list to isinstance(), though its class is remembered


def test_a_list_subclass_is_keyed_as_a_list() -> None:
    class Tags(list[Any]):
        pass

    for _ in range(3):
        assert freeze(Tags([True, "a"])) == freeze([True, "a"]) != freeze((True, "a"))


# -- methods behind functools.wraps decorators ------------------------------------------


def _passes_through(func: Any) -> Any:
    """A decorator as SDKs write them (openai's required_args): a bare (*args, **kwargs) with functools.wraps."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper


def _passes_through_with_self(func: Any) -> Any:
    import functools

    @functools.wraps(func)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        return func(self, *args, **kwargs)

    return wrapper


_SENTINEL = object()


def test_a_method_behind_a_wraps_decorator_is_keyed_by_the_signature_it_declares() -> None:
    class Client:
        def __init__(self) -> None:
            self.calls = 0

        @_passes_through
        def create(self, *, model: str, temperature: Any = _SENTINEL, headers: Any = None) -> str:
            self.calls += 1
            return model

        @_passes_through_with_self
        def get(self, path: str, timeout: Any = _SENTINEL) -> str:
            self.calls += 1
            return path

    for wrap in (lambda c: CachedProxy(c, include=["create", "get"]), lambda c: cache_methods(c, "create", "get")):
        client = Client()
        api = wrap(client)
        assert api.create(model="m") == api.create(model="m", temperature=_SENTINEL) == "m"
        api.create(model="m", headers=None)
        assert api.get("/a") == api.get(path="/a", timeout=_SENTINEL) == "/a"
        assert client.calls == 2
        with pytest.raises(TypeError):
            api.create()  # the declared signature: model is required


def test_a_wraps_decorator_that_declares_its_own_signature_is_taken_at_its_word() -> None:
    import functools
    import inspect

    def injects_session(func: Any) -> Any:
        @functools.wraps(func)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            return func(self, "session", *args, **kwargs)

        sig = inspect.signature(func)
        wrapper.__signature__ = sig.replace(parameters=[p for n, p in sig.parameters.items() if n != "session"])
        return wrapper

    class Client:
        def __init__(self) -> None:
            self.calls = 0

        @injects_session
        def get(self, session: str, path: str, timeout: int = 5) -> str:
            self.calls += 1
            return f"{session}:{path}"

    client = Client()
    api = CachedProxy(client)
    assert api.get("/a") == api.get("/a", timeout=5) == "session:/a"
    assert client.calls == 1


# -- every kind has an encoding of its own -----------------------------------------


class Colour(enum.Enum):
    RED = 1
    GREEN = "green"


@dataclasses.dataclass(frozen=True)
class Pair:
    a: Any
    b: Any


_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3) | st.integers(),
    st.floats(allow_nan=True) | st.sampled_from([0.0, -0.0, 1.0, math.nan]),
    st.complex_numbers(allow_nan=False, max_magnitude=1e6),
    st.text(max_size=6) | st.sampled_from(["range", "nan", "s\x00\x00\x00\x00", ""]),
    st.binary(max_size=6),
    st.builds(range, st.integers(-3, 3), st.integers(-3, 3), st.integers(1, 3)),
    st.decimals(allow_nan=False, places=2),
    st.datetimes(timezones=st.sampled_from([dt.timezone.utc, dt.timezone(dt.timedelta(hours=1))]) | st.none()),
    st.dates(),
    st.times(),
    st.timedeltas(),
    st.uuids(),
    st.builds(PurePosixPath, st.sampled_from(["a", "a/b", "/x"])),
    st.builds(PureWindowsPath, st.sampled_from(["a", "a/b", "C:/x"])),
    st.sampled_from(list(Colour)),
    st.sampled_from([int, str, Pair]),
)
_encodable = st.recursive(
    _leaves,
    lambda inner: st.lists(inner, max_size=4).map(tuple)
    | st.frozensets(inner, max_size=4)
    | st.builds(Pair, inner, inner),
    max_leaves=12,
)


def _kind(x: Any) -> Any:
    """What the encoding must tell apart: each kind, and its contents (floats by their bits, one NaN for all)."""
    if isinstance(x, float):
        return ("float", "nan" if math.isnan(x) else struct.pack(">d", x))
    if isinstance(x, tuple):
        return ("tuple", tuple(_kind(v) for v in x))
    if isinstance(x, frozenset):
        return ("frozenset", frozenset(_kind(v) for v in x))
    if isinstance(x, Pair):
        return ("Pair", _kind(x.a), _kind(x.b))
    if isinstance(x, range):
        return ("range", x.start, x.stop, x.step)
    if isinstance(x, complex):
        return ("complex", struct.pack(">dd", x.real, x.imag))
    if isinstance(x, (dt.datetime, dt.time)):
        return (type(x).__name__, x.isoformat(), x.fold)
    if isinstance(x, PurePath):
        return (type(x).__name__, str(x))
    if isinstance(x, Decimal):
        return ("Decimal", str(x))
    return (type(x).__name__, x)


def _look_alike(x: Any) -> Any:
    """*x* spelled as another kind with the same parts: what an encoding without a tag of its own would confuse."""
    if isinstance(x, range):
        return ("range", x.start, x.stop, x.step)
    if isinstance(x, Pair):
        return (x.a, x.b)
    if isinstance(x, bool):
        return int(x)
    if isinstance(x, int) and not isinstance(x, Colour):
        return float(x) if abs(x) < 2**53 else str(x)
    if isinstance(x, frozenset):
        return tuple(sorted(x, key=repr))
    if isinstance(x, tuple):
        return tuple(_look_alike(v) for v in x)
    if isinstance(x, Colour):
        return x.value
    if isinstance(x, PurePath):
        return str(x)
    if isinstance(x, (Decimal, dt.date, dt.time, dt.timedelta, uuid.UUID)):
        return str(x)
    return x


@settings(max_examples=300, deadline=None)
@given(values=st.lists(_encodable, min_size=1, max_size=6))
def test_values_of_distinct_kinds_never_encode_alike(values: list[Any]) -> None:
    """Equal digests only for values of one kind and equal contents, look-alikes of other kinds included."""
    values = values + [_look_alike(v) for v in values]
    by_digest: dict[str, Any] = {}
    for value in values:
        kind = by_digest.setdefault(stable_digest(value), _kind(value))
        assert kind == _kind(value), value


def test_known_look_alikes_encode_apart() -> None:
    # A range was encoded as the tuple ("range", start, stop, step); NaN took four bytes where other floats take
    # eight, so NaN and a string could spell out a float whose bytes begin with "nan" and an empty string.
    assert stable_digest(range(5)) != stable_digest(("range", 0, 5, 1))
    spelled = struct.unpack(">d", b"nans\x00\x00\x00\x05")[0]
    assert stable_digest((math.nan, "s\x00\x00\x00\x00")) != stable_digest((spelled, ""))
    assert stable_digest(math.nan) == stable_digest(-math.nan) == stable_digest(float("nan"))
