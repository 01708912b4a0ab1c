"""One suite, every store: the shipped conformance suite, then what only the built-in stores promise."""

from __future__ import annotations

import copy
import os
import pickle
import threading
from typing import Any

import pytest

from proxycache import MISS, CachedProxy
from proxycache.testing import StoreConformance

from ..conftest import CountingClient
from .conftest import run_python

NS = "tests.Conformance.get"


def key(n: Any, ns: str = NS) -> str:
    return f"{ns}:{n:040x}" if isinstance(n, int) else f"{ns}:{n}"


class TestEveryStore(StoreConformance):
    """``proxycache.testing.StoreConformance`` against each kind of store (the ``store`` fixture)."""


# -- the built-in stores -----------------------------------------------------------


def test_built_in_stores_are_shared(store: Any) -> None:
    assert store.shared is True


def test_copy_is_the_same_store_and_pickle_reopens_it(store: Any) -> None:
    assert copy.copy(store) is store
    assert copy.deepcopy(store) is store
    store.set(key(1), b"x")
    clone = pickle.loads(pickle.dumps(store))
    assert type(clone) is type(store)
    if store.kind == "memory":
        assert clone.get(key(1)) is MISS  # entries never travel
    else:
        assert clone.get(key(1)) == b"x"  # same directory / server


def test_statistics_name_the_kind_of_store(store: Any, client: CountingClient) -> None:
    proxy = CachedProxy(client, store=store, key_attrs=("base",))
    proxy.get(1)
    assert proxy.get.cache_stats()["policy"] == store.kind
# -- what a store holds cannot lie ---------------------------------------------------
#
# Each test below would return another key's value, or create a file, if its fix regressed.


class Auth:
    """Answers that must never move from one key to another."""

    def __init__(self) -> None:
        self.calls = 0

    def is_admin(self, user: str) -> bool:
        self.calls += 1
        return user == "root"

    def is_banned(self, user: str) -> bool:
        self.calls += 1
        return user != "root"


def new_key(store: Any, namespace: str | None, call: Any) -> str:
    """The store key that *call* () writes under *namespace* (anywhere when None)."""
    before = set(store.keys(namespace))
    call()
    (added,) = set(store.keys(namespace)) - before
    return str(added)


def test_a_signed_entry_copied_to_another_key_is_rejected(bytes_store: Any) -> None:
    from proxycache.serializers import PickleSerializer, SignatureError

    def auth(**options: Any) -> Any:
        return CachedProxy(Auth(), store=bytes_store, key_attrs=(), serializer=PickleSerializer(secret="k"), **options)

    writer = auth()
    root = new_key(bytes_store, None, lambda: writer.is_admin("root"))
    admin_ns = root.rpartition(":")[0]
    mallory = new_key(bytes_store, admin_ns, lambda: writer.is_admin("mallory"))
    # Same key, another method: is_banned("mallory") is True, and must not answer is_admin("mallory").
    banned = new_key(bytes_store, None, lambda: writer.is_banned("mallory"))
    assert banned.rpartition(":")[0] != admin_ns
    assert root.rpartition(":")[2] != mallory.rpartition(":")[2] == banned.rpartition(":")[2]

    for source in (root, banned):
        bytes_store.set(mallory, bytes_store.get(source))
        reader = auth()
        assert reader.is_admin("mallory") is False  # recomputed, never the copied True
        assert reader.calls == 1
        assert reader.is_admin.cache_stats()["faults"] == 1
        assert reader.is_admin("mallory") is False  # the recomputed entry replaced the copy
        assert reader.calls == 1

    # Across versions: version=2's namespace does not take version 1's bytes either.
    v2 = auth(version=2)
    v2_mallory = new_key(bytes_store, None, lambda: v2.is_admin("mallory"))
    assert v2_mallory.rpartition(":")[0] != admin_ns
    bytes_store.set(v2_mallory, bytes_store.get(root))
    reader = auth(version=2)
    assert reader.is_admin("mallory") is False
    assert reader.is_admin.cache_stats()["faults"] == 1
    with pytest.raises(SignatureError):
        PickleSerializer(secret="k").loads(bytes_store.get(root), key=mallory)


def test_keys_have_the_documented_layout(store: Any) -> None:
    proxy = CachedProxy(Auth(), store=store, key_attrs=(), namespace="a:b", version=3)
    proxy.is_admin("root")
    (stored,) = store.keys("a:b@3")
    namespace, _, digest = stored.rpartition(":")
    assert namespace == "a:b@3"
    assert len(digest) == 40
    assert set(digest) <= set("0123456789abcdef")


def test_clearing_a_namespace_spares_namespaces_that_start_alike(store: Any) -> None:
    # "a" and "a:b" overlap as prefixes: "a:" + "b:<digest>" must not count as namespace a.
    store.set(key(1, "a"), b"a")
    store.set(key(1, "a:b"), b"ab")
    store.set(key(2, "a:" + "0" * 40), b"a0")
    assert list(store.keys("a")) == [key(1, "a")]
    assert dict(store.scan("a")) == {key(1, "a"): 1}
    assert store.clear("a") == 1
    assert store.get(key(1, "a:b")) == b"ab"
    assert store.get(key(2, "a:" + "0" * 40)) == b"a0"
    assert sorted(store.keys("a:b")) == [key(1, "a:b")]


