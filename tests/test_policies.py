"""Eviction per policy, TTL expiry and size-based eviction, all through ``CachedProxy``.

Which keys a cache holds is read back with ``cache_invalidate`` (True when
there was an entry), so the tests look only at the public surface. A model of
each policy, driven by hypothesis, checks every call's hit or miss.
"""

from __future__ import annotations

import sys
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

import cachetools
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxycache import CachedProxy, CachingMixin
from proxycache.testing import FakeClock, use_clock

from .conftest import CountingClient

POLICIES = ["lru", "lfu", "fifo", "rr"]


def held(proxy: Any, candidates: Iterable[Any], method: str = "echo") -> set[Any]:
    """The candidates that have an entry (destructive: the entries are dropped)."""
    cached = getattr(proxy, method)
    return {c for c in candidates if cached.cache_invalidate(c)}


def was_hit(proxy: Any, value: Any) -> bool:
    """Call ``echo(value)``; check the result; say whether the call was a hit."""
    client: CountingClient = proxy.__wrapped__
    before = client.count("echo")
    assert proxy.echo(value) == value
    return client.count("echo") == before


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    """Every TTL cache built while the test runs reads this clock (hit path included)."""
    with use_clock(FakeClock(start=1000.0)) as fake:
        yield fake


# -- eviction order, by hand ----------------------------------------------------


def test_lru_evicts_the_least_recently_used(client: CountingClient) -> None:
    proxy = CachedProxy(client, maxsize=3, policy="lru")
    for v in (1, 2, 3):
        assert not was_hit(proxy, v)
    assert was_hit(proxy, 1)  # 1 becomes the most recent; 2 is now the oldest
    assert not was_hit(proxy, 4)
    assert held(proxy, range(6)) == {1, 3, 4}


def test_lru_is_the_default_policy(client: CountingClient) -> None:
    proxy = CachedProxy(client, maxsize=2)
    for v in (1, 2, 1, 3):
        proxy.echo(v)
    assert held(proxy, range(5)) == {1, 3}
    assert proxy.echo.cache_parameters()["policy"] == "lru"


def test_fifo_evicts_the_first_inserted_whatever_the_hits(client: CountingClient) -> None:
    proxy = CachedProxy(client, maxsize=3, policy="fifo")
    for v in (1, 2, 3):
        proxy.echo(v)
    assert was_hit(proxy, 1)
    assert was_hit(proxy, 1)
    assert not was_hit(proxy, 4)  # 1 goes, hits notwithstanding
    assert not was_hit(proxy, 5)  # then 2
    assert held(proxy, range(7)) == {3, 4, 5}


def test_lfu_evicts_the_least_used_and_breaks_ties_by_age(client: CountingClient) -> None:
    proxy = CachedProxy(client, maxsize=3, policy="lfu")
    for v in (1, 2, 3):
        proxy.echo(v)  # all start at 0 uses
    assert not was_hit(proxy, 4)  # a tie at 0: the oldest (1) goes
    assert held(proxy, range(6)) == {2, 3, 4}


def test_lfu_counts_one_use_per_hit_and_starts_new_entries_at_zero(client: CountingClient) -> None:
    proxy = CachedProxy(client, maxsize=3, policy="lfu")
    for v in (1, 2, 3):
        proxy.echo(v)
    for v in (1, 1, 3):
        assert was_hit(proxy, v)  # uses: 1 -> 2, 2 -> 0, 3 -> 1
    assert not was_hit(proxy, 4)  # 2 (0 uses) goes
    assert not was_hit(proxy, 5)  # 4 is new (0 uses) and goes before 3 (1 use)
    assert was_hit(proxy, 5)  # uses: 1 -> 2, 3 -> 1, 5 -> 1
    assert not was_hit(proxy, 6)  # a tie at 1 between 3 and 5: 3 is older and goes
    assert held(proxy, range(8)) == {1, 5, 6}


