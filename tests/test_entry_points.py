"""One behavioural suite, run through each of the four ways in.

``build(way, **options)`` returns a ``Client`` whose methods are cached by
``CachedProxy``, ``cache_methods``, a ``CachingMixin`` subclass or a class
whose methods carry ``@cached_method``. Every test below must pass for all
four: they share one cached callable, so they must behave alike.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import pickle
import traceback
import types
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from proxycache import CachedProxy, CachingMixin, cache_clear, cache_info, cache_methods, cached_method
from proxycache._outcome import COPY_ERRORS
from proxycache.testing import use_clock

WAYS = ("proxy", "inplace", "mixin", "decorator")


class Client:
    """A client the suite caches four ways; counts the real calls per instance."""

    def __init__(self, base: str = "a") -> None:
        self.base = base
        self.calls: Counter[str] = Counter()

    def get(self, item: Any, page: int = 1) -> tuple[Any, int, str]:
        self.calls["get"] += 1
        return (item, page, self.base)

    def search(self, query: dict[str, Any], tags: list[str] | None = None) -> list[Any]:
        self.calls["search"] += 1
        return [sorted(query.items()), tags]

    def nothing(self) -> None:
        self.calls["nothing"] += 1

    def fail(self, value: Any) -> Any:
        self.calls["fail"] += 1
        raise ValueError(value)

    def total(self, *numbers: int, scale: int = 1) -> int:
        self.calls["total"] += 1
        return sum(numbers) * scale

    async def aget(self, item: Any) -> Any:
        self.calls["aget"] += 1
        await asyncio.sleep(0)
        return ("async", item)

    def _private(self, x: Any) -> Any:
        self.calls["_private"] += 1
        return x

    @property
    def label(self) -> str:
        return f"client {self.base}"


_PUBLIC = ("get", "search", "nothing", "fail", "total", "aget")
_classes: dict[tuple[str, str], type] = {}


def _cached_class(way: str, options: dict[str, Any]) -> type:
    """A module-level (so picklable) class for the mixin and decorator ways, one per option set."""
    marker = (way, repr(sorted(options.items(), key=lambda kv: kv[0])))
    cls = _classes.get(marker)
    if cls is not None:
        return cls
    name = f"_{way.capitalize()}Client{len(_classes)}"
    if way == "mixin":
        cls = types.new_class(name, (CachingMixin, Client), dict(options))
    else:
        exclude = set(options.pop("exclude", ()))
        body = {m: cached_method(**options)(vars(Client)[m]) for m in _PUBLIC if m not in exclude}
        cls = type(name, (Client,), body)
    cls.__module__ = __name__
    cls.__qualname__ = name
    globals()[name] = cls
    _classes[marker] = cls
    return cls


def build(way: str, base: str = "a", **options: Any) -> Any:
    """A ``Client(base)`` cached the given way with the given options."""
    if way == "proxy":
        return CachedProxy(Client(base), **options)
    if way == "inplace":
        return cache_methods(Client(base), **options)
    return _cached_class(way, dict(options))(base)


@pytest.fixture(params=WAYS)
def way(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


# -- hits, misses and keys ---------------------------------------------------


def test_a_repeated_call_is_a_hit(way: str) -> None:
    obj = build(way)
    assert obj.get(1) == (1, 1, "a")
    assert obj.get(1) == (1, 1, "a")
    assert obj.get(2) == (2, 1, "a")
    assert obj.calls["get"] == 2
    info = cache_info(obj)["get"]
    assert (info.hits, info.misses, info.currsize, info.maxsize) == (1, 2, 2, 128)
    assert obj.get.cache_info() == info


def test_arguments_are_normalized_against_the_signature(way: str) -> None:
    obj = build(way)
    results = {obj.get(1), obj.get(item=1), obj.get(1, 1), obj.get(1, page=1), obj.get(page=1, item=1)}
    assert results == {(1, 1, "a")}
    assert obj.calls["get"] == 1
    assert obj.get(1, 2) == (1, 2, "a")
    assert obj.calls["get"] == 2
    assert obj.total(1, 2) == obj.total(1, 2, scale=1) == 3
    assert obj.total(1, 2, scale=2) == 6
    assert obj.calls["total"] == 2


def test_a_wrong_call_fails_like_the_method(way: str) -> None:
    obj = build(way)
    with pytest.raises(TypeError):
        obj.get()
    with pytest.raises(TypeError):
        obj.get(1, 2, 3)
    assert obj.calls["get"] == 0


def test_unhashable_arguments_are_keyed_by_value(way: str) -> None:
    obj = build(way)
    first = obj.search({"q": "x", "n": 1}, tags=["a", "b"])
    second = obj.search({"n": 1, "q": "x"}, ["a", "b"])
    assert first == second
    assert obj.calls["search"] == 1
    obj.search({"q": "x", "n": 1}, tags=["b", "a"])
    assert obj.calls["search"] == 2


def test_none_is_cached(way: str) -> None:
    obj = build(way)
    assert obj.nothing() is None
    assert obj.nothing() is None
    assert obj.calls["nothing"] == 1
    assert cache_info(obj)["nothing"].hits == 1


def test_exceptions_are_not_cached_by_default(way: str) -> None:
    obj = build(way)
    for _ in range(2):
        with pytest.raises(ValueError, match="boom"):
            obj.fail("boom")
    assert obj.calls["fail"] == 2
    assert cache_info(obj)["fail"].currsize == 0


def test_exceptions_carry_no_trace_of_the_cache_lookup(way: str) -> None:
    obj = build(way)
    with pytest.raises(ValueError, match="boom") as caught:
        obj.fail("boom")
    # No "During handling of the above exception (KeyError ...)" in the user's traceback.
    assert caught.value.__context__ is None
    assert caught.value.__cause__ is None


def _frames_between(error: BaseException, method: str) -> list[str]:
    """The traceback's frames after this test's own and before the method's frame."""
    names = [frame.name for frame in traceback.extract_tb(error.__traceback__)]
    return names[1 : names.index(method)]