def test_clearing_everything_spares_entries_proxycache_did_not_write(bytes_store: Any) -> None:
    import diskcache
    import redis

    bytes_store.set(key(1), b"ours")
    foreign = ["settings", "someone:else", "ns:not-a-digest", "ns:" + "A" * 40, "ns:" + "0" * 41]
    if bytes_store.kind == "disk":
        other = diskcache.Cache(bytes_store.path)
        for name in foreign:
            other.set(name, b"theirs")
        other.set(("a", "tuple", "key"), b"theirs")  # a pickled key
        survivors = lambda: sum(1 for _ in other.iterkeys())  # noqa: E731
    else:
        client = redis.Redis.from_url(bytes_store.url)
        for name in foreign:
            client.set(bytes_store.prefix + name, b"theirs")
        survivors = lambda: len(client.keys("*"))  # noqa: E731
    assert list(bytes_store.keys()) == [key(1)]
    assert bytes_store.clear() == 1
    assert bytes_store.get(key(1)) is MISS
    assert survivors() == len(foreign) + (bytes_store.kind == "disk")


class Planted:
    """Unpickling this creates *path*: the proof that a pickle ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.path, "w"))


def test_disk_store_never_unpickles_what_diskcache_wrote(tmp_path: Any, make_store: Any) -> None:
    """A row written with diskcache's own pickling (a value, or a key) is refused before it is read."""
    import diskcache

    from proxycache.serializers import PickleSerializer

    store = make_store("disk")
    marker = tmp_path / "pwned"
    small = Planted(str(marker))  # pickled into the database row
    large = [Planted(str(marker)) for _ in range(20_000)]  # pickled into a value file
    # A secret does not help if diskcache unpickles before proxycache checks the signature.
    for serializer, planted in [(None, small), (PickleSerializer(secret="k"), small), (None, large)]:
        client = CountingClient()
        proxy = CachedProxy(client, store=store, key_attrs=(), serializer=serializer, namespace="planted")
        assert proxy.get(1) == (1, 1)
        (name,) = store.keys("planted")
        planter = diskcache.Cache(store.path)
        planter.set(name, planted)
        planter.set(Planted(str(marker)), b"x")  # a pickled key
        assert proxy.get(1) == (1, 1)  # a miss, recomputed...
        assert client.count("get") == 2
        assert proxy.get.cache_stats()["faults"] == 1  # ...and counted as a fault
        assert not marker.exists()
        assert proxy.get(1) == (1, 1)  # the recomputed entry replaced the planted one
        assert client.count("get") == 2
        planter.set(name, Planted(str(marker)))
        assert list(store.keys()) == [name]
        assert dict(store.scan()).keys() == {name}
        assert store.clear() == 1
        assert not marker.exists()
        planter.close()
    # The command-line tools, in a process of their own, read nothing either.
    planter = diskcache.Cache(store.path)
    planter.set(name, Planted(str(marker)))
    tool = "from proxycache.__main__ import main; raise SystemExit(main())"
    for command in ("inspect", "clear"):
        done = run_python(tool, command, f"disk:{store.path}")
        assert "planted" in done.stdout or "removed 1 entry" in done.stdout
    assert not marker.exists()
    planter.close()


def test_disk_store_neither_reads_nor_deletes_files_outside_its_directory(tmp_path: Any, make_store: Any) -> None:
    import diskcache

    store = make_store("disk")
    client = CountingClient()
    proxy = CachedProxy(client, store=store, key_attrs=(), namespace="escape")
    proxy.get(1)
    (name,) = store.keys("escape")
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"not yours")
    planter = diskcache.Cache(store.path)
    # A forged row: the entry's value "lives" in a file outside the store's directory.
    planter._sql("UPDATE Cache SET mode = 2, filename = ?, value = NULL WHERE key = ?", ("../outside.txt", name))
    planter.close()
    assert proxy.get(1) == (1, 1)
    assert client.count("get") == 2
    assert proxy.get.cache_stats()["faults"] == 1
    planter = diskcache.Cache(store.path)
    planter._sql("UPDATE Cache SET mode = 2, filename = ?, value = NULL WHERE key = ?", ("../outside.txt", name))
    planter.close()
    assert store.clear("escape") == 1
    assert outside.read_bytes() == b"not yours"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_disk_store_value_file_that_is_not_a_regular_file_is_a_miss_not_a_hang(make_store: Any) -> None:
    store = make_store("disk")
    client = CountingClient()
    proxy = CachedProxy(client, store=store, key_attrs=(), namespace="fifo")
    big = "x" * 100_000  # large enough for diskcache to keep it in a value file
    proxy.echo(big)
    (filename,) = store.cache._sql("SELECT filename FROM Cache WHERE filename IS NOT NULL").fetchone()
    path = os.path.join(store.path, filename)
    os.remove(path)
    os.mkfifo(path)  # opening it for reading would wait for a writer that never comes
    answers: list[Any] = []
    reader = threading.Thread(target=lambda: answers.append(proxy.echo(big)), daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():  # unblock the reader so the test run can go on, then fail
        with open(path, "wb"):
            pass
        pytest.fail("the reader blocked on a FIFO named by the store's row")
    assert answers == [big]
    assert client.count("echo") == 2
    assert proxy.echo.cache_stats()["faults"] == 1
