"""``python -m proxycache inspect`` and ``clear`` on real stores, and the demo with a store."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from proxycache import CachedProxy, StoreWarning
from proxycache.__main__ import demo, main

from .conftest import REPO, redis_name, redis_stats_name


class Geo:
    def lookup(self, place: str) -> dict[str, str]:
        return {"place": place, "padding": "x" * 100}

    def near(self, place: str) -> list[str]:
        return [place]


def fill(store: Any) -> None:
    geo = CachedProxy(Geo(), store=store, key_attrs=())
    for place in ("Oslo", "Lima", "Pune"):
        geo.lookup(place)
    geo.near("Oslo")
    CachedProxy(Geo(), store=store, key_attrs=(), namespace="custom.ns", version=3).lookup("Oslo")


def spec_of(store: Any) -> str:
    return f"disk:{store.path}" if store.kind == "disk" else str(store.url)


def cli(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_inspect_lists_namespaces_counts_and_sizes(bytes_store: Any, capsys: pytest.CaptureFixture[str]) -> None:
    fill(bytes_store)
    code, out, err = cli("inspect", spec_of(bytes_store), capsys=capsys)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"store: {bytes_store!r}"
    assert lines[1].split() == ["namespace", "entries", "size"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[3:]}
    assert rows[f"{__name__}.Geo.lookup"][0] == "3"
    assert rows[f"{__name__}.Geo.near"][0] == "1"
    assert rows["custom.ns@3"][0] == "1"
    assert rows["(total)"][0] == "5"
    assert rows[f"{__name__}.Geo.lookup"][2] in ("B", "KiB")
    # No argument values in the listing.
    assert "Oslo" not in out


def test_inspect_one_namespace(bytes_store: Any, capsys: pytest.CaptureFixture[str]) -> None:
    fill(bytes_store)
    code, out, _ = cli("inspect", spec_of(bytes_store), "--namespace", "custom.ns@3", capsys=capsys)
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()[3:]] == ["custom.ns@3"]
    code, out, _ = cli("inspect", spec_of(bytes_store), "--namespace", "nothing.here", capsys=capsys)
    assert code == 0
    assert "no entries in namespace 'nothing.here'" in out


def test_clear_one_namespace_then_everything(bytes_store: Any, capsys: pytest.CaptureFixture[str]) -> None:
    fill(bytes_store)
    ns = f"{__name__}.Geo.lookup"
    code, out, _ = cli("clear", spec_of(bytes_store), "--namespace", ns, capsys=capsys)
    assert code == 0
    assert out.startswith(f"removed 3 entries from namespace '{ns}'")
    assert list(bytes_store.keys(ns)) == []
    assert len(list(bytes_store.keys(None))) == 2
    code, out, _ = cli("clear", spec_of(bytes_store), capsys=capsys)
    assert code == 0
    assert out.startswith("removed 2 entries from")
    assert list(bytes_store.keys(None)) == []


@pytest.mark.redis
def test_redis_clear_leaves_other_applications_keys_alone(
    redis_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import redis

    from proxycache import RedisStore

    store = RedisStore(redis_server)
    fill(store)
    other = redis.Redis.from_url(redis_server)
    other.set("someone:else", b"keep me")
    assert cli("clear", redis_server, capsys=capsys)[0] == 0
    assert other.get("someone:else") == b"keep me"
    code, out, _ = cli("inspect", redis_server, capsys=capsys)
    assert code == 0
    assert "no entries" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("inspect", "ftp://x"), "unknown store 'ftp://x'"),
        (("inspect", "disk:"), "disk: needs a directory"),
        (("inspect", "memory"), "lives inside one process"),
        (("clear", "disk:/nonexistent/proxycache"), "no disk store at /nonexistent/proxycache"),
        (("inspect", "redis://127.0.0.1:1/0"), "cannot reach RedisStore('redis://127.0.0.1:1/0')"),
    ],
)
def test_bad_input_is_one_line_and_status_2(
    args: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(*args, capsys=capsys)
    assert code == 2
    assert out == ""
    assert err.startswith("proxycache: error: ")
    assert message in err
    assert err.count("\n") == 1


def test_a_directory_that_is_no_store_is_not_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "not-yet"
    code, _, err = cli("inspect", f"disk:{target}", capsys=capsys)
    assert code == 2
    assert "no disk store" in err
    assert not target.exists()


def test_commands_run_as_a_module(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    from proxycache import DiskStore

    fill(DiskStore(store_dir))
    done = subprocess.run(
        [sys.executable, "-m", "proxycache", "inspect", f"disk:{store_dir}"],
        capture_output=True, text=True, cwd=REPO, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "custom.ns@3" in done.stdout


def test_demo_with_a_store_hits_on_the_second_run(bytes_store: Any) -> None:
    spec = spec_of(bytes_store)
    first, second = io.StringIO(), io.StringIO()
    assert demo(spec, 0.0, out=first) == 0
    assert demo(spec, 0.0, out=second) == 0
    assert "miss (called the client)" in first.getvalue()
    assert "miss" not in second.getvalue().split("statistics")[0]
    assert "the client was called 0 times" in second.getvalue()


def test_demo_says_why_the_store_failed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the store's directory should be")
    out = io.StringIO()
    with pytest.warns(StoreWarning, match="not a directory"):
        assert demo(f"disk:{blocker / 'store'}", 0.0, out=out) == 0
    assert "the client was called 6 times" in out.getvalue()
    err = capsys.readouterr().err
    # Per call: the read, the single-flight lease and the write.
    assert "the store failed 18 times (not a directory); every call still ran, uncached" in err


@pytest.mark.parametrize("kind", [pytest.param(k, marks=pytest.mark.redis) for k in ("redis", "cluster")])
def test_inspect_and_hit_stats_skip_keys_of_another_type_under_the_prefix(
    kind: str, make_store: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    store = make_store(kind, stats=True)
    fill(store)
    good = f"{__name__}.Geo.lookup"
    CachedProxy(Geo(), store=store, key_attrs=()).lookup("Oslo")  # a hit, counted
    # Someone else's keys, shaped like proxycache's: a list under an entry's name, a string under a stats name.
    store.client.rpush(redis_name(store, "app.Other.get:" + "0" * 40), b"x")
    store.client.set(redis_stats_name(store, "app.Other.get"), b"not a hash")
    code, out, err = cli("inspect", store.url, capsys=capsys)
    assert (code, err) == (0, "")
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[3:]}
    assert rows[good][0] == "3"
    assert rows[good][3] == "1"  # its hits
    assert "app.Other.get" not in rows
    assert set(store.hit_stats()) == {good}
    assert store.hit_stats("app.Other.get") == {}


def test_disk_inspect_with_a_stats_table_someone_else_made(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from proxycache import DiskStore

    store = DiskStore(tmp_path / "disk")
    fill(store)
    store.cache._sql("CREATE TABLE proxycache_stats (namespace TEXT, n INTEGER)")
    assert store.hit_stats() == {}
    code, out, err = cli("inspect", spec_of(store), capsys=capsys)
    assert (code, err) == (0, "")
    assert f"{__name__}.Geo.lookup" in out
