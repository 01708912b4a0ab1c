"""The cached callable's surface: invalidate, refresh, clear, info, parameters, metadata, errors."""

from __future__ import annotations

import functools
import inspect
import typing
from typing import Any

import pytest

import proxycache
from proxycache import CachedProxy, CacheInfo

from .conftest import CountingClient


class Ticker:
    """Each real call returns a fresh number, so a recomputation is visible."""

    def __init__(self) -> None:
        self.n = 0

    def value(self, key: Any, scale: int = 1) -> tuple[Any, int]:
        """The key and a number that grows with every real call."""
        self.n += 1
        return (key, self.n * scale)

    def boom(self, key: Any) -> Any:
        self.n += 1
        if self.n % 2:
            raise LookupError(f"boom {self.n}")
        return self.n

    def posonly(self, a: int, /, b: int = 2, *args: int, c: int, d: str = "x", **kw: Any) -> Any:
        return (a, b, args, c, d, kw)


@pytest.fixture
def ticker() -> Ticker:
    return Ticker()


# -- invalidate ---------------------------------------------------------------


def test_invalidate_is_addressed_like_a_call(ticker: Ticker) -> None:
    proxy = CachedProxy(ticker)
    assert proxy.value("a") == ("a", 1)
    for spelling in [(("a",), {}), (("a", 1), {}), ((), {"key": "a"}), (("a",), {"scale": 1})]:
        args, kwargs = spelling
        assert proxy.value.cache_invalidate(*args, **kwargs) is True
        assert proxy.value.cache_invalidate(*args, **kwargs) is False  # already gone
        assert proxy.value("a") == ("a", ticker.n)  # recomputed...
        assert proxy.value("a") == ("a", ticker.n)  # ...and cached again
    assert ticker.n == 5


def test_invalidate_drops_only_that_entry(ticker: Ticker) -> None:
    proxy = CachedProxy(ticker)
    proxy.value("a")
    proxy.value("b")
    proxy.value("a", 2)
    assert proxy.value.cache_invalidate("a", scale=2)
    assert proxy.value.cache_info().currsize == 2
    assert proxy.value("a") == ("a", 1)
    assert proxy.value("b") == ("b", 2)
    assert not proxy.value.cache_invalidate("never")


def test_invalidate_with_unhashable_arguments(client: CountingClient) -> None:
    proxy = CachedProxy(client)
    proxy.echo({"b": [1], "a": {2}})
    assert proxy.echo.cache_invalidate({"a": {2}, "b": [1]})
    assert proxy.echo.cache_info().currsize == 0


def test_invalidate_with_wrong_arguments_raises_the_methods_type_error(ticker: Ticker) -> None:
    proxy = CachedProxy(ticker)
    with pytest.raises(TypeError, match=r"Ticker\.value\(\) missing 1 required positional argument: 'key'"):
        proxy.value.cache_invalidate()


# -- refresh -----------------------------------------------------------------


def test_refresh_recomputes_stores_and_returns_the_new_value(ticker: Ticker) -> None:
    proxy = CachedProxy(ticker)
    assert proxy.value("a") == ("a", 1)
    assert proxy.value.cache_refresh("a") == ("a", 2)
    assert proxy.value("a") == ("a", 2)  # a hit on the refreshed entry
    assert proxy.value(key="a", scale=1) == ("a", 2)
    assert ticker.n == 2
    assert proxy.value.cache_refresh(key="a") == ("a", 3)
    assert proxy.value("a") == ("a", 3)


def test_refresh_of_an_absent_entry_stores_it(ticker: Ticker) -> None:
    proxy = CachedProxy(ticker)
    assert proxy.value.cache_refresh("new", 10) == ("new", 10)
    assert proxy.value("new", scale=10) == ("new", 10)
    assert ticker.n == 1
    assert proxy.value.cache_info().currsize == 1


def test_a_failed_refresh_raises_and_keeps_the_old_entry() -> None:
    ticker = Ticker()
    ticker.n = 1  # the next real call succeeds (n=2), the one after fails (n=3)
    proxy = CachedProxy(ticker)
    assert proxy.boom("k") == 2
    with pytest.raises(LookupError, match="boom 3"):
        proxy.boom.cache_refresh("k")
    assert proxy.boom("k") == 2
    assert ticker.n == 3


# -- clear / info / parameters -------------------------------------------------


def test_cache_info_counts_hits_misses_and_size(ticker: Ticker) -> None:
    proxy = CachedProxy(ticker, maxsize=2)
    info = proxy.value.cache_info()
    assert isinstance(info, CacheInfo)
    assert info == CacheInfo(hits=0, misses=0, maxsize=2, currsize=0)
    for key in ("a", "a", "b", "a", "c", "c"):
        proxy.value(key)
    assert proxy.value.cache_info() == CacheInfo(hits=3, misses=3, maxsize=2, currsize=2)
    assert proxy.value.cache_info()._fields == ("hits", "misses", "maxsize", "currsize")