def test_rr_stays_bounded_and_correct(client: CountingClient) -> None:
    proxy = CachedProxy(client, maxsize=4, policy="rr")
    for i in range(200):
        v = i % 9
        was_hit(proxy, v)
        info = proxy.echo.cache_info()
        # Each miss inserts one entry and evicts at most one, and only when full.
        assert info.currsize == min(4, info.misses)
        assert info.hits + info.misses == 2 * i + 1
        assert info.misses == client.count("echo")
        assert was_hit(proxy, v)  # what was just stored (or found) is there
    assert len(held(proxy, range(9))) == 4


def test_rr_evicts_different_entries_not_a_fixed_order() -> None:
    # Two entries, one more inserted: a fixed policy would always drop the same
    # one. 200 fresh caches all picking the same victim has odds of 2**-199.
    victims = set()
    for _ in range(200):
        proxy = CachedProxy(CountingClient(), maxsize=2, policy="rr")
        for v in ("a", "b", "c"):
            proxy.echo(v)
        kept = held(proxy, "abc")
        assert "c" in kept
        assert len(kept) == 2
        victims |= {"a", "b"} - kept
    assert victims == {"a", "b"}


@pytest.mark.parametrize("policy", POLICIES)
def test_maxsize_none_is_unbounded(client: CountingClient, policy: str) -> None:
    proxy = CachedProxy(client, maxsize=None, policy=policy)
    for v in range(2000):
        proxy.echo(v)
    assert all(was_hit(proxy, v) for v in range(2000))
    info = proxy.echo.cache_info()
    assert info.maxsize is None
    assert info.currsize == 2000
    assert (info.hits, info.misses) == (2000, 2000)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("ttl", [None, 60])
def test_maxsize_zero_caches_nothing(client: CountingClient, policy: str, ttl: float | None) -> None:
    proxy = CachedProxy(client, maxsize=0, policy=policy, ttl=ttl)
    for _ in range(3):
        assert not was_hit(proxy, "x")
        assert proxy.nothing() is None
    assert client.count("echo") == 3
    assert client.count("nothing") == 3
    assert proxy.echo.cache_info() == (0, 3, 0, 0)


# -- eviction order, against a model -----------------------------------------


class Model:
    """A reference cache of keys only: what each policy should hold."""

    def __init__(self, policy: str, maxsize: int) -> None:
        self.policy = policy
        self.maxsize = maxsize
        self.entries: OrderedDict[int, int] = OrderedDict()  # key -> uses
        self.age: dict[int, int] = {}
        self.clock = 0

    def call(self, key: int) -> bool:
        """Record a call; return whether it is a hit."""
        self.clock += 1
        if key in self.entries:
            if self.policy == "lru":
                self.entries.move_to_end(key)
            self.entries[key] += 1
            return True
        if len(self.entries) >= self.maxsize:
            if self.policy == "lfu":
                victim = min(self.entries, key=lambda k: (self.entries[k], self.age[k]))
            else:
                victim = next(iter(self.entries))
            del self.entries[victim]
        self.entries[key] = 0
        self.age[key] = self.clock
        return False


@pytest.mark.parametrize("policy", ["lru", "lfu", "fifo"])
@pytest.mark.parametrize("ttl", [None, 3600])
@settings(max_examples=60, deadline=None)
@given(calls=st.lists(st.integers(0, 6), max_size=60), maxsize=st.integers(1, 4))
def test_policy_matches_the_model(policy: str, ttl: float | None, calls: list[int], maxsize: int) -> None:
    proxy = CachedProxy(CountingClient(), maxsize=maxsize, policy=policy, ttl=ttl)
    model = Model(policy, maxsize)
    for key in calls:
        assert was_hit(proxy, key) == model.call(key), (policy, key)
    assert proxy.echo.cache_info().currsize == len(model.entries)
    assert held(proxy, range(7)) == set(model.entries)