@pytest.mark.parametrize(
    "options", [{}, {"cache_exceptions": (ValueError,)}, {"ttl": 60}], ids=["plain", "cached", "ttl"]
)
def test_an_exception_shows_one_frame_of_the_cache(way: str, options: dict[str, Any]) -> None:
    obj = build(way, **options)
    for argument in ("boom", True, ["unhashable"]):  # the common way, a boolean key, an unhashable key
        for _ in range(2):  # a miss, then (with cache_exceptions) a hit
            with pytest.raises(ValueError) as caught:
                obj.fail(argument)
            assert len(_frames_between(caught.value, "fail")) == 1, traceback.format_tb(caught.value.__traceback__)


class _Async:
    async def afail(self, value: Any) -> Any:
        await asyncio.sleep(0)
        raise ValueError(value)


class _AsyncDecorated:
    @cached_method
    async def afail(self, value: Any) -> Any:
        await asyncio.sleep(0)
        raise ValueError(value)


@pytest.mark.parametrize("make", [lambda: CachedProxy(_Async()), lambda: cache_methods(_Async()), _AsyncDecorated],
                         ids=["proxy", "inplace", "decorator"])
def test_an_exception_from_a_coroutine_shows_one_frame_of_the_cache(make: Any) -> None:
    obj = make()

    async def main(argument: Any) -> None:
        await obj.afail(argument)

    for argument in ("boom", True):
        with pytest.raises(ValueError) as caught:
            asyncio.run(main(argument))
        names = [frame.name for frame in traceback.extract_tb(caught.value.__traceback__)]
        assert len(names[names.index("main") + 1 : names.index("afail")]) == 1, names


def test_exceptions_are_cached_when_asked(way: str) -> None:
    obj = build(way, cache_exceptions=(ValueError,))
    errors = []
    for _ in range(2):
        with pytest.raises(ValueError, match="boom") as caught:
            obj.fail("boom")
        errors.append(caught.value)
    assert obj.calls["fail"] == 1
    if COPY_ERRORS:  # 3.13 without the GIL: every raise is of a copy (see proxycache._outcome)
        assert type(errors[1]) is ValueError
        assert errors[1].args == errors[0].args
    else:
        assert errors[0] is errors[1]


# -- the cached callable's own methods ----------------------------------------


