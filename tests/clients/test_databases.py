"""sqlite3 and redis-py: reads are cached, transactions and handles are not."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

from proxycache import DEFAULT_SKIP, CachedProxy, cache_info


def test_sqlite_commit_runs_every_time(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    with sqlite3.connect(path) as setup:
        setup.execute("create table t (x integer)")
    db = CachedProxy(sqlite3.connect(path))
    for x in (1, 2):
        db.execute("insert into t values (?)", (x,))
        db.commit()  # a cached commit would run once: the second row never lands
    other = sqlite3.connect(path)
    assert other.execute("select count(*) from t").fetchone() == (2,)
    assert cache_info(db) == {}  # execute and commit are in DEFAULT_SKIP
    db.close()
    other.close()


def test_sqlite_reads_named_in_include(tmp_path: Path) -> None:
    # A cursor is one-shot even when execute is named: only values are stored.
    db = CachedProxy(sqlite3.connect(tmp_path / "db.sqlite"), include=["execute", "serialize"])
    db.execute("create table t (x integer)")
    assert db.execute.cache_stats()["uncached"] == 1
    if sys.version_info >= (3, 11):  # Connection.serialize() is new in 3.11
        assert db.serialize() is db.serialize()
        assert db.serialize.cache_info().hits == 1
    db.close()


def test_sqlite_with_block_gives_the_proxy(tmp_path: Path) -> None:
    raw = sqlite3.connect(tmp_path / "db.sqlite")
    with CachedProxy(raw) as db:
        assert isinstance(db, CachedProxy)
        db.execute("create table t (x integer)")
        db.execute("insert into t values (1)")
    # The connection's __exit__ committed: another connection sees the row.
    assert sqlite3.connect(tmp_path / "db.sqlite").execute("select x from t").fetchall() == [(1,)]
    raw.close()


def test_sqlite_cursor_and_rollback_are_left_alone(tmp_path: Path) -> None:
    db = CachedProxy(sqlite3.connect(tmp_path / "db.sqlite"))
    assert db.cursor() is not db.cursor()  # every caller its own cursor
    db.execute("create table t (x integer)")
    db.commit()
    db.execute("insert into t values (1)")
    db.rollback()
    db.execute("insert into t values (2)")
    db.rollback()
    assert db.execute("select count(*) from t").fetchone() == (0,)
    db.close()


def test_default_skip_names_the_surveyed_methods() -> None:
    import fnmatch

    def skipped(name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in DEFAULT_SKIP)

    for name in ("close", "commit", "rollback", "create_bucket", "delete_object", "update_item", "put_object",
                 "post", "send", "write_get_object_response", "set_trace_callback", "pipeline", "lock",
                 "generate_presigned_url", "cursor", "incr", "lpush", "setex"):
        assert skipped(name), name
    for name in ("get", "get_object", "list_objects_v2", "head_object", "search", "fetch", "read", "hgetall"):
        assert not skipped(name), name


# -- redis-py against a real redis-server ------------------------------------------------


@pytest.fixture
def redis_client(redis_server: str):  # type: ignore[no-untyped-def]
    import redis

    client = redis.Redis.from_url(redis_server)
    try:
        yield client
    finally:
        client.close()


def test_redis_reads_are_cached_and_writes_are_not(redis_client) -> None:  # type: ignore[no-untyped-def]
    r = CachedProxy(redis_client)
    r.set("k", "1")
    assert r.get("k") == b"1"
    redis_client.set("k", "2")  # another writer
    assert r.get("k") == b"1"  # cached read
    assert r.incr("counter") == 1
    assert r.incr("counter") == 2  # a write runs every time
    assert set(cache_info(r)) == {"get"}


def test_redis_answers_meant_to_differ_per_call_are_not_cached(redis_client) -> None:  # type: ignore[no-untyped-def]
    # A health check that answers from a cache says nothing about the server; the server's clock and
    # its random picks are meant to change from call to call.
    r = CachedProxy(redis_client)
    redis_client.sadd("s", *range(50))
    redis_client.mset({f"k{n}": n for n in range(50)})
    assert r.ping() is True
    clocks = [r.time() for _ in range(3)]
    assert len(set(clocks)) == 3
    assert len({r.randomkey() for _ in range(20)}) > 1
    assert len({r.srandmember("s") for _ in range(20)}) > 1
    assert cache_info(r) == {}


def test_redis_pipeline_and_lock_are_per_caller(redis_client) -> None:  # type: ignore[no-untyped-def]
    r = CachedProxy(redis_client)
    first, second = r.pipeline(), r.pipeline()
    assert first is not second
    first.set("a", 1)
    second.set("b", 2)
    assert first.execute() == [True]  # a shared pipeline would hold both commands
    assert second.execute() == [True]
    lock_a, lock_b = r.lock("name", timeout=5), r.lock("name", timeout=5)
    assert lock_a is not lock_b
    assert lock_a.acquire(blocking=False)
    assert not lock_b.acquire(blocking=False)
    lock_a.release()
    assert cache_info(r) == {}


def test_redis_include_caches_a_named_write_on_purpose(redis_client) -> None:  # type: ignore[no-untyped-def]
    # A name given in include= is cached even when DEFAULT_SKIP lists it.
    r = CachedProxy(redis_client, include=["incr"])
    assert r.incr("n") == r.incr("n") == 1
    assert redis_client.get("n") == b"1"


def test_the_docs_list_every_default_skip_pattern() -> None:
    import re

    page = (Path(__file__).resolve().parents[2] / "docs" / "real-clients.md").read_text(encoding="utf-8")
    section = page.split("<!-- skip-list:start -->")[1].split("<!-- skip-list:end -->")[0]
    assert re.findall(r"`([^`]+)`", section) == list(DEFAULT_SKIP)
