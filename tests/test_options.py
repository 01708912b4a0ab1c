"""Options are validated once, at wrap time, with messages naming the option and the way out."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import cachetools
import pytest

from proxycache import CachedProxy, cache_methods, cached_method

from .conftest import CountingClient


def wrap_error(exc: type[Exception], **options: Any) -> str:
    """Wrap a fresh client with *options*; return the message of the expected error."""
    with pytest.raises(exc) as info:
        CachedProxy(CountingClient(), **options)
    return str(info.value)


# -- names and policies ------------------------------------------------------


def test_unknown_option_suggests_the_closest_name_and_lists_all() -> None:
    message = wrap_error(TypeError, maxsise=3)
    assert "'maxsise'" in message
    assert "Did you mean 'maxsize'?" in message
    for name in ("maxsize", "ttl", "policy", "ignore", "key_attrs", "cache_exceptions"):
        assert name in message


def test_unknown_option_without_a_close_match_still_lists_the_options() -> None:
    message = wrap_error(TypeError, zzzzzz=1)
    assert "'zzzzzz'" in message
    assert "Did you mean" not in message
    assert "policy" in message


@pytest.mark.parametrize("policy", ["LRU", "mru", "", None, 3])
def test_unknown_policy_lists_the_accepted_ones(policy: Any) -> None:
    message = wrap_error(ValueError, policy=policy)
    assert repr(policy) in message
    for accepted in ("'lru'", "'lfu'", "'fifo'", "'rr'", "cache="):
        assert accepted in message


@pytest.mark.parametrize("policy", ["lru", "lfu", "fifo", "rr"])
def test_every_documented_policy_is_accepted(client: CountingClient, policy: str) -> None:
    proxy = CachedProxy(client, policy=policy)
    assert proxy.get.cache_parameters()["policy"] == policy


# -- maxsize -----------------------------------------------------------------


@pytest.mark.parametrize("maxsize", [-1, -100])
def test_negative_maxsize_is_refused(maxsize: int) -> None:
    message = wrap_error(ValueError, maxsize=maxsize)
    assert "maxsize" in message
    assert str(maxsize) in message
    assert "None" in message  # the way to say "unbounded"


@pytest.mark.parametrize("maxsize", [1.5, "10", True, [3]])
def test_non_int_maxsize_is_refused(maxsize: Any) -> None:
    message = wrap_error(TypeError, maxsize=maxsize)
    assert "maxsize" in message
    assert repr(maxsize) in message


@pytest.mark.parametrize("maxsize", [0, 1, 10**9, None])
def test_valid_maxsize_values(client: CountingClient, maxsize: int | None) -> None:
    proxy = CachedProxy(client, maxsize=maxsize)
    assert proxy.get.cache_info().maxsize == maxsize


# -- ttl ---------------------------------------------------------------------


@pytest.mark.parametrize("ttl", [0, -1, -0.5, 0.0, float("nan"), timedelta(0), timedelta(seconds=-3)])
def test_non_positive_ttl_is_refused(ttl: Any) -> None:
    message = wrap_error(ValueError, ttl=ttl)
    assert "ttl" in message
    assert "positive" in message


@pytest.mark.parametrize("ttl", [float("inf"), float("nan"), 10**400, -(10**400)])
def test_infinite_nan_and_huge_ttl_are_refused_naming_ttl(ttl: Any) -> None:
    # inf made every Redis write fail; 10**400 raised OverflowError naming nothing.
    message = wrap_error(ValueError, ttl=ttl)
    assert message.startswith("ttl must be a finite, positive number of seconds")
    assert "ttl=None" in message


@pytest.mark.parametrize("ttl", ["10", True, [1], object()])
def test_ttl_of_the_wrong_type_is_refused(ttl: Any) -> None:
    message = wrap_error(TypeError, ttl=ttl)
    assert "ttl" in message
    assert "timedelta" in message  # names the accepted forms


@pytest.mark.parametrize(
    ("ttl", "seconds"), [(5, 5.0), (0.25, 0.25), (timedelta(minutes=2), 120.0), (timedelta(milliseconds=10), 0.01)]
)
def test_ttl_accepts_seconds_and_timedelta(client: CountingClient, ttl: Any, seconds: float) -> None:
    proxy = CachedProxy(client, ttl=ttl)
    assert proxy.get.cache_parameters()["ttl"] == seconds


# -- cache= ------------------------------------------------------------------


@pytest.mark.parametrize("cache", [cachetools.LRUCache(3), {}, 3, "lru"])
def test_cache_must_be_a_factory(cache: Any) -> None:
    message = wrap_error(TypeError, cache=cache)
    assert message.startswith("cache must be a zero-argument factory")
    assert "cachetools.LFUCache" in message  # shows the right form


@pytest.mark.parametrize("made", [[], 3, None, frozenset()])
def test_cache_factory_returning_a_non_mapping_fails_at_wrap_time(made: Any) -> None:
    message = wrap_error(TypeError, cache=lambda: made)
    assert "cache=" in message
    assert "MutableMapping" in message
    assert type(made).__qualname__ in message


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"policy": "lfu"}, "policy"),
        ({"ttl": 5}, "ttl"),
        ({"getsizeof": len}, "getsizeof"),
        ({"policy": "fifo", "ttl": 1}, "policy, ttl"),
    ],
)
def test_cache_cannot_be_combined_with_what_it_configures(given: dict[str, Any], named: str) -> None:
    message = wrap_error(TypeError, cache=lambda: cachetools.LRUCache(4), **given)
    assert named in message
    assert "cache=" in message


def test_cache_accepts_the_default_policy_spelled_out(client: CountingClient) -> None:
    proxy = CachedProxy(client, cache=lambda: cachetools.LFUCache(4), policy="lru")
    assert proxy.get.cache_info().maxsize == 4


# -- getsizeof ---------------------------------------------------------------


def test_getsizeof_needs_a_maxsize() -> None:
    message = wrap_error(ValueError, getsizeof=len, maxsize=None)
    assert "getsizeof" in message
    assert "maxsize" in message


def test_getsizeof_must_be_callable() -> None:
    message = wrap_error(TypeError, getsizeof=10, maxsize=10)
    assert "getsizeof" in message
    assert "10" in message


# -- include / exclude -------------------------------------------------------


@pytest.mark.parametrize("option", ["include", "exclude"])
@pytest.mark.parametrize("entries", [[1], ["get", None], [""], ["get", b"echo"]])
def test_bad_include_exclude_entries(option: str, entries: list[Any]) -> None:
    message = wrap_error(TypeError, **{option: entries})
    assert f"{option} entries must be non-empty strings" in message


@pytest.mark.parametrize("option", ["include", "exclude"])
def test_include_exclude_that_is_neither_names_nor_predicate(option: str) -> None:
    message = wrap_error(TypeError, **{option: 42})
    assert option in message
    assert "glob" in message
    assert "predicate" in message


def test_a_single_name_is_one_entry_not_letters(client: CountingClient) -> None:
    proxy = CachedProxy(client, include="get")
    assert proxy.get.cache_parameters()["include"] == ("get",)


# -- typed / ignore / key_attrs / key ----------------------------------------


@pytest.mark.parametrize("typed", [1, "yes", None])
def test_typed_must_be_a_bool(typed: Any) -> None:
    message = wrap_error(TypeError, typed=typed)
    assert "typed must be True or False" in message


@pytest.mark.parametrize("option", ["ignore", "key_attrs"])
@pytest.mark.parametrize("value", [3, ["ok", 1], ["not an identifier"], [""]])
def test_ignore_and_key_attrs_must_be_identifiers(option: str, value: Any) -> None:
    message = wrap_error(TypeError, **{option: value})
    assert message.startswith(option)


def test_a_single_ignore_name_is_one_name(client: CountingClient) -> None:
    proxy = CachedProxy(client, ignore="page")
    assert proxy.get.cache_parameters()["ignore"] == frozenset({"page"})


def test_ignore_on_a_proxy_applies_to_the_methods_that_take_the_parameter(client: CountingClient) -> None:
    # One option for many methods: each ignores the parameters it has; the others are unaffected.
    proxy = CachedProxy(client, ignore=["page"])
    assert proxy.get(1, page=1) == (1, 1)
    assert proxy.get(1, page=2) == (1, 1)  # page left out of the key
    assert proxy.echo(5) == proxy.echo(5) == 5  # echo has no 'page': cached as usual
    assert client.count("get") == 1
    assert client.count("echo") == 1


class Api:
    def __init__(self) -> None:
        self.calls = 0

    def get(self, path: str, timeout: float = 10, trace_id: str | None = None) -> str:
        self.calls += 1
        return path

    def echo(self, value: Any) -> Any:
        return value

    def request(self, path: str, **kwargs: Any) -> str:  # requests and httpx style
        self.calls += 1
        return path


def test_ignore_on_a_proxy_fails_for_a_method_include_names_exactly() -> None:
    # One method named: ignore= is checked as cache_methods(obj, "get", ignore=...) checks it.
    api = CachedProxy(Api(), include=["get"], ignore=["timeout", "traceid"])
    with pytest.raises(TypeError, match=r"ignore= names 'traceid', which Api.get\(\) does not take; "
                                        r"its parameters are: path, timeout, trace_id$"):
        api.get("/users", trace_id="a1")
    assert api.calls == 0
    both = CachedProxy(Api(), include=["get", "echo"], ignore=["timeout"])
    assert both.get("/a", timeout=1) == both.get("/a", timeout=2) == "/a"
    with pytest.raises(TypeError, match=r"'timeout', which Api.echo\(\) does not take; its parameters are: value"):
        both.echo(1)
    globbed = CachedProxy(Api(), include=["get", "e*"], ignore=["timeout"])
    assert globbed.echo(1) == 1  # a pattern chooses many methods: each ignores what it takes


def test_ignore_on_a_proxy_fails_for_a_name_no_method_takes() -> None:
    api = CachedProxy(Api(), ignore=["traceid"])
    with pytest.raises(TypeError, match=r"'traceid', which no method of this proxy takes \(Api.echo\(\) neither\); "
                                        r"its parameters are: value$"):
        api.echo(1)
    assert CachedProxy(Api(), ignore=["trace_id"]).echo(1) == 1  # get takes it


def test_ignore_of_a_keyword_that_arrives_through_kwargs_is_refused_with_the_way_out() -> None:
    # Left out, it would still be in **kwargs; ignoring all of kwargs would merge every call.
    api = CachedProxy(Api(), include=["request"], ignore=["timeout"])
    with pytest.raises(TypeError, match=r"'timeout', which Api.request\(\) does not take; its parameters are: "
                                        r"path, kwargs\. ignore= takes only these: a keyword that arrives through "
                                        r"\*\*kwargs is left out of the key by passing key= a function"):
        api.request("/u", timeout=1)
    with pytest.raises(TypeError, match=r"through \*\*kwargs.*key="):
        cache_methods(Api(), "request", ignore=["timeout"])
    keyed = CachedProxy(Api(), include=["request"], key=lambda path, timeout=None, **kwargs: (path, kwargs))
    keyed.request("/u", timeout=1)
    keyed.request("/u", timeout=2)
    assert keyed.calls == 1


def test_ignore_naming_a_missing_parameter_of_one_method_fails_when_decorating() -> None:
    with pytest.raises(TypeError) as info:

        class Client:
            @cached_method(ignore=["pgae"])
            def get(self, item: Any, page: int = 1) -> Any:
                return item

    message = str(info.value)
    assert "ignore=" in message
    assert "'pgae'" in message
    assert "Client.get()" in message
    assert "item, page" in message  # lists what the method does take


def test_key_must_be_callable() -> None:
    message = wrap_error(TypeError, key="item")
    assert "key must be a callable" in message


# -- cache_exceptions --------------------------------------------------------


@pytest.mark.parametrize("value", [5, "ValueError", [ValueError, "KeyError"], object, ValueError("x")])
def test_cache_exceptions_must_be_exception_classes(value: Any) -> None:
    message = wrap_error(TypeError, cache_exceptions=value)
    assert "cache_exceptions must be exception classes" in message
    if value == "ValueError":
        assert "'ValueError'" in message  # the string itself, not its first letter


@pytest.mark.parametrize(
    ("value", "stored"),
    [(ValueError, (ValueError,)), ([KeyError, OSError], (KeyError, OSError)), ((), ())],
)
def test_cache_exceptions_accepts_a_class_or_a_list(client: CountingClient, value: Any, stored: Any) -> None:
    proxy = CachedProxy(client, cache_exceptions=value)
    assert proxy.get.cache_parameters()["cache_exceptions"] == stored


# -- store / serializer (validation only; stores are tested with the stores) --


class _FakeStore:
    """Just enough of a store's shape for option validation; never used to cache."""

    def get(self, key: str) -> Any: ...
    def set(self, key: str, value: bytes, ttl: float | None = None) -> None: ...
    def delete(self, key: str) -> bool: ...
    def clear(self, namespace: str | None = None) -> int: ...