def test_invalidate_refresh_clear_parameters(way: str) -> None:
    obj = build(way)
    obj.get(1)
    obj.get(2)
    assert obj.get.cache_invalidate(1) is True
    assert obj.get.cache_invalidate(item=1) is False
    obj.get(1)
    assert obj.calls["get"] == 3
    assert obj.get.cache_refresh(2) == (2, 1, "a")
    assert obj.calls["get"] == 4
    obj.get(2, page=1)
    assert obj.calls["get"] == 4
    assert obj.get.cache_parameters()["maxsize"] == 128
    assert obj.get.cache_parameters()["policy"] == "lru"
    obj.get.cache_clear()
    assert tuple(obj.get.cache_info()) == (0, 0, 128, 0)
    obj.get(1)
    assert obj.calls["get"] == 5


def test_wrapped_is_the_method_uncached(way: str) -> None:
    # What proxycache.typing says __wrapped__ is: per instance, the plain function, called with the
    # instance first, as functools.lru_cache's on a method; a proxy's, the bound method it read from
    # the client, as functools.lru_cache(client.get)'s.
    obj = build(way)
    wrapped = obj.get.__wrapped__
    if way == "proxy":
        assert wrapped == obj.__wrapped__.get
        call = wrapped
    else:
        assert wrapped is vars(Client)["get"]
        call = functools.partial(wrapped, obj)
    assert call(1) == call(1) == (1, 1, "a")
    assert obj.calls["get"] == 2
    assert tuple(obj.get.cache_info())[:2] == (0, 0)


def test_module_level_cache_info_and_cache_clear(way: str) -> None:
    obj = build(way)
    obj.get(1)
    obj.get(1)
    obj.nothing()
    info = cache_info(obj)
    assert info["get"].hits == 1
    assert info["nothing"].misses == 1
    cache_clear(obj, "get")
    assert cache_info(obj)["get"].currsize == 0
    assert cache_info(obj)["nothing"].currsize == 1
    cache_clear(obj)
    assert all(i.currsize == 0 for i in cache_info(obj).values())
    with pytest.raises(KeyError, match="no cached method 'nope'"):
        cache_clear(obj, "nope")


def test_instances_never_share_entries(way: str) -> None:
    one, two = build(way, base="one"), build(way, base="two")
    assert one.get(1) == (1, 1, "one")
    assert two.get(1) == (1, 1, "two")
    assert one.get(1) == (1, 1, "one")
    assert (one.calls["get"], two.calls["get"]) == (1, 1)
    cache_clear(one)
    assert cache_info(two)["get"].currsize == 1
    assert one.get is not two.get


# -- options -----------------------------------------------------------------


def test_maxsize_and_lru_policy(way: str) -> None:
    obj = build(way, maxsize=2)
    obj.get(1)
    obj.get(2)
    obj.get(1)  # 1 is now the most recently used
    obj.get(3)  # evicts 2
    assert obj.get.cache_info().currsize == 2
    obj.get(1)
    assert obj.calls["get"] == 3
    obj.get(2)
    assert obj.calls["get"] == 4


def test_fifo_policy_evicts_the_oldest_write(way: str) -> None:
    obj = build(way, maxsize=2, policy="fifo")
    obj.get(1)
    obj.get(2)
    obj.get(1)  # a hit does not change FIFO order
    obj.get(3)  # evicts 1
    obj.get(2)
    assert obj.calls["get"] == 3
    obj.get(1)
    assert obj.calls["get"] == 4
    assert obj.get.cache_parameters()["policy"] == "fifo"


def test_maxsize_zero_caches_nothing(way: str) -> None:
    obj = build(way, maxsize=0)
    obj.get(1)
    obj.get(1)
    assert obj.calls["get"] == 2


def test_ttl_expires_entries(way: str) -> None:
    with use_clock() as clock:
        obj = build(way, ttl=timedelta(seconds=10))
        obj.get(1)
        clock.advance(9)
        obj.get(1)
        assert obj.calls["get"] == 1
        clock.advance(2)
        obj.get(1)
        assert obj.calls["get"] == 2
        assert obj.get.cache_parameters()["ttl"] == 10.0