@pytest.mark.parametrize("policy", ["lru", "lfu", "fifo"])
@settings(max_examples=40, deadline=None)
@given(calls=st.lists(st.integers(0, 6), max_size=60), maxsize=st.integers(1, 4))
def test_policy_matches_the_model_with_dict_arguments(policy: str, calls: list[int], maxsize: int) -> None:
    # A dict argument seen before is looked up in the hit path by its remembered key: that lookup
    # must keep each policy's order (LRU recency, LFU uses) as the miss path's does. A new dict each call.
    proxy = CachedProxy(CountingClient(), maxsize=maxsize, policy=policy)
    model = Model(policy, maxsize)
    for key in calls:
        assert was_hit(proxy, {"k": key}) == model.call(key), (policy, key)
    assert {key for key in range(7) if proxy.echo.cache_invalidate({"k": key})} == set(model.entries)


@settings(max_examples=80, deadline=None)
@given(ops=st.lists(st.tuples(st.booleans(), st.integers(0, 9)), max_size=120), maxsize=st.integers(1, 6))
def test_lfu_matches_the_model_with_invalidations(ops: list[tuple[bool, int]], maxsize: int) -> None:
    # Entries never used are evicted oldest first without the heap; used ones move to it: the
    # order must stay (uses, age) through hits, invalidations and keys that come back.
    proxy = CachedProxy(CountingClient(), maxsize=maxsize, policy="lfu")
    model = Model("lfu", maxsize)
    for invalidate, key in ops:
        if invalidate:
            assert proxy.echo.cache_invalidate(key) == (key in model.entries)
            model.entries.pop(key, None)
        else:
            assert was_hit(proxy, key) == model.call(key), key
    assert held(proxy, range(10)) == set(model.entries)


# -- cache= with cachetools caches and plain mappings -------------------------


def test_cache_with_a_cachetools_lfu(client: CountingClient) -> None:
    proxy = CachedProxy(client, cache=lambda: cachetools.LFUCache(2))
    proxy.echo(1)
    assert was_hit(proxy, 1)
    assert was_hit(proxy, 1)
    proxy.echo(2)
    assert not was_hit(proxy, 3)  # 2 has been used least
    assert proxy.echo.cache_info() == (2, 3, 2, 2)
    assert held(proxy, range(5)) == {1, 3}


@pytest.mark.parametrize(
    ("factory", "kept"),
    [
        (lambda: cachetools.LRUCache(2), {1, 3}),
        (lambda: cachetools.FIFOCache(2), {2, 3}),
        (lambda: cachetools.TTLCache(2, ttl=3600), {1, 3}),
    ],
)
def test_cache_with_other_cachetools_caches(client: CountingClient, factory: Any, kept: set[int]) -> None:
    proxy = CachedProxy(client, cache=factory)
    for v in (1, 2, 1, 3):
        proxy.echo(v)
    assert proxy.echo.cache_info() == (1, 3, 2, 2)
    assert held(proxy, range(5)) == kept


def test_cache_with_a_cachetools_rr_stays_bounded(client: CountingClient) -> None:
    proxy = CachedProxy(client, cache=lambda: cachetools.RRCache(3))
    for v in range(50):
        assert proxy.echo(v % 7) == v % 7
        assert proxy.echo.cache_info().currsize <= 3
    assert len(held(proxy, range(7))) == 3


def test_cache_with_a_sized_cachetools_cache_skips_values_too_large(client: CountingClient) -> None:
    proxy = CachedProxy(client, cache=lambda: cachetools.LRUCache(5, getsizeof=len))
    assert proxy.echo("abcdefgh") == "abcdefgh"
    assert not was_hit(proxy, "abcdefgh")  # too large: returned, never stored
    assert not was_hit(proxy, "abc")
    assert was_hit(proxy, "abc")
    assert proxy.echo.cache_info().currsize == 3


def test_a_plain_dict_as_cache(client: CountingClient) -> None:
    proxy = CachedProxy(client, cache=dict)
    for v in range(300):
        proxy.echo(v)
    assert all(was_hit(proxy, v) for v in range(300))
    assert proxy.echo.cache_info() == (300, 300, None, 300)


