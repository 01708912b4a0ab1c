"""Hit statistics kept in the store (``stats=True``): per namespace, summed over processes, cheap."""

from __future__ import annotations

import asyncio
import multiprocessing
from typing import Any

import pytest

from proxycache import RedisStore
from proxycache.__main__ import main

from .conftest import redis_stats_name

STATS_KINDS = ["memory", "disk", pytest.param("redis", marks=pytest.mark.redis),
               pytest.param("cluster", marks=pytest.mark.redis)]


@pytest.fixture(params=STATS_KINDS)
def counted(request: pytest.FixtureRequest, make_store: Any) -> Any:
    return make_store(request.param, stats=True)


def test_hits_and_saved_seconds_per_namespace(counted: Any) -> None:
    assert counted.stats is True
    assert counted.hit_stats() == {}
    counted.record_hit("app.Client.get", 0.25)
    counted.record_hit("app.Client.get", 0.5)
    counted.record_hit("app.Client.search@2")
    assert counted.hit_stats() == {
        "app.Client.get": (2, 0.75),
        "app.Client.search@2": (1, 0.0),
    }
    (got,) = counted.hit_stats("app.Client.get").values()
    assert (got.hits, got.saved_seconds) == (2, 0.75)  # named fields
    assert counted.hit_stats("nothing.here") == {}


def test_statistics_are_not_entries(counted: Any) -> None:
    counted.record_hit("app.Client.get", 1.0)
    assert list(counted.keys()) == []
    assert counted.clear() == 0
    assert counted.hit_stats()["app.Client.get"].hits == 1  # clearing entries keeps the history


def test_async_record(counted: Any) -> None:
    async def main() -> None:
        await counted.arecord_hit("ns", 2.0)
        await counted.arecord_hit("ns", 1.0)

    asyncio.run(main())
    assert counted.hit_stats() == {"ns": (2, 3.0)}


@pytest.mark.parametrize("saved", [-1.0, True, "1", float("nan"), float("inf")])
def test_saved_seconds_are_checked(counted: Any, saved: Any) -> None:
    with pytest.raises(ValueError, match="saved_seconds must be seconds >= 0"):
        counted.record_hit("ns", saved)


@pytest.mark.parametrize("kind", ["memory", "disk", pytest.param("redis", marks=pytest.mark.redis)])
def test_nothing_is_kept_when_stats_are_off(make_store: Any, kind: str) -> None:
    store = make_store(kind)
    assert store.stats is False
    store.record_hit("ns", 1.0)
    assert store.hit_stats() == {}


def _record(store: Any, n: int) -> None:
    for _ in range(n):
        store.record_hit("shared.ns", 0.5)


@pytest.mark.parametrize("kind", ["disk", pytest.param("redis", marks=pytest.mark.redis)])
def test_summed_over_processes(make_store: Any, kind: str) -> None:
    store = make_store(kind, stats=True)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_record, args=(store, 25)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert store.hit_stats() == {"shared.ns": (75, 37.5)}


# -- what it costs, on the wire -------------------------------------------------------


def counting_client(url: str) -> tuple[Any, list[bytes]]:
    """A real redis.Redis whose connections note every write to the socket (a round trip each)."""
    import redis

    sent: list[bytes] = []

    class Counting(redis.Connection):
        def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            sent.append(command if isinstance(command, bytes) else b"".join(command))
            super().send_packed_command(command, check_health)

    pool = redis.ConnectionPool.from_url(url, connection_class=Counting)
    return redis.Redis(connection_pool=pool), sent


@pytest.mark.redis
def test_a_hit_costs_one_round_trip_and_nothing_when_off(redis_server: str) -> None:
    client, sent = counting_client(redis_server)
    on, off = RedisStore(client, stats=True), RedisStore(client)
    client.ping()
    sent.clear()
    off.record_hit("ns", 1.0)
    assert sent == []
    on.record_hit("ns", 1.0)
    assert len(sent) == 1  # HINCRBY and HINCRBYFLOAT, pipelined
    assert b"HINCRBY" in sent[0]
    assert b"HINCRBYFLOAT" in sent[0]


@pytest.mark.redis
def test_a_stats_hash_someone_else_wrote_is_skipped(redis_server: str) -> None:
    import redis

    store = RedisStore(redis_server, stats=True)
    store.record_hit("good", 1.0)
    raw = redis.Redis.from_url(redis_server)
    assert raw.exists(redis_stats_name(store, "good"))  # the documented layout
    raw.hset(redis_stats_name(store, "forged"), mapping={"hits": "many", "saved_seconds": "1"})
    raw.hset(redis_stats_name(store, "negative"), mapping={"hits": "-5", "saved_seconds": "1"})
    assert store.hit_stats() == {"good": (1, 1.0)}


def test_inspect_shows_hits_and_saved_time(make_store: Any, capsys: pytest.CaptureFixture[str]) -> None:
    store = make_store("disk", stats=True)
    store.set("app.Client.get:" + "0" * 40, b"12345")
    for _ in range(4):
        store.record_hit("app.Client.get", 1.5)
    store.record_hit("app.gone.ns", 90.0)  # counted earlier, its entries since removed
    assert main(["inspect", f"disk:{store.path}"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["namespace", "entries", "size", "hits", "saved"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[3:]}
    assert rows["app.Client.get"] == ["1", "5", "B", "4", "6.00", "s"]
    assert rows["app.gone.ns"] == ["0", "0", "B", "1", "1.5", "min"]
    assert rows["(total)"] == ["1", "5", "B", "5", "1.6", "min"]
