"""Clients nobody here wrote: ``xmlrpc.client.ServerProxy`` against a real server on 127.0.0.1, and ``sqlite3``."""

from __future__ import annotations

import sqlite3
import threading
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

import pytest

from proxycache import CachedProxy, CachingMixin, cache_clear, cache_info

# -- XML-RPC ---------------------------------------------------------------------------


class Server:
    """A SimpleXMLRPCServer in a thread that counts the HTTP requests it answers."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(SimpleXMLRPCRequestHandler):
            def do_POST(self) -> None:
                with owner.lock:
                    owner.requests.append(self.path)
                super().do_POST()

        self.server = SimpleXMLRPCServer(("127.0.0.1", 0), requestHandler=Handler, logRequests=False, allow_none=True)
        self.server.register_introspection_functions()
        self.server.register_function(lambda a, b: a + b, "add")
        self.server.register_function(lambda value: value, "echo")
        self.server.register_function(lambda: None, "nothing")
        self.server.register_function(lambda a, b: a * b, "math.mul")
        self.server.register_function(self._boom, "boom")
        self.counter = 0
        self.server.register_function(self._tick, "tick")
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def _boom(self, message: str) -> None:
        raise ValueError(message)

    def _tick(self) -> int:
        self.counter += 1
        return self.counter

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/RPC2"

    def count(self) -> int:
        with self.lock:
            return len(self.requests)


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.server.shutdown()
        srv.server.server_close()
        srv.thread.join(5)


@pytest.fixture
def remote(server: Server) -> Iterator[xmlrpc.client.ServerProxy]:
    with xmlrpc.client.ServerProxy(server.url, allow_none=True) as sp:
        yield sp


def test_a_repeated_call_makes_no_second_request(server: Server, remote: xmlrpc.client.ServerProxy) -> None:
    proxy = CachedProxy(remote)
    assert proxy.add(2, 3) == 5
    assert server.count() == 1
    assert proxy.add(2, 3) == 5
    assert server.count() == 1
    assert proxy.add(2, 4) == 6
    assert server.count() == 2
    info = cache_info(proxy)["add"]
    assert (info.hits, info.misses, info.currsize) == (1, 2, 2)


def test_arguments_keyed_by_value(server: Server, remote: xmlrpc.client.ServerProxy) -> None:
    proxy = CachedProxy(remote)
    payload = {"items": [1, 2, {"k": "v"}], "flag": True}
    assert proxy.echo(payload) == payload
    assert proxy.echo({"flag": True, "items": [1, 2, {"k": "v"}]}) == payload
    assert server.count() == 1
    assert proxy.nothing() is None
    assert proxy.nothing() is None  # None is a result like any other
    assert server.count() == 2


def test_system_list_methods_and_dotted_names(server: Server, remote: xmlrpc.client.ServerProxy) -> None:
    proxy = CachedProxy(remote)
    methods = proxy.system.listMethods()
    assert {"add", "echo", "math.mul", "system.listMethods"} <= set(methods)
    assert proxy.system.listMethods() == methods
    assert proxy.math.mul(3, 4) == proxy.math.mul(3, 4) == 12
    assert proxy.system.methodHelp("add") == proxy.system.methodHelp("add")
    assert server.count() == 3
    assert {"system.listMethods", "math.mul", "system.methodHelp"} <= set(cache_info(proxy))
    cache_clear(proxy, "math.mul")
    proxy.math.mul(3, 4)
    assert server.count() == 4


def test_include_a_dotted_remote_name(server: Server, remote: xmlrpc.client.ServerProxy) -> None:
    proxy = CachedProxy(remote, include=["system.listMethods", "add"])
    proxy.system.listMethods()
    proxy.system.listMethods()
    proxy.math.mul(1, 2)
    proxy.math.mul(1, 2)
    proxy.add(1, 1)
    proxy.add(1, 1)
    assert server.count() == 4  # listMethods once, mul twice, add once
    assert set(cache_info(proxy)) == {"system.listMethods", "add"}


def test_remote_faults_are_not_cached(server: Server, remote: xmlrpc.client.ServerProxy) -> None:
    proxy = CachedProxy(remote)
    for _ in range(2):
        with pytest.raises(xmlrpc.client.Fault, match="ValueError"):
            proxy.boom("bad")
    assert server.count() == 2


def test_remote_faults_are_cached_when_asked(server: Server, remote: xmlrpc.client.ServerProxy) -> None:
    proxy = CachedProxy(remote, cache_exceptions=xmlrpc.client.Fault)
    for _ in range(3):
        with pytest.raises(xmlrpc.client.Fault):
            proxy.boom("bad")
    assert server.count() == 1


def test_invalidate_and_refresh_go_to_the_server(server: Server, remote: xmlrpc.client.ServerProxy) -> None:
    proxy = CachedProxy(remote)
    assert proxy.tick() == 1
    assert proxy.tick() == 1
    assert proxy.tick.cache_refresh() == 2
    assert proxy.tick() == 2
    assert proxy.tick.cache_invalidate() is True
    assert proxy.tick() == 3
    assert server.count() == 3


def test_the_cached_callables_api_does_not_reach_the_server(server: Server, remote: xmlrpc.client.ServerProxy) -> None:
    proxy = CachedProxy(remote)
    proxy.add(1, 1)
    assert proxy.add.cache_info().misses == 1
    assert proxy.add.cache_parameters()["maxsize"] == 128
    proxy.add.cache_clear()
    assert server.count() == 1


def test_concurrent_identical_calls_make_one_request(server: Server, remote: xmlrpc.client.ServerProxy) -> None:
    # Single flight: one thread asks the server, the others wait for its answer.
    proxy = CachedProxy(remote)
    results: list[int] = []
    start = threading.Barrier(8)

    def call() -> None:
        start.wait()
        results.append(proxy.add(5, 5))

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [10] * 8
    assert server.count() == 1


def test_the_proxy_stays_a_server_proxy(server: Server, remote: xmlrpc.client.ServerProxy) -> None:
    proxy = CachedProxy(remote)
    assert isinstance(proxy, xmlrpc.client.ServerProxy)
    assert str(proxy) == str(remote)
    assert server.count() == 0


# -- sqlite3 ----------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(tmp_path / "test.db")
    conn.execute("create table t (a int, b text)")
    conn.executemany("insert into t values (?, ?)", [(1, "x"), (2, "y")])
    conn.commit()
    try:
        yield conn
    finally:
        conn.close()


class Repo:
    """A small data access object over a connection: its list-returning methods can be cached."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.queries = 0

    def rows(self, where: str = "1") -> list[tuple[Any, ...]]:
        self.queries += 1
        return self.conn.execute(f"select a, b from t where {where} order by a").fetchall()

    def cursor_for(self, sql: str) -> sqlite3.Cursor:
        self.queries += 1
        return self.conn.execute(sql)


