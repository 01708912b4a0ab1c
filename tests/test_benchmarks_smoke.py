"""The benchmark runs end to end in its quick mode, so it never rots.

No timing is asserted here (speed belongs to benchmarks/): only that every
case runs or says why not, and that the table, JSON, Markdown and chart come out.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from benchmarks import bench, callgrind, importtime

ROOT = Path(__file__).resolve().parent.parent
OURS = ("CachedProxy", "cache_methods", "CachingMixin", "cached_method")


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("bench")
    args = ["--quick", "--rounds", "2", "--budget", "0.0005", "--quiet",
            "--json", str(out / "r.json"), "--markdown", str(out / "r.md")]
    # The disk-store cases make a temporary directory; keep it under pytest's
    # own, which pytest cleans up, instead of leaving it in /tmp.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tempfile, "tempdir", str(out))
        return bench.main(args), out


def test_every_case_runs_or_says_why(result: tuple[dict[str, Any], Path]) -> None:
    data, _ = result
    rows = data["cases"]
    assert {r["group"] for r in rows} == set(bench.GROUPS)
    for row in rows:
        assert "ERROR" not in row["note"], row
        if row["ns"] is None:
            assert row["note"].startswith(("not run:", "reference")), row
        else:
            assert row["ns"] > 0
            assert row["rounds"] == 2


def test_our_entry_points_are_measured_against_their_targets(result: tuple[dict[str, Any], Path]) -> None:
    rows = {r["id"]: r for r in result[0]["cases"]}
    assert rows["hit/lru_cache(obj.get)"]["ratio"] == 1.0
    for name in OURS:
        for group, target in (("hit", bench.c.HIT_TARGET), ("kw", bench.c.KEYWORD_TARGET)):
            row = rows[f"{group}/{name}"]
            assert row["target"] == target
            assert row["ratio"] > 0
            assert row["met"] in (True, False)
    for policy in ("lfu", "fifo", "rr", "ttl"):
        row = rows[f"policy/{policy}/cached_method"]
        assert row["ref"] == f"policy/{policy}/cachetools"
        assert row["met"] in (True, False)
    for name in OURS:
        miss = rows[f"miss/{name}"]
        assert (miss["base"], miss["ref"], miss["target"]) == ("miss/bare", "miss/cachetools", bench.c.MISS_TARGET)
        assert miss["net_ns"] is not None
        assert rows[f"key_attrs/{name}"]["ref"] == f"hit/{name}"
        assert rows[f"key_attrs/{name}"]["met"] in (True, False)
        assert rows[f"unhashable/{name}"]["ref"] == f"hit/{name}"
        assert rows[f"args3/{name}"]["ref"] == "args3/lru_cache(obj.get3)"
        assert rows[f"sdk/{name}"]["ref"] == "sdk/lru_cache(obj.query)"
        assert rows[f"sdk-messages/{name}"]["ref"] == f"hit/{name}"
    for policy in ("lru", "lfu", "fifo", "rr"):
        row = rows[f"evict/{policy}/CachedProxy"]
        assert row["ref"] == f"evict/{policy}/cachetools"
        assert row["met"] in (True, False)


def test_per_instance_setup_is_measured(result: tuple[dict[str, Any], Path]) -> None:
    rows = {r["id"]: r for r in result[0]["cases"]}
    construct = rows["setup/CachedProxy(obj)"]
    assert construct["ref"] == "setup/ObjectProxy(obj)"
    assert construct["target"] == bench.c.CONSTRUCT_TARGET
    for first in ("CachedProxy first", "cache_methods", "CachingMixin first", "cached_method first"):
        row = rows[f"setup/{first}"]
        assert row["ref"] == "setup/lru_cache wrap"
        assert row["target"] == bench.c.FIRST_ACCESS_TARGET
        assert row["net_ns"] is not None, row
        assert row["met"] in (True, False), row


def test_import_time_is_measured(result: tuple[dict[str, Any], Path]) -> None:
    first = result[0]["import"][0]
    assert first["label"].startswith("import proxycache")
    assert first["ms"] > 0
    assert first["met"] in (True, False)


def test_results_stay_out_of_the_checkout_unless_asked() -> None:
    assert ROOT not in bench.DEFAULT_JSON.resolve().parents
    assert bench.parse([]).json is None  # main() then writes to DEFAULT_JSON


@pytest.mark.skipif(callgrind.available() is not None, reason=str(callgrind.available()))
def test_callgrind_counts_instructions() -> None:
    rows = {r["id"]: r for r in callgrind.count({"hit", "miss"}, only={"hit/cache_methods", "miss/CachedProxy"})}
    floor, ours = rows["hit/lru_cache(obj.get)"], rows["hit/cache_methods"]
    assert floor["instructions"] > 100
    assert floor["ratio"] == 1.0
    assert ours["instructions"] > floor["instructions"]
    assert ours["ratio"] == pytest.approx(ours["instructions"] / floor["instructions"], rel=1e-2)
    miss = rows["miss/CachedProxy"]
    assert abs(miss["net"] - (miss["instructions"] - rows["miss/bare"]["instructions"])) <= 1
    assert miss["met"] in (True, False)


@pytest.mark.skipif(callgrind.available() is not None, reason=str(callgrind.available()))
def test_callgrind_counts_are_the_same_on_a_busy_machine() -> None:
    # The first access: the case whose count moved by thousands from run to run while the number of
    # calls came from a timing (the allocator's arenas and the dicts that resize amortize over it).
    only = {"setup/CachedProxy first"}

    def counts() -> dict[str, int]:
        return {r["id"]: r["instructions"] for r in callgrind.count({"setup"}, only=only)}

    quiet = counts()
    # Two processes spinning on the two cores: timings would stretch; the counts must not move.
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        loaded = counts()
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()
    assert quiet["setup/CachedProxy first"] > quiet["setup/CachedProxy(obj)"] > 1000
    assert loaded == quiet


def test_stores_are_compared_with_their_raw_reads(result: tuple[dict[str, Any], Path]) -> None:
    rows = {r["id"]: r for r in result[0]["cases"]}
    disk = rows["store/disk/cached"]
    assert disk["ns"] is not None, disk["note"]
    assert disk["ref"] == "store/disk/raw"
    assert rows["store/disk/raw"]["ns"] is not None


def test_memory_and_retention_are_reported(result: tuple[dict[str, Any], Path]) -> None:
    memory = result[0]["memory"]
    sizes = {m["label"]: m["bytes_per_entry"] for m in memory["bytes_per_entry"]}
    assert sizes["functools.lru_cache(obj.get)"] > 0
    for name in OURS:
        assert sizes[name] > 0
    freed = {k["label"]: k["freed"] for k in memory["retention"]}
    for name in OURS:
        assert freed[name] in ("at once", "after gc.collect()"), (name, freed[name])
    # The pattern the contract warns about is seen for what it is.
    assert freed["@functools.lru_cache on the class"] == "never (retained)"


def test_stores_across_processes_are_reported(result: tuple[dict[str, Any], Path]) -> None:
    fleet = result[0]["fleet"]
    for store in ("disk", "redis"):
        assert set(fleet["leases"][store]) == {"process_us", "store_us", "added_us"}
    for mode in ("tracking", "front_ttl"):
        row = fleet["front_staleness"][mode]
        assert row["rounds"] == 3
        assert 0 <= row["median_ms"] <= row["p90_ms"] <= row["max_ms"]


def test_json_and_markdown_are_written(result: tuple[dict[str, Any], Path]) -> None:
    data, out = result
    written = json.loads((out / "r.json").read_text())
    assert written["cases"] == data["cases"]
    assert written["machine"]["python"] == data["machine"]["python"]
    md = (out / "r.md").read_text()
    assert f"| {bench._md('functools.lru_cache(obj.get)  [floor]')} |" in md
    assert "bytes/entry" in md


def test_png_chart(result: tuple[dict[str, Any], Path]) -> None:
    # matplotlib is in the test extra: a missing one fails here rather than skipping.
    data, out = result
    bench.draw_png(data["cases"], out / "chart.png")
    assert (out / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_runs_as_a_module_from_the_repository_root(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--rounds", "1", "--budget", "0.0005",
         "--groups", "hit", "--no-memory", "--json", str(tmp_path / "r.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "functools.lru_cache(obj.get)  [floor]" in proc.stdout
    assert "round 1/1" in proc.stderr  # the progress indicator
    assert json.loads((tmp_path / "r.json").read_text())["settings"]["rounds"] == 1


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(SystemExit):
        bench.parse(["--groups", "hits"])


@pytest.mark.skipif(callgrind.available() is not None, reason=str(callgrind.available()))
def test_callgrind_counts_the_import() -> None:
    rows = importtime.import_instructions()
    ours, cold, deps, reference = (r["instructions"] for r in rows)
    assert 0 < ours < deps  # proxycache alone, over dependencies it does not count again
    assert ours < cold  # and the cold start: the same import, then a proxy and its first call
    assert reference > 0
    assert rows[0]["ratio_to_cachetools"] == pytest.approx(ours / reference, abs=0.01)
    assert "cachetools" in importtime.instructions_text(rows, markdown=True)