def test_serializer_needs_a_store() -> None:
    message = wrap_error(TypeError, serializer="json")
    assert "serializer=" in message
    assert "store=" in message


def test_unknown_serializer_name_lists_the_known_ones() -> None:
    message = wrap_error(ValueError, serializer="yaml", store=_FakeStore(), key_attrs=())
    for name in ("'yaml'", "'pickle'", "'json'", "'pydantic'", "dumps/loads"):
        assert name in message


def test_a_shared_store_without_key_attrs_is_refused() -> None:
    message = wrap_error(TypeError, store=_FakeStore())
    assert "key_attrs=" in message
    assert "key_attrs=()" in message  # the explicit way to share between instances


def test_store_must_look_like_a_store() -> None:
    message = wrap_error(TypeError, store=object(), key_attrs=())
    assert re.search(r"has no get, set, delete, clear", message)


def test_store_and_cache_cannot_be_combined() -> None:
    message = wrap_error(TypeError, store=_FakeStore(), key_attrs=(), cache=dict)
    assert "store=" in message
    assert "cache=" in message


# -- validated once -----------------------------------------------------------


def test_options_are_validated_once_at_wrap_time_not_per_call(client: CountingClient) -> None:
    seen: list[object] = []

    def factory() -> dict[Any, Any]:
        made: dict[Any, Any] = {}
        seen.append(made)
        return made

    proxy = CachedProxy(client, cache=factory)
    probes = len(seen)  # the wrap-time check may call the factory once
    assert probes <= 1
    for i in range(5):
        proxy.get(i)
        proxy.echo(i)
    # One mapping per cached method (get, echo), none per call.
    assert len(seen) == probes + 2


def test_pickled_and_copied_proxies_keep_their_options(client: CountingClient) -> None:
    import copy
    import pickle

    proxy = CachedProxy(client, maxsize=7, ttl=30, ignore=["page"], include=["get", "ec*"], typed=True)
    for twin in (pickle.loads(pickle.dumps(proxy)), copy.copy(proxy), copy.deepcopy(proxy)):
        assert twin.get.cache_parameters() == proxy.get.cache_parameters()
        assert twin.get.cache_parameters()["maxsize"] == 7
