"""Caching a method leaves the instance's own attribute reads as fast as they were.

CPython 3.11 and 3.12 keep a plain instance's attributes inline, and read
them with a specialized instruction, until something reads the instance's
``__dict__``: from then on every ``obj.attr`` takes the generic path, about
three times the instructions (3.13 keeps the values inline either way).
``@cached_method``, ``CachingMixin`` and ``cache_methods(obj, "name")``
store each instance's cached callable on the instance, so they must do it
without reading ``__dict__``: otherwise the first cached call would slow
down every attribute read in the user's own code (or the client's). The check is the instruction the interpreter chose,
not a timing.
"""

from __future__ import annotations

import copy
import dis
import pickle
import sys
import threading
from typing import Any

import pytest

from proxycache import CachingMixin, cache_methods, cached_method

#: Interpreters that specialize attribute reads (3.11+, with the GIL: the free-threaded 3.13 does not).
SPECIALIZES = sys.version_info >= (3, 11) and getattr(sys, "_is_gil_enabled", lambda: True)()


class Decorated:
    def __init__(self) -> None:
        self.user = "ada"

    @cached_method
    def get(self, x: int) -> int:
        return x * 2

    @cached_method
    def other(self, x: int) -> int:
        return x + 1


class Mixed(CachingMixin):
    def __init__(self) -> None:
        self.user = "ada"

    def get(self, x: int) -> int:
        return x * 2


class Plain:
    def __init__(self) -> None:
        self.user = "ada"


class Client:
    def __init__(self) -> None:
        self.user = "ada"

    def get(self, x: int) -> int:
        return x * 2


def in_place() -> Client:
    return cache_methods(Client(), "get")


def in_place_twice() -> Client:
    client = cache_methods(Client(), "get")
    first = client.get
    assert cache_methods(client, "get").get is first  # cached already: kept, with its entries
    return client


def read_instruction(obj: Any) -> str:
    """The instruction a warmed-up ``obj.user`` runs as."""

    def read(o: Any) -> str:
        return o.user  # type: ignore[no-any-return]

    for _ in range(2000):  # past the warm-up and any back-off after a failed specialization
        read(obj)
    return next(i.opname for i in dis.get_instructions(read, adaptive=True) if i.argval == "user")  # type: ignore[call-arg]


needs_specializing = pytest.mark.skipif(not SPECIALIZES, reason="this interpreter does not specialize attribute reads")


@needs_specializing
def test_a_plain_instance_reads_its_attributes_inline() -> None:
    # The reference the other checks compare with; and what reading __dict__ does on 3.11 and 3.12.
    assert read_instruction(Plain()) == "LOAD_ATTR_INSTANCE_VALUE"
    materialized = Plain()
    materialized.__dict__  # noqa: B018 - the read is the point
    if sys.version_info >= (3, 13):
        assert read_instruction(materialized) == "LOAD_ATTR_INSTANCE_VALUE"
    else:
        assert read_instruction(materialized) != "LOAD_ATTR_INSTANCE_VALUE"


@needs_specializing
@pytest.mark.parametrize(
    "make", [Decorated, Mixed, in_place, in_place_twice],
    ids=["cached_method", "CachingMixin", "cache_methods", "cache_methods twice"],
)
def test_attribute_reads_stay_specialized_after_the_first_cached_call(make: Any) -> None:
    obj = make()
    assert obj.get(2) == 4
    assert obj.get(2) == 4
    assert obj.get.cache_info().hits == 1
    assert read_instruction(obj) == "LOAD_ATTR_INSTANCE_VALUE"


@needs_specializing
def test_two_cached_methods_and_a_super_call_keep_the_reads_inline() -> None:
    class Child(Decorated):
        @cached_method
        def get(self, x: int) -> int:
            return super().get(x) + 1  # the parent's cached callable, under a key of its own

    obj = Child()
    assert (obj.get(1), obj.get(1), obj.other(1)) == (3, 3, 2)
    assert read_instruction(obj) == "LOAD_ATTR_INSTANCE_VALUE"


def test_what_is_installed_is_the_instances_and_copies_and_pickles_leave_it() -> None:
    obj = Decorated()
    bound: Any = obj.get
    first = bound.__func__  # the first access binds what it built; later ones find it on the instance
    assert obj.get(3) == 6
    assert obj.get is first
    assert vars(obj)["get"] is first
    assert "__reduce_ex__" in vars(obj)  # the shim that keeps the callables out of pickles and copies
    for twin in (copy.copy(obj), copy.deepcopy(obj), pickle.loads(pickle.dumps(obj))):
        assert set(vars(twin)) == {"user"}
        assert twin.get(3) == 6
        assert twin.get.cache_info().misses == 1
    assert Decorated.__dict__["get"]._prober is None


def test_threads_making_the_first_access_at_once_share_one_cache() -> None:
    for _ in range(20):
        obj = Decorated()
        start = threading.Barrier(8)
        got: list[Any] = []

        def first_access(obj: Decorated = obj, start: threading.Barrier = start, got: list[Any] = got) -> None:
            start.wait()
            got.append(obj.get)

        threads = [threading.Thread(target=first_access) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        funcs = {getattr(g, "__func__", g) for g in got}  # bound on first access, the function after
        assert funcs == {vars(obj)["get"]}


class OwnReduce(Decorated):
    def __reduce_ex__(self, protocol: Any) -> Any:
        return (OwnReduce, (), dict(vars(self), reduced=True))


def test_a_class_with_its_own_reduce_ex_still_pickles_without_the_callables() -> None:
    obj = OwnReduce()
    assert obj.get(2) == 4
    twin = pickle.loads(pickle.dumps(obj))
    assert set(vars(twin)) == {"user", "reduced"}  # the class's own __reduce_ex__ ran, filtered
    assert twin.get(2) == 4
