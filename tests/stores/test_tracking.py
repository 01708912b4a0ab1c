"""The front cache learns of other processes' writes from Redis (client tracking), or waits front_ttl."""

from __future__ import annotations

import gc
import pickle
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from proxycache import CachedProxy, RedisStore

from ..conftest import CountingClient
from .conftest import run_python

pytestmark = pytest.mark.redis


def eventually(check: Callable[[], bool], limit: float = 10.0) -> bool:
    """Poll *check* until it holds or *limit* seconds pass (a bound, not a timing assertion)."""
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def tracked(url: str, **settings: Any) -> RedisStore:
    store = RedisStore(url, front_maxsize=64, front_ttl=600, **settings)
    front = store.front
    assert front is not None
    assert eventually(lambda: front.tracking), "tracking was not established"
    return store


def settled_epoch(front: Any) -> int:
    """The front's epoch once the invalidations of the store's own writes have been heard.

    Those come too (the server tells of every write under the prefix), and on
    a loaded machine they may arrive after the write's call has returned.
    """
    epoch = front.epoch
    for _ in range(30):
        time.sleep(0.3)
        if front.epoch == epoch:
            break
        epoch = front.epoch
    return int(epoch)


def new_listeners(before: set[threading.Thread]) -> list[threading.Thread]:
    """The threads started since *before* that hear a server's invalidations (named so in thread dumps)."""
    return [t for t in threading.enumerate() if t not in before and t.name.startswith("proxycache tracking")]


def test_another_process_write_evicts_the_front_entry_at_once(redis_server: str) -> None:
    client = CountingClient()
    proxy = CachedProxy(client, store=tracked(redis_server), key_attrs=())
    assert proxy.echo("a") == "a"
    assert proxy.echo("a") == "a"  # from the front
    (name,) = RedisStore(redis_server).keys()
    # A process of its own rewrites the entry; front_ttl is ten minutes, so only tracking can tell us.
    run_python(
        "import pickle, sys; from proxycache import RedisStore; "
        "RedisStore(sys.argv[1]).set(sys.argv[2], pickle.dumps('written elsewhere'))",
        redis_server,
        name,
    )
    assert eventually(lambda: proxy.echo("a") == "written elsewhere")
    assert client.count("echo") == 1


def test_another_process_delete_evicts_too(redis_server: str) -> None:
    client = CountingClient()
    proxy = CachedProxy(client, store=tracked(redis_server), key_attrs=())
    proxy.get(1)
    RedisStore(redis_server).clear()
    assert eventually(lambda: (proxy.get(1), client.count("get"))[1] == 2)


def test_a_flush_empties_the_front(redis_server: str) -> None:
    import redis

    client = CountingClient()
    proxy = CachedProxy(client, store=tracked(redis_server), key_attrs=())
    proxy.get(1)
    redis.Redis.from_url(redis_server).flushall()
    assert eventually(lambda: (proxy.get(1), client.count("get"))[1] == 2)


def test_without_tracking_the_front_waits_front_ttl(redis_server: str) -> None:
    before = set(threading.enumerate())
    store = RedisStore(redis_server, front_maxsize=64, front_ttl=600, tracking=False)
    assert new_listeners(before) == []  # nothing listens
    assert store.front is not None
    assert not store.front.tracking
    client = CountingClient()
    proxy = CachedProxy(client, store=store, key_attrs=())
    proxy.echo("a")
    (name,) = store.keys()
    RedisStore(redis_server).set(name, pickle.dumps("written elsewhere"))
    time.sleep(0.3)
    assert proxy.echo("a") == "a"  # still the front's value: that is what front_ttl means


def test_keys_outside_the_prefix_do_not_evict(redis_server: str) -> None:
    import redis

    store = tracked(redis_server, prefix="app1:")
    client = CountingClient()
    proxy = CachedProxy(client, store=store, key_attrs=())
    proxy.echo("a")
    (name,) = store.keys()
    assert store.front is not None
    before = settled_epoch(store.front)
    other = RedisStore(redis_server, prefix="app2:")
    other.set(name, pickle.dumps("another application"))
    redis.Redis.from_url(redis_server).set("unrelated", b"1")
    time.sleep(0.3)
    assert store.front is not None
    assert store.front.epoch == before
    assert proxy.echo("a") == "a"


def test_tracking_comes_back_after_the_server_restarts(redis_process: Any) -> None:
    store = tracked(redis_process.url, retry_after=0.05)
    front = store.front
    assert front is not None
    client = CountingClient()
    proxy = CachedProxy(client, store=store, key_attrs=())
    proxy.get(1)
    redis_process.stop()
    assert eventually(lambda: not front.tracking)  # lost: the front was emptied, front_ttl rules again
    redis_process.start()
    assert eventually(lambda: front.tracking, limit=20)
    proxy.get(1)  # recomputed: the server lost its data with the restart
    proxy.get(1)
    (name,) = store.keys()
    RedisStore(redis_process.url).set(name, pickle.dumps("after the restart"))
    assert eventually(lambda: proxy.get(1) == "after the restart")


def test_closing_the_store_ends_the_listening_thread(redis_server: str) -> None:
    before = set(threading.enumerate())
    store = tracked(redis_server)
    (thread,) = new_listeners(before)
    store.close()
    thread.join(10)
    assert not thread.is_alive()


def test_dropping_the_store_ends_the_listening_thread(redis_server: str) -> None:
    before = set(threading.enumerate())
    store = tracked(redis_server)
    (thread,) = new_listeners(before)
    del store
    gc.collect()
    thread.join(10)
    assert not thread.is_alive()


def test_a_server_that_refuses_tracking_leaves_the_front_to_front_ttl(redis_server: str) -> None:
    import redis

    # An ACL user that may read and write the store's keys but not run CLIENT TRACKING.
    admin = redis.Redis.from_url(redis_server)
    admin.acl_setuser("app", enabled=True, passwords=["+pw"], keys=["proxycache:*"],
                      commands=["+@all", "-client"])
    try:
        port = redis_server.rsplit(":", 1)[1].split("/")[0]
        store = RedisStore(f"redis://app:pw@127.0.0.1:{port}/0", front_maxsize=64, front_ttl=600)
        # Its own thread, not one found among the running ones: refused at once, it may have ended already.
        thread = store._tracker._thread
        assert thread.name.startswith("proxycache tracking")
        thread.join(10)
        assert not thread.is_alive()  # gave up for good: asking again would not help
        assert store.front is not None
        assert not store.front.tracking
        proxy = CachedProxy(CountingClient(), store=store, key_attrs=())
        assert proxy.get(1) == (1, 1)
        assert proxy.get(1) == (1, 1)
        assert proxy.__wrapped__.count("get") == 1
    finally:
        admin.acl_deluser("app")