def test_cache_clear_drops_entries_and_statistics(ticker: Ticker) -> None:
    proxy = CachedProxy(ticker)
    proxy.value("a")
    proxy.value("a")
    proxy.value.cache_clear()
    assert proxy.value.cache_info() == (0, 0, 128, 0)
    assert proxy.value("a") == ("a", 2)
    assert proxy.value.cache_info() == (0, 1, 128, 1)


def test_cache_parameters_reports_every_option(ticker: Ticker) -> None:
    proxy = CachedProxy(ticker, maxsize=7, policy="fifo", ttl=30, typed=True, ignore=["scale"])
    params = proxy.value.cache_parameters()
    assert params["maxsize"] == 7
    assert params["policy"] == "fifo"
    assert params["ttl"] == 30.0
    assert params["typed"] is True
    assert params["ignore"] == frozenset({"scale"})
    expected = {
        "maxsize", "ttl", "policy", "cache", "getsizeof", "include", "exclude", "typed", "ignore",
        "key_attrs", "key", "cache_exceptions", "store", "serializer", "namespace", "version",
        "cache_if", "stale_if_error", "stale_while_revalidate",
        "streams",
        "single_flight",
    }
    assert set(params) == expected
    params["maxsize"] = 1  # a copy: changing it changes nothing
    assert proxy.value.cache_parameters()["maxsize"] == 7


def test_defaults_in_cache_parameters(ticker: Ticker) -> None:
    params = CachedProxy(ticker).value.cache_parameters()
    assert (params["maxsize"], params["ttl"], params["policy"], params["typed"]) == (128, None, "lru", False)
    assert params["cache_exceptions"] == ()
    assert params["store"] is None


# -- module-level helpers -----------------------------------------------------------


def test_module_level_cache_info_and_clear(client: CountingClient) -> None:
    proxy = CachedProxy(client)
    assert proxycache.cache_info(proxy) == {}
    proxy.get(1)
    proxy.get(1)
    proxy.echo(2)
    info = proxycache.cache_info(proxy)
    assert info == {"get": CacheInfo(1, 1, 128, 1), "echo": CacheInfo(0, 1, 128, 1)}
    proxycache.cache_clear(proxy, "echo")
    assert proxycache.cache_info(proxy)["echo"] == (0, 0, 128, 0)
    assert proxycache.cache_info(proxy)["get"] == (1, 1, 128, 1)
    proxycache.cache_clear(proxy)
    assert all(i == (0, 0, 128, 0) for i in proxycache.cache_info(proxy).values())


def test_module_level_cache_info_of_one_cached_callable(client: CountingClient) -> None:
    proxy = CachedProxy(client)
    proxy.get(1)
    assert proxycache.cache_info(proxy.get) == {"get": (0, 1, 128, 1)}


def test_cache_clear_of_an_unknown_name_is_a_clear_key_error(client: CountingClient) -> None:
    proxy = CachedProxy(client)
    proxy.get(1)
    with pytest.raises(KeyError) as info:
        proxycache.cache_clear(proxy, "get", "gte")
    message = str(info.value)
    assert "no cached method 'gte' on CountingClient" in message  # the client, not CachedProxy
    assert "cached so far: get" in message
    assert proxy.get.cache_info().currsize == 1  # nothing was cleared


# -- metadata and signature -------------------------------------------------------------


def test_metadata_is_copied(ticker: Ticker) -> None:
    cached = CachedProxy(ticker).value
    assert cached.__name__ == "value"
    assert cached.__qualname__ == "Ticker.value"
    assert cached.__doc__ == Ticker.value.__doc__
    assert cached.__module__ == __name__
    assert cached.__wrapped__ == ticker.value
    assert cached.__wrapped__.__self__ is ticker


def test_annotations_are_the_methods_as_functools_gives_them() -> None:
    class Typed:
        def get(self, key: int, *, scale: float = 1.0) -> list[int]:
            return [key]

    for cached in (CachedProxy(Typed()).get, proxycache.cache_methods(Typed(), "get").get):
        # Shared, not copied, as functools.update_wrapper does (the two stay the same dict).
        assert cached.__annotations__ is Typed.get.__annotations__
        assert cached.__annotations__ == functools.wraps(Typed.get)(lambda: None).__annotations__
        assert typing.get_type_hints(cached) == {"key": int, "scale": float, "return": list[int]}


