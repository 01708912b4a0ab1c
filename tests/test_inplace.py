"""``cache_methods`` / ``uncache_methods``: cached methods installed on one instance."""

from __future__ import annotations

import copy
import dataclasses
import gc
import pickle
import sqlite3
import weakref
from typing import Any

import pytest

from proxycache import CachedProxy, CachingMixin, cache_info, cache_methods, cached_method, uncache_methods

from .conftest import cached_function, is_cached


class Service:
    kind = "service"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def get(self, x: Any) -> Any:
        self.calls.append("get")
        return ("get", x)

    def search(self, q: str) -> list[Any]:
        self.calls.append("search")
        return [self.get(q), self.get(q + "!")]  # calls its own method

    def report(self) -> list[Any]:
        self.calls.append("report")
        return [self.search("a"), self.search("a")]

    def gen(self) -> Any:
        yield 1

    async def agen(self) -> Any:
        yield 1

    @property
    def prop(self) -> int:
        self.calls.append("prop")
        return 1

    @staticmethod
    def double(x: int) -> int:
        return 2 * x

    @classmethod
    def make(cls, x: Any) -> Any:
        return (cls.__name__, x)

    def _helper(self, x: Any) -> Any:
        self.calls.append("_helper")
        return x


class Slotted:
    __slots__ = ("value",)

    def get(self) -> int:
        return 1


def test_returns_the_object_itself() -> None:
    obj = Service()
    assert cache_methods(obj, "get") is obj
    assert uncache_methods(obj) is obj


def test_only_this_instance_changes() -> None:
    obj, other = Service(), Service()
    original = Service.get
    cache_methods(obj, "get")
    obj.get(1)
    obj.get(1)
    other.get(1)
    other.get(1)
    assert obj.calls == ["get"]
    assert other.calls == ["get", "get"]
    assert Service.get is original
    assert "get" not in vars(other)
    assert type(obj) is Service
    assert isinstance(obj, Service)


def test_named_methods_only() -> None:
    obj = cache_methods(Service(), "get")
    obj.search("q")
    obj.search("q")
    assert obj.calls.count("search") == 2
    assert obj.calls.count("get") == 2  # search -> get("q"), get("q!"), then hits
    assert set(cache_info(obj)) == {"get"}


def test_the_objects_own_calls_to_its_methods_are_cached() -> None:
    obj = cache_methods(Service())
    first = obj.report()
    assert first == [[("get", "a"), ("get", "a!")]] * 2
    assert obj.calls == ["report", "search", "get", "get"]
    assert cache_info(obj)["search"].hits == 1
    obj.report()
    assert obj.calls.count("report") == 1


def test_caching_twice_keeps_the_entries() -> None:
    obj = cache_methods(Service(), "get")
    obj.get(1)
    cached = obj.get
    cache_methods(obj, "get", "search")
    assert obj.get is cached
    obj.get(1)
    assert obj.calls == ["get"]


# -- uncache_methods ---------------------------------------------------------


def test_uncache_restores_the_class_methods() -> None:
    obj = Service()
    before = dict(vars(obj))
    cache_methods(obj)
    obj.get(1)
    uncache_methods(obj)
    assert vars(obj) == before  # no cached callables, no pickling shim left
    obj.get(1)
    assert obj.calls == ["get", "get"]
    assert cache_info(obj) == {}


def test_uncache_some_names_only() -> None:
    obj = cache_methods(Service(), "get", "search")
    uncache_methods(obj, "get")
    assert set(cache_info(obj)) == {"search"}
    assert "__reduce_ex__" in vars(obj)  # still needed for the remaining cached method
    uncache_methods(obj, "search")
    assert "__reduce_ex__" not in vars(obj)


def test_uncache_restores_a_callable_that_was_in_the_instance_dict() -> None:
    obj = Service()
    handler = lambda x: ("own", x)  # noqa: E731
    obj.get = handler  # type: ignore[method-assign]
    cache_methods(obj, "get")
    assert obj.get is not handler
    assert obj.get(1) == obj.get(1) == ("own", 1)
    assert obj.get.cache_info().hits == 1
    uncache_methods(obj)
    assert vars(obj)["get"] is handler