def test_each_method_gets_its_own_mapping_from_the_factory(client: CountingClient) -> None:
    proxy = CachedProxy(client, cache=lambda: cachetools.LRUCache(1))
    proxy.echo(1)
    proxy.get(1)
    assert was_hit(proxy, 1)  # get's entry did not push echo's out
    assert proxy.get.cache_info().currsize == 1


# -- TTL ----------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_entries_expire_after_ttl(client: CountingClient, clock: FakeClock, policy: str) -> None:
    proxy = CachedProxy(client, ttl=10, policy=policy)
    assert not was_hit(proxy, "a")
    clock.advance(9.999)
    assert was_hit(proxy, "a")
    clock.advance(0.001)  # exactly ttl after the write: expired
    assert not was_hit(proxy, "a")
    clock.advance(5)
    assert was_hit(proxy, "a")  # the recomputed entry lives from its own write
    clock.advance(5)
    assert not was_hit(proxy, "a")
    assert client.count("echo") == 3


@pytest.mark.parametrize("policy", POLICIES)
def test_expired_entries_leave_currsize(client: CountingClient, clock: FakeClock, policy: str) -> None:
    proxy = CachedProxy(client, ttl=10, policy=policy)
    for v in range(5):
        proxy.echo(v)
        clock.advance(1)
    assert proxy.echo.cache_info().currsize == 5
    clock.advance(5.5)  # entries 0..4 were written at t, t+1, ..., t+4; now t+10.5
    assert proxy.echo.cache_info().currsize == 4
    clock.advance(3)
    assert proxy.echo.cache_info().currsize == 1
    clock.advance(1)
    assert proxy.echo.cache_info().currsize == 0
    assert held(proxy, range(5)) == set()


@pytest.mark.parametrize("policy", POLICIES)
def test_ttl_and_maxsize_together(client: CountingClient, clock: FakeClock, policy: str) -> None:
    proxy = CachedProxy(client, ttl=10, maxsize=2, policy=policy)
    for v in range(6):
        proxy.echo(v)
        assert proxy.echo.cache_info().currsize <= 2
    clock.advance(10)
    assert proxy.echo.cache_info().currsize == 0
    assert not was_hit(proxy, 5)


def test_ttl_given_as_timedelta(client: CountingClient, clock: FakeClock) -> None:
    proxy = CachedProxy(client, ttl=timedelta(minutes=1))
    proxy.echo("a")
    clock.advance(59.5)
    assert was_hit(proxy, "a")
    clock.advance(0.5)
    assert not was_hit(proxy, "a")


def test_ttl_counts_expired_lookups_as_misses(client: CountingClient, clock: FakeClock) -> None:
    proxy = CachedProxy(client, ttl=1)
    proxy.echo("a")
    proxy.echo("a")
    clock.advance(2)
    proxy.echo("a")
    info = proxy.echo.cache_info()
    assert (info.hits, info.misses, info.currsize) == (1, 2, 1)


def test_ttl_with_the_real_clock(client: CountingClient) -> None:
    proxy = CachedProxy(client, ttl=0.05)
    proxy.echo("a")
    deadline = time.monotonic() + 10
    while client.count("echo") == 1 and time.monotonic() < deadline:
        proxy.echo("a")
        time.sleep(0.01)
    assert client.count("echo") == 2  # the entry expired and was computed again
    assert proxy.echo.cache_info().misses == 2


# -- size-based eviction --------------------------------------------------------


def test_getsizeof_counts_units_not_entries(client: CountingClient) -> None:
    proxy = CachedProxy(client, getsizeof=len, maxsize=10)
    proxy.echo("aaaa")
    proxy.echo("bbbb")
    assert proxy.echo.cache_info().currsize == 8
    proxy.echo("cc")
    assert proxy.echo.cache_info() == (0, 3, 10, 10)
    assert was_hit(proxy, "aaaa")  # LRU: "bbbb" is now the oldest
    proxy.echo("d")  # needs 1 unit: "bbbb" goes
    assert proxy.echo.cache_info().currsize == 7
    assert held(proxy, ["aaaa", "bbbb", "cc", "d"]) == {"aaaa", "cc", "d"}