def test_typed_keeps_types_apart(way: str) -> None:
    plain, typed = build(way), build(way, typed=True)
    for obj in (plain, typed):
        obj.get(1)
        obj.get(1.0)
    assert plain.calls["get"] == 1
    assert typed.calls["get"] == 2


def test_booleans_are_not_ints(way: str) -> None:
    obj = build(way)
    assert obj.get(1) == (1, 1, "a")
    assert obj.get(True) == (True, 1, "a")
    assert obj.calls["get"] == 2


def test_ignore_leaves_a_parameter_out_of_the_key(way: str) -> None:
    obj = build(way, ignore=("page",), exclude=("search", "total", "nothing", "fail", "aget"))
    assert obj.get(1, page=1) == (1, 1, "a")
    assert obj.get(1, page=2) == (1, 1, "a")
    assert obj.calls["get"] == 1


def test_key_attrs_join_the_key(way: str) -> None:
    obj = build(way, key_attrs=("base",), exclude=("search", "total", "nothing", "fail", "aget"))
    assert obj.get(1) == (1, 1, "a")
    obj.base = "b"
    assert obj.get(1) == (1, 1, "b")
    obj.base = "a"
    assert obj.get(1) == (1, 1, "a")
    assert obj.calls["get"] == 2


# -- async -------------------------------------------------------------------


def test_coroutine_methods_cache_the_awaited_result(way: str) -> None:
    obj = build(way)

    async def main() -> list[Any]:
        first = await obj.aget(1)
        second = await obj.aget(1)
        together = await asyncio.gather(obj.aget(2), obj.aget(2), obj.aget(2))
        return [first, second, *together]

    results = asyncio.run(main())
    assert results == [("async", 1)] * 2 + [("async", 2)] * 3
    assert obj.calls["aget"] == 2
    assert cache_info(obj)["aget"].currsize == 2
    # A second event loop reads the same entries.
    assert asyncio.run(obj.aget(1)) == ("async", 1)
    assert obj.calls["aget"] == 2


# -- pickling and copying ------------------------------------------------------


@pytest.mark.parametrize(
    "clone",
    [copy.copy, copy.deepcopy, lambda o: pickle.loads(pickle.dumps(o)), lambda o: pickle.loads(pickle.dumps(o, 0))],
    ids=["copy", "deepcopy", "pickle", "pickle-protocol-0"],
)
def test_copies_carry_no_entries_and_still_work(way: str, clone: Any) -> None:
    obj = build(way, base="orig")
    obj.get(1)
    obj.nothing()
    twin = clone(obj)
    assert twin.base == "orig"
    assert all(info.currsize == 0 for info in cache_info(twin).values())
    assert twin.get(1) == (1, 1, "orig")
    assert twin.get(2) == (2, 1, "orig")
    # The original keeps its entries and is not affected by the copy.
    assert cache_info(obj)["get"].currsize == 1
    obj.get(1)
    assert cache_info(obj)["get"].hits == 1
    assert twin.get is not obj.get


def test_pickles_hold_no_cached_callables(way: str) -> None:
    obj = build(way)
    obj.get("a-very-distinctive-argument")
    data = pickle.dumps(obj)
    assert b"a-very-distinctive-argument" not in data
    assert b"CachedMethod" not in data


class _Echo:
    def __init__(self) -> None:
        self.calls = 0

    def one(self, x: Any) -> Any:
        self.calls += 1
        return x


@pytest.mark.parametrize("policy", ["lru", "lfu", "fifo", "rr"])
@pytest.mark.parametrize("ttl", [None, 60])
def test_an_unhashable_argument_first_on_an_empty_cache(policy: str, ttl: float | None) -> None:
    # An LRU hit touches the entry before reading it; on an EMPTY OrderedDict
    # the touch raises KeyError, not TypeError, for an unhashable key.
    for obj in (CachedProxy(_Echo(), policy=policy, ttl=ttl), cache_methods(_Echo(), "one", policy=policy, ttl=ttl)):
        assert obj.one({"a": [1]}) == {"a": [1]}
        assert obj.one({"a": [1]}) == {"a": [1]}
        assert obj.one([1, 2]) == [1, 2]
        assert obj.calls == 2
        info = obj.one.cache_info()
        assert (info.hits, info.misses, info.currsize) == (1, 2, 2)