def test_uncache_a_name_that_was_not_cached_fails() -> None:
    obj = cache_methods(Service(), "get")
    with pytest.raises(KeyError, match=r"'search' is not a method cache_methods installed.*installed: get"):
        uncache_methods(obj, "search")
    assert set(cache_info(obj)) == {"get"}


def test_uncache_on_an_object_that_was_never_cached() -> None:
    obj = Service()
    assert uncache_methods(obj) is obj
    assert uncache_methods(Slotted()) is not None


# -- bad input ---------------------------------------------------------------


def test_names_must_be_strings() -> None:
    with pytest.raises(TypeError, match="method names as strings"):
        cache_methods(Service(), Service.get)  # type: ignore[arg-type]


def test_bad_options_fail_at_wrap_time() -> None:
    with pytest.raises(ValueError, match="unknown policy"):
        cache_methods(Service(), policy="nope")
    with pytest.raises(TypeError, match="unknown option 'maxsise'"):
        cache_methods(Service(), maxsise=3)


def test_a_class_is_refused() -> None:
    with pytest.raises(TypeError, match=r"instances, not on the class Service.*CachedProxy"):
        cache_methods(Service)
    assert not is_cached(Service.get)


def test_a_slots_class_is_refused() -> None:
    with pytest.raises(TypeError, match=r"Slotted: its instances have no __dict__.*__slots__.*CachedProxy\(obj"):
        cache_methods(Slotted())
    proxy = CachedProxy(Slotted())  # the way out works
    assert proxy.get() == 1


def test_a_c_type_is_refused() -> None:
    conn = sqlite3.connect(":memory:")
    try:
        with pytest.raises(TypeError, match=r"sqlite3.Connection: .*cannot be set.*CachedProxy"):
            cache_methods(conn, "execute")
    finally:
        conn.close()


def test_a_frozen_dataclass_can_be_cached() -> None:
    @dataclasses.dataclass(frozen=True)
    class Point:
        x: int

        def scaled(self, k: int) -> tuple[int, int]:
            return (self.x * k, id(self))

    p = cache_methods(Point(2), "scaled")
    assert p.scaled(3) == p.scaled(3)
    assert p.scaled.cache_info().hits == 1
    assert p == Point(2)  # equality sees fields only
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.x = 3  # type: ignore[misc]


# -- lifetime, pickling, copying ---------------------------------------------


def test_no_reference_cycle() -> None:
    gc.collect()
    gc.disable()
    try:
        obj = cache_methods(Service())
        obj.report()
        refs = [weakref.ref(obj), weakref.ref(cached_function(obj.get))]
        del obj
        assert [r() for r in refs] == [None, None]
    finally:
        gc.enable()


def test_a_cached_method_outliving_its_instance_says_so() -> None:
    get = cache_methods(Service(), "get").get
    with pytest.raises(ReferenceError, match=r"Service.get\(\) was called after its instance was garbage-collected"):
        get(1)


def test_key_attrs_of_an_instance_gone_says_so() -> None:
    class Scoped(Service):
        user = "ann"

    get = cache_methods(Scoped(), "get", key_attrs=["user"]).get
    gc.collect()
    gone = r"get\(\) was called after its instance was garbage-collected, so its key_attrs="
    with pytest.raises(ReferenceError, match=gone):
        get(1)


def test_pickle_and_copy_carry_no_cached_methods() -> None:
    obj = cache_methods(Service(), "get")
    obj.get(1)
    for twin in (pickle.loads(pickle.dumps(obj)), copy.copy(obj), copy.deepcopy(obj)):
        assert "get" not in vars(twin)
        assert "__reduce_ex__" not in vars(twin)
        assert twin.calls == ["get"]
        twin.get(1)
        assert twin.calls == ["get", "get"]  # a plain instance again
    assert obj.get.cache_info().currsize == 1