def test_getsizeof_value_too_large_is_returned_but_not_stored(client: CountingClient) -> None:
    proxy = CachedProxy(client, getsizeof=len, maxsize=10)
    proxy.echo("aaaa")
    big = "x" * 11
    assert proxy.echo(big) == big
    assert not was_hit(proxy, big)
    assert proxy.echo.cache_info().currsize == 4  # nothing was evicted for it
    assert was_hit(proxy, "aaaa")
    exact = "y" * 10
    proxy.echo(exact)  # fits exactly, after evicting everything else
    assert was_hit(proxy, exact)
    assert proxy.echo.cache_info().currsize == 10
    assert held(proxy, ["aaaa", exact]) == {exact}


@pytest.mark.parametrize("policy", POLICIES)
def test_getsizeof_with_every_policy(client: CountingClient, policy: str) -> None:
    proxy = CachedProxy(client, getsizeof=len, maxsize=6, policy=policy)
    for word in ("ab", "cd", "ef", "ghi", "j", "klmnop", "qr"):
        assert proxy.echo(word) == word
        assert proxy.echo.cache_info().currsize <= 6
    assert was_hit(proxy, "qr")


def test_getsizeof_with_ttl(client: CountingClient, clock: FakeClock) -> None:
    proxy = CachedProxy(client, getsizeof=len, maxsize=10, ttl=5)
    proxy.echo("aaaaaa")
    proxy.echo("bbbb")
    assert proxy.echo.cache_info().currsize == 10  # sizes of the values, not of (value, expiry)
    proxy.echo("c")
    assert proxy.echo.cache_info().currsize == 5
    assert not was_hit(proxy, "z" * 11)
    clock.advance(5)
    assert proxy.echo.cache_info().currsize == 0


#: Every kind of storage a size function reaches: a policy's, timed by ttl or per result, a cachetools class's.
SIZED = [{}, {"ttl": 60}, {"ttl": lambda result: 60}, {"policy": cachetools.LRUCache},
         {"policy": cachetools.LRUCache, "ttl": 60}]


class Sized:
    """Methods whose outcomes proxycache wraps before storing: an error, an awaitable's value, a stream."""

    def __init__(self) -> None:
        self.calls = 0

    def missing(self, name: str) -> str:
        self.calls += 1
        raise KeyError(name)

    def later(self, name: str) -> Any:
        self.calls += 1

        async def value() -> str:
            return name * 2

        return value()

    def lines(self, name: str) -> Iterator[str]:
        self.calls += 1
        yield from (name, name)


@pytest.mark.parametrize("options", SIZED)
def test_getsizeof_sees_only_what_the_method_gave(options: dict[str, Any]) -> None:
    import asyncio

    seen: list[Any] = []

    def size(value: Any) -> int:
        seen.append(value)
        return 1 if isinstance(value, Exception) else len(value)

    obj = Sized()
    proxy = CachedProxy(obj, maxsize=10, getsizeof=size, cache_exceptions=(KeyError,), streams="replay", **options)
    for _ in range(2):
        with pytest.raises(KeyError, match="gone"):
            proxy.missing("gone")
    assert obj.calls == 1  # the error was sized and stored
    assert [type(v) for v in seen] == [KeyError]

    async def twice() -> list[str]:
        return [await proxy.later("ab"), await proxy.later("ab")]

    assert asyncio.run(twice()) == ["abab", "abab"]
    assert list(proxy.lines("x")) == list(proxy.lines("x")) == ["x", "x"]
    assert obj.calls == 3
    assert seen[1:] == ["abab", ("x", "x")]  # the awaited value; a recorded stream's items