def test_a_cursor_is_never_cached(db: sqlite3.Connection) -> None:
    proxy = CachedProxy(db, include=["execute"])
    first = proxy.execute("select a from t order by a")
    second = proxy.execute("select a from t order by a")
    assert first is not second
    assert first.fetchall() == [(1,), (2,)]
    assert second.fetchall() == [(1,), (2,)]  # not an exhausted shared iterator
    stats = proxy.execute.cache_stats()
    assert (stats["currsize"], stats["uncached"]) == (0, 2)


def test_cached_proxy_over_a_sqlite3_connection(db: sqlite3.Connection) -> None:
    proxy = CachedProxy(db, include=["execute", "total_changes"])
    assert isinstance(proxy, sqlite3.Connection)
    proxy.execute("insert into t values (3, 'z')")
    proxy.execute("insert into t values (3, 'z')")  # a cursor result: ran both times
    proxy.commit()
    assert db.execute("select count(*) from t").fetchone() == (4,)
    assert proxy.total_changes == db.total_changes  # an attribute, not a method
    with proxy:  # the connection's own context manager
        proxy.execute("insert into t values (4, 'w')")
    assert db.execute("select count(*) from t").fetchone() == (5,)


def test_a_method_returning_rows_is_cached(db: sqlite3.Connection) -> None:
    repo = CachedProxy(Repo(db), exclude=["cursor_for"])
    assert repo.rows() == [(1, "x"), (2, "y")]
    assert repo.rows() == [(1, "x"), (2, "y")]
    assert repo.rows("a > 1") == [(2, "y")]
    assert repo.queries == 2
    db.execute("insert into t values (3, 'z')")
    assert repo.rows() == [(1, "x"), (2, "y")]  # cached until told otherwise
    repo.rows.cache_invalidate()
    assert repo.rows() == [(1, "x"), (2, "y"), (3, "z")]
    # A method that returns a cursor runs every time, whatever the options.
    repo2 = CachedProxy(Repo(db))
    c1, c2 = repo2.cursor_for("select 1"), repo2.cursor_for("select 1")
    assert c1 is not c2
    assert c1.fetchall() == c2.fetchall() == [(1,)]
    assert repo2.queries == 2