def test_a_class_with_its_own_reduce_still_pickles_without_caches() -> None:
    obj = cache_methods(Reducing(5), "value")
    obj.value()
    twin = pickle.loads(pickle.dumps(obj))
    assert twin.n == 5
    assert cache_info(twin) == {}


class Reducing:
    def __init__(self, n: int) -> None:
        self.n = n

    def __reduce__(self) -> Any:
        return (Reducing, (self.n,))

    def value(self) -> int:
        return self.n


class WithState:
    def __init__(self) -> None:
        self.n = 1

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def get(self) -> int:
        return self.n


def test_a_class_with_getstate_still_pickles_without_caches() -> None:
    obj = cache_methods(WithState(), "get")
    obj.get()
    twin = pickle.loads(pickle.dumps(obj))
    assert vars(twin) == {"n": 1}


# -- a __copy__ that copies __dict__ ------------------------------------------------------


class Copyable:
    """A class whose own ``__copy__`` copies ``__dict__``, a common idiom."""

    def __init__(self, value: int) -> None:
        self.value = value
        self.calls = 0

    def get(self) -> int:
        self.calls += 1
        return self.value

    def __copy__(self) -> Copyable:
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    def __deepcopy__(self, memo: dict[int, Any]) -> Copyable:
        new = type(self).__new__(type(self))
        new.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return new


class DecoratedCopyable(Copyable):
    @cached_method(maxsize=5)
    def get(self) -> int:
        return super().get()


class MixedCopyable(CachingMixin, Copyable, maxsize=5):
    pass


def _copyable(kind: str) -> Copyable:
    if kind == "inplace":
        return cache_methods(Copyable(1), maxsize=5)
    if kind == "decorator":
        return DecoratedCopyable(1)
    return MixedCopyable(1)


@pytest.mark.parametrize("kind", ["inplace", "decorator", "mixin"])
@pytest.mark.parametrize("how", [copy.copy, copy.deepcopy], ids=["copy", "deepcopy"])
def test_a_copy_through_its_dict_calls_its_own_method(kind: str, how: Any) -> None:
    original = _copyable(kind)
    assert original.get() == 1
    duplicate = how(original)
    duplicate.value = 2
    assert duplicate.get() == 2  # the copy's own method ran, not the original's cached one
    assert duplicate.get() == 2
    assert duplicate.calls == 2  # the count copied (1) plus its own one run
    assert original.get() == 1
    assert original.calls == 1
    # The copy caches with the same options, in a cache of its own.
    assert duplicate.get.cache_parameters()["maxsize"] == 5
    assert cache_info(duplicate)["get"].currsize == 1
    assert cache_info(original)["get"].currsize == 1


@pytest.mark.parametrize("kind", ["inplace", "decorator", "mixin"])
def test_pickling_a_copy_pickles_the_copy(kind: str) -> None:
    original = _copyable(kind)
    original.get()
    duplicate = copy.copy(original)
    duplicate.value = 7
    restored = pickle.loads(pickle.dumps(duplicate))
    assert restored.value == 7
    assert restored.get() == 7
    assert not any(is_cached(v) for v in vars(restored).values() if v is not restored.get)


def test_a_copy_that_keeps_the_dict_untouched_before_first_use() -> None:
    # Copied before any call: nothing of the original's to drop, and both cache on their own.
    original = _copyable("decorator")
    duplicate = copy.copy(original)
    duplicate.value = 3
    assert (original.get(), duplicate.get()) == (1, 3)


def test_uncache_methods_on_a_copy_restores_the_copys_methods() -> None:
    original = cache_methods(Copyable(1))
    original.get()
    duplicate = copy.copy(original)
    uncache_methods(duplicate)
    duplicate.value = 9
    assert duplicate.get() == 9
    assert not is_cached(duplicate.get)
    assert is_cached(original.get)  # the original keeps its cache
