"""The thread benchmark (``python -m benchmarks.threads``) runs end to end in its quick mode; no timing is asserted."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import threads


def test_the_thread_benchmark_reports_every_case_for_each_thread_count(tmp_path: Path) -> None:
    results = threads.main(["--quick", "--threads", "1,2", "--json", str(tmp_path / "threads.json")])
    assert "functools.lru_cache" in results
    assert "proxycache lru (default)" in results
    for row in results.values():
        assert set(row) == {"1", "2"}
        assert row["1"]["hits_per_s"] > 0
        assert row["1"]["scaling"] == 1.0
        assert row["2"]["hits_per_s"] > 0
    assert json.loads((tmp_path / "threads.json").read_text()) == results