@pytest.mark.parametrize("name", ["value", "boom", "posonly"])
def test_signature_is_the_methods_own(ticker: Ticker, name: str) -> None:
    cached = getattr(CachedProxy(ticker), name)
    assert inspect.signature(cached) == inspect.signature(getattr(ticker, name))


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, "Ticker.value() missing 1 required positional argument: 'key'"),
        ((1,), {"bogus": 2}, "Ticker.value() got an unexpected keyword argument 'bogus'"),
        ((1,), {"key": 1}, "Ticker.value() got multiple values for argument 'key'"),
        # CPython counts self for a bound method; the cached callable has no self to count.
        ((1, 2, 3), {}, "Ticker.value() takes from 1 to 2 positional arguments but 3 were given"),
    ],
)
def test_wrong_calls_raise_the_methods_own_type_error(
    ticker: Ticker, args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    proxy = CachedProxy(ticker)
    for entry in (proxy.value, proxy.value.cache_invalidate, proxy.value.cache_refresh):
        with pytest.raises(TypeError) as info:
            entry(*args, **kwargs)
        assert str(info.value) == message
    with pytest.raises(TypeError, match=r"^Ticker\.value\(\) "):
        ticker.value(*args, **kwargs)
    assert ticker.n == 0
    assert proxy.value.cache_info() == (0, 0, 128, 0)


def test_wrong_calls_with_positional_only_and_keyword_only(ticker: Ticker) -> None:
    proxy = CachedProxy(ticker)
    for args, kwargs in [((), {"a": 1, "c": 2}), ((1,), {}), ((1, 2, 3, 4), {})]:
        with pytest.raises(TypeError) as direct:
            ticker.posonly(*args, **kwargs)
        with pytest.raises(TypeError) as cached:
            proxy.posonly(*args, **kwargs)
        assert str(cached.value) == str(direct.value)
    assert proxy.posonly(1, c=3, z=4) == (1, 2, (), 3, "x", {"z": 4})


# -- negative caching ----------------------------------------------------------------------


def test_exceptions_are_not_cached_by_default(client: CountingClient) -> None:
    proxy = CachedProxy(client)
    for _ in range(3):
        with pytest.raises(ValueError, match="x"):
            proxy.fail("x")
    assert client.count("fail") == 3
    assert proxy.fail.cache_info() == (0, 3, 128, 0)


def test_cache_exceptions_caches_the_named_ones(client: CountingClient) -> None:
    proxy = CachedProxy(client, cache_exceptions=ValueError)
    with pytest.raises(ValueError, match="x") as first:
        proxy.fail("x")
    with pytest.raises(ValueError, match="x") as second:
        proxy.fail("x")
    assert client.count("fail") == 1
    assert second.value is first.value
    assert proxy.fail.cache_info() == (1, 1, 128, 1)
    with pytest.raises(ValueError, match="y"):
        proxy.fail("y")  # another key: computed
    assert client.count("fail") == 2


def test_cache_exceptions_matches_subclasses(client: CountingClient) -> None:
    proxy = CachedProxy(client, cache_exceptions=[KeyError, Exception])
    for _ in range(2):
        with pytest.raises(ValueError):
            proxy.fail(1)
    assert client.count("fail") == 1


def test_exceptions_not_named_are_not_cached(ticker: Ticker) -> None:
    proxy = CachedProxy(ticker, cache_exceptions=[KeyError])  # LookupError is KeyError's parent, not child
    with pytest.raises(LookupError):
        proxy.boom("k")  # n=1: fails, not cached
    assert proxy.boom("k") == 2  # n=2: computed again, succeeds
    assert proxy.boom("k") == 2
    assert ticker.n == 2


def test_a_cached_exception_can_be_invalidated_and_refreshed(client: CountingClient) -> None:
    proxy = CachedProxy(client, cache_exceptions=ValueError)
    with pytest.raises(ValueError):
        proxy.fail(1)
    assert proxy.fail.cache_invalidate(1)
    with pytest.raises(ValueError):
        proxy.fail(1)
    assert client.count("fail") == 2
    with pytest.raises(ValueError):
        proxy.fail.cache_refresh(1)
    assert client.count("fail") == 3
    with pytest.raises(ValueError):
        proxy.fail(1)  # the refreshed failure is what is cached
    assert client.count("fail") == 3


def test_a_parameter_named_like_a_builtin_the_generated_code_uses() -> None:
    # The generated hit path calls type() for typed= and cache_exceptions=; a
    # method parameter named "type" must not shadow it.
    class Catalog:
        def __init__(self) -> None:
            self.calls = 0

        def items(self, type: str = "all") -> str:  # a real client's parameter name
            self.calls += 1
            return f"items of {type}"

    for options in ({"cache_exceptions": (ValueError,)}, {"typed": True}, {}):
        catalog = Catalog()
        proxy = CachedProxy(catalog, **options)
        assert proxy.items("books") == proxy.items(type="books") == "items of books"
        assert proxy.items() == "items of all"
        assert catalog.calls == 2