@pytest.mark.parametrize("options", SIZED)
@pytest.mark.parametrize("size", [lambda value: len(value), lambda value: None, lambda value: -1])
def test_a_size_function_that_fails_never_fails_the_call(
    options: dict[str, Any], size: Any, caplog: pytest.LogCaptureFixture
) -> None:
    obj = Sized()
    proxy = CachedProxy(obj, maxsize=10, getsizeof=size, cache_exceptions=(KeyError,), **options)
    for _ in range(2):
        with pytest.raises(KeyError, match="gone"):  # the method's own error, not len()'s TypeError
            proxy.missing("gone")
    assert obj.calls == 2  # returned uncached
    assert proxy.missing.cache_info().currsize == 0
    assert "getsizeof=" in caplog.text
    assert "returned uncached" in caplog.text


@pytest.mark.parametrize("options", SIZED)
def test_maxsize_0_caches_nothing_even_of_size_0(client: CountingClient, options: dict[str, Any]) -> None:
    proxy = CachedProxy(client, maxsize=0, getsizeof=len, **options)
    assert not was_hit(proxy, "")
    assert not was_hit(proxy, "")
    assert proxy.echo.cache_info() == (0, 2, 0, 0)


# -- policy= a cachetools class ------------------------------------------------


@pytest.mark.parametrize(("cls", "policy"), [(cachetools.LRUCache, "lru"), (cachetools.FIFOCache, "fifo")])
@pytest.mark.parametrize("ttl", [None, 3600])
@settings(max_examples=60, deadline=None)
@given(calls=st.lists(st.integers(0, 6), max_size=60), maxsize=st.integers(1, 4))
def test_policy_class_matches_the_model(
    cls: type, policy: str, ttl: float | None, calls: list[int], maxsize: int
) -> None:
    proxy = CachedProxy(CountingClient(), maxsize=maxsize, policy=cls, ttl=ttl)
    model = Model(policy, maxsize)
    for key in calls:
        assert was_hit(proxy, key) == model.call(key), (policy, key)
    assert proxy.echo.cache_info().currsize == len(model.entries)
    assert held(proxy, range(7)) == set(model.entries)


def test_policy_cachetools_lfu_keeps_maxsize_as_an_option(client: CountingClient) -> None:
    proxy = CachedProxy(client, policy=cachetools.LFUCache, maxsize=2)
    proxy.echo(1)
    assert was_hit(proxy, 1)
    assert was_hit(proxy, 1)
    proxy.echo(2)
    assert not was_hit(proxy, 3)  # 2 has been used least
    assert proxy.echo.cache_info() == (2, 3, 2, 2)
    assert proxy.echo.cache_stats()["policy"] == "cachetools.LFUCache"
    assert proxy.echo.cache_parameters()["policy"] is cachetools.LFUCache
    assert held(proxy, range(5)) == {1, 3}


@pytest.mark.parametrize("cls", [cachetools.LRUCache, cachetools.TTLCache])
def test_policy_class_with_ttl_reads_the_clock_in_use(client: CountingClient, clock: FakeClock, cls: type) -> None:
    proxy = CachedProxy(client, policy=cls, maxsize=4, ttl=10)
    assert not was_hit(proxy, "a")
    clock.advance(9.5)
    assert was_hit(proxy, "a")
    clock.advance(1)
    assert not was_hit(proxy, "a")
    assert proxy.echo.cache_info().currsize == 1
    assert proxy.echo.cache_stats()["policy"] == f"cachetools.{cls.__name__}"


def test_policy_class_unbounded_and_zero(client: CountingClient) -> None:
    unbounded = CachedProxy(client, policy=cachetools.FIFOCache, maxsize=None)
    for v in range(300):
        unbounded.echo(v)
    assert all(was_hit(unbounded, v) for v in range(300))
    assert unbounded.echo.cache_info() == (300, 300, None, 300)
    nothing = CachedProxy(CountingClient(), policy=cachetools.LRUCache, maxsize=0)
    assert not was_hit(nothing, 1)
    assert not was_hit(nothing, 1)
    assert nothing.echo.cache_info() == (0, 2, 0, 0)