class CachedConnection(CachingMixin, sqlite3.Connection, include=["rows", "execute"]):
    """CachingMixin over the C type, made by sqlite3.connect(..., factory=...)."""

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self.execute(sql).fetchall()


def test_caching_mixin_over_sqlite3_connection(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "mixin.db", factory=CachedConnection)
    try:
        assert isinstance(conn, CachedConnection)
        conn.execute("create table t (a int)")
        conn.execute("insert into t values (1)")
        assert conn.rows("select a from t") == conn.rows("select a from t") == [(1,)]
        info = cache_info(conn)
        assert (info["rows"].hits, info["rows"].misses) == (1, 1)
        assert info["execute"].currsize == 0  # cursors: never kept
        cursors = conn.execute("select a from t"), conn.execute("select a from t")
        assert cursors[0] is not cursors[1]
        conn.rows.cache_clear()
        conn.execute("insert into t values (2)")
        assert conn.rows("select a from t") == [(1,), (2,)]
    finally:
        conn.close()


# -- the default selection skips state-changing names (DEFAULT_SKIP) ----------------------


class Shop:
    """Reads and writes under the names real SDKs use."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def get_item(self, item: str) -> str:
        self.calls.append("get_item")
        return item

    def create_order(self, item: str) -> int:
        self.calls.append("create_order")
        return len(self.calls)

    def set_limit(self, n: int) -> None:
        self.calls.append("set_limit")

    def commit(self) -> None:
        self.calls.append("commit")

    def close(self) -> None:
        self.calls.append("close")


def _twice(obj: Any) -> list[str]:
    for _ in range(2):
        obj.get_item("x")
        obj.create_order("x")
        obj.set_limit(1)
        obj.commit()
        obj.close()
    return obj.calls  # type: ignore[no-any-return]


def test_each_skipped_method_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    # Once per selection, and proxies with the default options share one: an
    # option of its own gives this proxy a fresh selection, whatever ran before.
    shop = CachedProxy(Shop(), maxsize=64)
    with caplog.at_level(logging.DEBUG, logger="proxycache"):
        _twice(shop)
    messages = [r.getMessage() for r in caplog.records if r.name == "proxycache"]
    skipped = sorted(m.split("(")[0].removeprefix("not caching ") for m in messages if "DEFAULT_SKIP" in m)
    assert skipped == ["close", "commit", "create_order", "set_limit"]
    assert all(r.levelno == logging.DEBUG for r in caplog.records if "DEFAULT_SKIP" in r.getMessage())


def test_default_skip_applies_to_remote_names(server: Server, remote: xmlrpc.client.ServerProxy) -> None:
    # XML-RPC answers any name: a remote "create_user" is a write like any other.
    server.server.register_function(lambda name: f"made {name}", "create_user")
    proxy = CachedProxy(remote)
    proxy.create_user("ada")
    proxy.create_user("ada")
    proxy.echo(1)
    proxy.echo(1)
    assert server.count() == 3
    assert set(cache_info(proxy)) == {"echo"}


def test_sqlite_commit_is_never_a_hit(tmp_path: Path) -> None:
    path = tmp_path / "two.db"
    with sqlite3.connect(path) as setup:
        setup.execute("create table t (a int)")
    proxy = CachedProxy(sqlite3.connect(path))
    for value in (1, 2):
        proxy.execute("insert into t values (?)", (value,))
        proxy.commit()
    other = sqlite3.connect(path)
    try:
        assert other.execute("select count(*) from t").fetchone() == (2,)
    finally:
        other.close()
        proxy.close()
