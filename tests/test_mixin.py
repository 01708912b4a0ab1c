"""``CachingMixin``: options as class keywords, per-instance lazy caches, clients it did not write."""

from __future__ import annotations

import gc
import pickle
import sqlite3
import weakref
from typing import Any

import pytest

from proxycache import CachingMixin, cache_clear, cache_info, cached_method

from .conftest import cached_function, is_cached


class Remote:
    """A client with its own ``__init__`` that knows nothing of caching."""

    def __init__(self, host: str, *, port: int = 80) -> None:
        self.host = host
        self.port = port
        self.calls: list[tuple[str, Any]] = []

    def get(self, x: Any) -> Any:
        self.calls.append(("get", x))
        return (self.host, x)

    def pair(self, x: Any) -> list[Any]:
        self.calls.append(("pair", x))
        return [self.get(x), self.get(x)]

    def put(self, x: Any) -> None:
        self.calls.append(("put", x))

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @staticmethod
    def version() -> str:
        return "1"

    @classmethod
    def named(cls, host: str) -> Remote:
        return cls(host)

    class Error(Exception):
        pass


class Cached(CachingMixin, Remote, maxsize=2):
    pass


class Fifo(Cached, policy="fifo"):
    pass


class Narrow(Cached, include=["pair"]):
    pass


def test_methods_are_cached_per_instance() -> None:
    a, b = Cached("a"), Cached("b")
    assert a.get(1) == a.get(1) == ("a", 1)
    assert b.get(1) == ("b", 1)
    assert a.calls == [("get", 1)]
    assert b.calls == [("get", 1)]
    assert a.get is not b.get
    assert cache_info(a)["get"].hits == 1
    assert cache_info(b)["get"].hits == 0


def test_the_clients_own_init_runs_untouched() -> None:
    obj = Cached("h", port=8080)
    assert (obj.host, obj.port, obj.url) == ("h", 8080, "http://h:8080")
    assert isinstance(obj, Remote)
    assert Cached.named("x").host == "x"  # a classmethod building an instance


def test_caches_are_created_lazily() -> None:
    obj = Cached("a")
    assert cache_info(obj) == {}
    assert set(vars(obj)) == {"host", "port", "calls"}
    obj.get(1)
    assert set(cache_info(obj)) == {"get"}


def test_methods_calling_each_other_hit_the_caches() -> None:
    obj = Cached("a")
    assert obj.pair(1) == [("a", 1), ("a", 1)]
    assert obj.calls == [("pair", 1), ("get", 1)]
    assert cache_info(obj)["get"].hits == 1
    obj.pair(1)
    assert obj.calls == [("pair", 1), ("get", 1)]


def test_options_are_class_keywords() -> None:
    obj = Cached("a")
    for i in range(3):
        obj.get(i)
    assert obj.get.cache_info().maxsize == 2
    assert obj.get.cache_info().currsize == 2
    assert Cached.cache_options().maxsize == 2


def test_subclasses_inherit_and_override_options() -> None:
    opts = Fifo.cache_options()
    assert (opts.maxsize, opts.policy) == (2, "fifo")
    assert Cached.cache_options().policy == "lru"
    obj = Fifo("a")
    assert obj.get.cache_parameters()["policy"] == "fifo"
    assert obj.get.cache_parameters()["maxsize"] == 2
    assert Cached("a").get.cache_parameters()["policy"] == "lru"


def test_unknown_keyword_fails_at_class_creation() -> None:
    with pytest.raises(TypeError, match=r"class Bad\(CachingMixin, ...\) got an unknown option 'maxsise'.*'maxsize'"):

        class Bad(CachingMixin, Remote, maxsise=3):
            pass


def test_bad_option_value_fails_at_class_creation() -> None:
    with pytest.raises(ValueError, match="unknown policy 'lur'"):

        class Bad(CachingMixin, Remote, policy="lur"):
            pass


class Tagged:
    """A base that takes class keywords of its own."""

    tag = ""

    def __init_subclass__(cls, tag: str = "", **kw: Any) -> None:
        super().__init_subclass__(**kw)
        cls.tag = tag

    def get(self, x: Any) -> Any:
        return (self.tag, x)


def test_keywords_that_are_not_options_reach_the_clients_own_bases() -> None:
    class Mine(CachingMixin, Tagged, tag="t", maxsize=3):
        pass

    obj = Mine()
    assert Mine.tag == "t"
    assert obj.get(1) == ("t", 1)
    assert obj.get.cache_info().maxsize == 3


def test_an_explicit_cached_method_keeps_its_own_options() -> None:
    class Base:
        @cached_method(maxsize=7)
        def special(self, x: Any) -> Any:
            return x

        def plain(self, x: Any) -> Any:
            return x

    class Mine(CachingMixin, Base, maxsize=3):
        pass

    obj = Mine()
    assert obj.special.cache_info().maxsize == 7
    assert obj.plain.cache_info().maxsize == 3


