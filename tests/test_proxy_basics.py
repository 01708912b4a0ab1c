"""``CachedProxy`` keeps the object faithful: what is cached, what passes through, identity and lifetime."""

from __future__ import annotations

import copy
import gc
import pickle
import re
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from proxycache import CachedProxy, cache_info

from .conftest import CountingClient, cached_function, is_cached


class Page:
    """A class reached as an attribute: calling it builds a new object each time."""

    def __init__(self, n: int) -> None:
        self.n = n


class Rich(CountingClient):
    """A client with every kind of attribute."""

    Page = Page
    limit = 10

    def __init__(self) -> None:
        super().__init__()
        self.handler: Callable[[int], int] = lambda x: x * 2
        self.sub = CountingClient("https://sub.example")

    @property
    def formatter(self) -> Callable[[Any], str]:
        """A property whose value is callable: returned as is, never cached."""
        self.calls.append(("formatter", (), {}))
        return str

    def _helper(self, x: Any) -> Any:
        self.calls.append(("_helper", (x,), {}))
        return x

    def __custom__(self, x: Any) -> Any:
        self.calls.append(("__custom__", (x,), {}))
        return x

    @staticmethod
    def double(x: int) -> int:
        return 2 * x

    @classmethod
    def build(cls, base: str) -> str:
        return f"{cls.__name__}:{base}"

    def __len__(self) -> int:
        return 7

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rich) and other.base == self.base

    def __hash__(self) -> int:
        return hash(self.base)


@pytest.fixture
def rich() -> Rich:
    return Rich()