@pytest.mark.parametrize("ttl", [None, 60])
def test_policy_class_with_getsizeof_sizes_the_values(client: CountingClient, ttl: float | None) -> None:
    proxy = CachedProxy(client, policy=cachetools.LRUCache, maxsize=5, getsizeof=len, ttl=ttl)
    assert not was_hit(proxy, "abcdefgh")  # too large: returned, never stored
    assert not was_hit(proxy, "abcdefgh")
    assert not was_hit(proxy, "abc")
    assert was_hit(proxy, "abc")
    assert not was_hit(proxy, "de")
    assert proxy.echo.cache_info().currsize == 5
    assert not was_hit(proxy, "f")  # evicts "abc", the least recent
    assert held(proxy, ["abc", "de", "f"]) == {"de", "f"}


def test_policy_class_as_a_mixin_keyword() -> None:
    class Cached(CachingMixin, CountingClient, policy=cachetools.FIFOCache, maxsize=1):
        pass

    c = Cached()
    c.echo(1)
    c.echo(1)
    c.echo(2)
    c.echo(1)
    assert c.count("echo") == 3
    assert c.echo.cache_stats()["policy"] == "cachetools.FIFOCache"


@pytest.mark.parametrize(
    ("policy", "options", "message"),
    [
        (dict, {}, "a cachetools cache class"),
        (cachetools.TLRUCache, {}, "needs a ttu function"),
        (cachetools.TTLCache, {}, "needs ttl="),
        (cachetools.LRUCache, {"cache": dict}, "cannot be given with it"),
    ],
)
def test_policy_class_that_cannot_serve_fails_at_wrap_time(
    client: CountingClient, policy: Any, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        CachedProxy(client, policy=policy, **options)


def test_policy_class_whose_constructor_differs_fails_at_wrap_time(client: CountingClient) -> None:
    class Needy(cachetools.LRUCache):  # type: ignore[type-arg]
        def __init__(self, maxsize: float, *, flavour: str) -> None:
            super().__init__(maxsize)

    with pytest.raises(TypeError, match="pass cache= a factory"):
        CachedProxy(client, policy=Needy)


@pytest.mark.parametrize(
    ("factory", "label"),
    [(lambda: cachetools.RRCache(4), "cachetools.RRCache"), (dict, "custom")],
)
def test_statistics_name_the_mapping_from_cache(client: CountingClient, factory: Any, label: str) -> None:
    proxy = CachedProxy(client, cache=factory)
    proxy.echo(1)
    assert proxy.echo.cache_stats()["policy"] == label


MAPPING_HITS = {
    "policy=cachetools.LRUCache": {"policy": cachetools.LRUCache},
    "policy=cachetools.LFUCache": {"policy": cachetools.LFUCache},
    "cache=cachetools.RRCache": {"cache": lambda: cachetools.RRCache(8)},
    "cache=dict": {"cache": dict},
    "policy=cachetools.LRUCache, ttl": {"policy": cachetools.LRUCache, "ttl": 60},
}


@pytest.mark.parametrize("options", MAPPING_HITS.values(), ids=MAPPING_HITS.keys())
def test_a_hit_on_a_mapping_under_the_lock_is_read_where_it_is_called(
    client: CountingClient, options: dict[str, Any]
) -> None:
    """A cachetools cache or a mapping of yours changes on reads, so its hit takes the method's lock.

    That lock is made with the method (it is armed at once): the hit finds it,
    reads the mapping and returns, with no call into the miss path (which
    once took every such hit, a lock that did not exist yet raising TypeError,
    and keyed True by a key frozen twice, which cache_invalidate(True) missed).
    """
    proxy = CachedProxy(client, **options)
    assert proxy.echo(True) is True
    assert proxy.echo(1) == 1
    ran: list[str] = []

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            ran.append(f"{frame.f_code.co_filename}:{frame.f_code.co_name}")

    sys.setprofile(profile)
    try:
        assert proxy.echo(True) is True
    finally:
        sys.setprofile(None)
    ours = [name for name in ran if "proxycache" in name and "<proxycache cached method>" not in name]
    assert ours == []
    assert proxy.echo.cache_info().hits == 1
    assert proxy.echo.cache_invalidate(True) is True
    assert not was_hit(proxy, True)
    assert was_hit(proxy, 1)