# -- overrides and super() -----------------------------------------------------


class Override(Cached):
    def get(self, x: Any) -> Any:
        self.calls.append(("override", x))
        return ("override", super().get(x))


class Deeper(Override):
    def get(self, x: Any) -> Any:
        self.calls.append(("deeper", x))
        return ("deeper", super().get(x))


def test_an_override_calling_super_keeps_both_caches() -> None:
    obj = Override("a")
    assert obj.get(1) == ("override", ("a", 1))
    assert obj.get(1) == ("override", ("a", 1))
    assert obj.calls == [("override", 1), ("get", 1)]
    info = cache_info(obj)
    assert info["get"].hits == 1
    assert info["Cached.get"].misses == 1
    # The parent's cache is its own: a direct super() call through another path hits it.
    assert super(Override, obj).get(1) == ("a", 1)
    assert cache_info(obj)["Cached.get"].hits == 1
    assert obj.get.__wrapped__ is vars(Override)["get"].func


def test_a_chain_of_overrides_keeps_one_cache_each() -> None:
    obj = Deeper("a")
    for _ in range(3):
        assert obj.get(1) == ("deeper", ("override", ("a", 1)))
    assert obj.calls == [("deeper", 1), ("override", 1), ("get", 1)]
    assert {k: v.misses for k, v in cache_info(obj).items()} == {"get": 1, "Override.get": 1, "Cached.get": 1}
    cache_clear(obj)
    obj.get(1)
    assert len(obj.calls) == 6  # every level was cleared, so every level ran again
    assert all(info.misses == 1 and info.hits == 0 for info in cache_info(obj).values())


def test_an_override_without_super_replaces_the_method() -> None:
    class Replaced(Cached):
        def get(self, x: Any) -> Any:
            return "replaced"

    obj = Replaced("a")
    assert obj.get(1) == obj.get(1) == "replaced"
    assert set(cache_info(obj)) == {"get"}
    assert obj.get.cache_info().hits == 1


# -- lifetime and pickling -------------------------------------------------------


def test_caches_are_freed_with_the_instance() -> None:
    gc.collect()
    gc.disable()
    try:
        obj = Override("a")
        obj.get(1)
        obj.pair(2)
        refs = [weakref.ref(obj)] + [weakref.ref(cached_function(f)) for f in vars(obj).values() if is_cached(f)]
        assert len(refs) == 4
        del obj
        assert [r() for r in refs] == [None] * 4
    finally:
        gc.enable()


def test_pickling_an_instance_carries_no_caches() -> None:
    obj = Override("a")
    obj.get(1)
    data = pickle.dumps(obj)
    twin = pickle.loads(data)
    assert (twin.host, twin.calls) == ("a", obj.calls)
    assert cache_info(twin) == {}
    assert twin.get(1) == ("override", ("a", 1))
    assert len(twin.calls) == len(obj.calls) + 2  # computed, not carried over


def test_a_method_of_a_temporary_instance_works() -> None:
    # The first access hands out a strongly bound callable, as a bound method is.
    assert Cached("a").get(1) == Cached("a").get(1)
    method = Cached("b").get
    method(1)
    method(1)
    assert method.cache_info().hits == 1


# -- clients that are C types -------------------------------------------------------


class Connection(CachingMixin, sqlite3.Connection, include=["rows", "execute"]):
    def rows(self, sql: str, *params: Any) -> list[Any]:
        self.queries = getattr(self, "queries", 0) + 1
        return self.execute(sql, params).fetchall()


def test_over_sqlite3_connection_via_factory() -> None:
    conn = sqlite3.connect(":memory:", factory=Connection)
    try:
        assert isinstance(conn, Connection)
        conn.execute("create table t (a int)")
        conn.execute("insert into t values (1), (2)")
        assert conn.rows("select a from t order by a") == [(1,), (2,)]
        assert conn.rows("select a from t order by a") == [(1,), (2,)]
        assert conn.queries == 1
        # execute returns a cursor, an iterator: never cached, a fresh one each call.
        first, second = conn.execute("select a from t"), conn.execute("select a from t")
        assert first is not second
        assert first.fetchall() == second.fetchall() == [(1,), (2,)]
        stats = conn.execute.cache_stats()
        assert stats["currsize"] == 0
        assert stats["uncached"] >= 4
        # Writes happen every time.
        conn.execute("insert into t values (3)")
        conn.execute.cache_clear()
        conn.rows.cache_invalidate("select a from t order by a")
        assert conn.rows("select a from t order by a") == [(1,), (2,), (3,)]
    finally:
        conn.close()


def test_sqlite3_connection_subclass_instances_are_freed() -> None:
    def make() -> weakref.ref[Any]:
        conn = sqlite3.connect(":memory:", factory=Connection)
        conn.rows("select 1")
        ref = weakref.ref(conn)
        conn.close()
        return ref

    gc.collect()
    gc.disable()
    try:
        ref = make()
        assert ref() is None
    finally:
        gc.enable()