@contextmanager
def no_cycle_collector() -> Iterator[None]:
    """Objects freed inside this block were freed by reference counting alone."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# -- what is cached ----------------------------------------------------------------


def test_public_methods_are_cached_per_proxy(client: CountingClient) -> None:
    proxy = CachedProxy(client)
    assert proxy.get(1) == proxy.get(1) == (1, 1)
    assert client.count("get") == 1
    assert cache_info(proxy)["get"].hits == 1
    assert proxy.get is proxy.get  # wrapped once, on first access


def test_none_is_a_result_like_any_other(client: CountingClient) -> None:
    proxy = CachedProxy(client)
    assert proxy.nothing() is None
    assert proxy.nothing() is None
    assert client.count("nothing") == 1
    assert proxy.nothing.cache_info()[:2] == (1, 1)


# -- what passes through untouched ----------------------------------------------------


def test_non_callables_pass_through(rich: Rich) -> None:
    proxy = CachedProxy(rich)
    assert proxy.base == "https://api.example"
    assert proxy.calls is rich.calls
    assert proxy.limit == 10
    assert proxy.sub is rich.sub  # an object attribute is not proxied unless a dotted include asks


# -- setting attributes ---------------------------------------------------------------


def test_setting_an_attribute_reaches_the_object(client: CountingClient) -> None:
    proxy = CachedProxy(client)
    proxy.base = "https://other.example"
    assert client.base == "https://other.example"
    proxy.extra = 5
    assert client.extra == 5  # type: ignore[attr-defined]
    del proxy.extra
    assert not hasattr(client, "extra")


def test_a_method_replaced_through_the_proxy_is_cached_afresh(client: CountingClient) -> None:
    proxy = CachedProxy(client)
    assert proxy.echo("a") == "a"
    seen: list[Any] = []

    def shout(value: Any) -> Any:
        seen.append(value)
        return str(value).upper()

    proxy.echo = shout
    assert client.echo is shout
    assert proxy.echo("a") == "A"  # the old entry is gone with the old method
    assert proxy.echo("a") == "A"
    assert seen == ["a"]  # and the new one is cached
    del proxy.echo  # the instance attribute goes: the class's method is back
    assert proxy.echo("b") == "b"
    assert client.count("echo") == 2


# -- faithfulness -----------------------------------------------------------------------


def test_isinstance_class_and_type(rich: Rich) -> None:
    proxy = CachedProxy(rich)
    assert isinstance(proxy, Rich)
    assert isinstance(proxy, CountingClient)
    assert isinstance(proxy, CachedProxy)
    assert proxy.__class__ is Rich
    assert type(proxy) is CachedProxy


@pytest.mark.parametrize("options", [{}, {"maxsize": 3}], ids=["default options", "options"])
def test_the_module_is_the_objects_or_none(rich: Rich, options: dict[str, Any]) -> None:
    assert CachedProxy(rich, **options).__module__ == Rich.__module__
    # An int has no __module__ of its own: the proxy class's must not show through.
    assert CachedProxy(5, **options).__module__ is None


def test_dir_lists_the_objects_attributes(rich: Rich) -> None:
    proxy = CachedProxy(rich)
    proxy.get(1)
    names = dir(proxy)
    assert names == dir(rich)
    assert {"get", "echo", "base", "name", "Page", "double"} <= set(names)


def test_str_repr_equality_and_hash(rich: Rich) -> None:
    proxy = CachedProxy(rich)
    assert str(proxy) == str(rich)
    assert re.fullmatch(r"<CachedProxy at 0x[0-9a-f]+ for Rich at 0x[0-9a-f]+>", repr(proxy))
    assert f"at 0x{id(rich):x}>" in repr(proxy)
    assert proxy == rich
    assert rich == proxy
    assert proxy == Rich()
    assert hash(proxy) == hash(rich)
    assert proxy.__wrapped__ is rich


def test_doc_and_module_as_on_the_object(rich: Rich) -> None:
    proxy = CachedProxy(rich)
    assert proxy.__doc__ == Rich.__doc__
    assert proxy.__module__ == Rich.__module__ == __name__
    plain = CachedProxy(CountingClient())
    assert plain.__doc__ == CountingClient.__doc__


# -- state lives on the proxy --------------------------------------------------------------


def test_two_proxies_have_separate_caches_and_leave_the_client_untouched(client: CountingClient) -> None:
    before = dict(vars(client))
    one, two = CachedProxy(client), CachedProxy(client, maxsize=3)
    one.get(1)
    two.get(1)
    one.get(1)
    assert client.count("get") == 2
    assert one.get.cache_info()[:2] == (1, 1)
    assert two.get.cache_info()[:2] == (0, 1)
    assert two.get.cache_info().maxsize == 3
    one.get.cache_clear()
    two.get(1)
    assert two.get.cache_info().hits == 1
    assert set(vars(client)) == set(before)
    assert not any(is_cached(v) for v in vars(client).values())
    assert type(client).__dict__.get("get") is CountingClient.__dict__["get"]


def test_dropping_the_proxy_frees_the_object_and_its_caches() -> None:
    client = CountingClient()
    proxy = CachedProxy(client, key_attrs=["base"], ttl=60)
    proxy.get(1)
    proxy.echo([1, 2])
    proxy.nothing()
    client_ref = weakref.ref(client)
    cache_refs = [weakref.ref(cached_function(proxy.get)), weakref.ref(cached_function(proxy.echo))]
    proxy_ref = weakref.ref(proxy)
    with no_cycle_collector():
        del client, proxy
        assert proxy_ref() is None
        assert client_ref() is None
        assert all(r() is None for r in cache_refs)


def test_dropping_a_proxy_with_nested_children_frees_everything() -> None:
    rich = Rich()  # not the fixture, which pytest holds on to
    proxy = CachedProxy(rich, include=["get", "sub.get"])
    proxy.get(1)
    proxy.sub.get(2)
    refs = [weakref.ref(rich), weakref.ref(rich.sub), weakref.ref(cached_function(proxy.sub.get))]
    with no_cycle_collector():
        del rich, proxy
        assert all(r() is None for r in refs)


def test_dropping_a_proxy_with_a_cached_exception_frees_it_eventually() -> None:
    # The cached exception's traceback holds frames of the call (tests/test_weakrefs.py
    # checks the stricter rule: freed by reference counting alone).
    client = CountingClient()
    proxy = CachedProxy(client, cache_exceptions=ValueError)
    with pytest.raises(ValueError):
        proxy.fail(1)
    ref = weakref.ref(client)
    del client, proxy
    gc.collect()
    assert ref() is None


def test_the_proxy_keeps_its_object_alive() -> None:
    proxy = CachedProxy(CountingClient())
    gc.collect()
    assert proxy.get(1) == (1, 1)
    assert proxy.base == "https://api.example"


# -- copies carry no entries ------------------------------------------------------------------


def _no_entries(proxy: Any, original: Any) -> None:
    assert isinstance(proxy, CachedProxy)
    assert proxy.__wrapped__ is not original.__wrapped__
    assert cache_info(proxy) == {}
    before = proxy.__wrapped__.count("get")
    proxy.get(1)
    assert proxy.__wrapped__.count("get") == before + 1  # a miss: nothing came along
    proxy.get(1)
    assert proxy.get.cache_info()[:2] == (1, 1)
    assert proxy.get.cache_parameters()["maxsize"] == 5  # the options did come along


def test_pickling_carries_the_object_and_options_not_entries(client: CountingClient) -> None:
    proxy = CachedProxy(client, maxsize=5)
    proxy.get(1)
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        _no_entries(pickle.loads(pickle.dumps(proxy, protocol)), proxy)
    assert proxy.get.cache_info().currsize == 1  # the original keeps its own


def test_copy_and_deepcopy_carry_no_entries(client: CountingClient) -> None:
    proxy = CachedProxy(client, maxsize=5)
    proxy.get(1)
    _no_entries(copy.copy(proxy), proxy)
    deep = copy.deepcopy(proxy)
    assert deep.__wrapped__.calls is not client.calls
    _no_entries(deep, proxy)
