"""The lease benchmark (``python -m benchmarks.leases``) runs end to end in its quick mode; no timing is asserted."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import leases


def test_the_lease_benchmark_reports_both_stores(tmp_path: Path) -> None:
    results = leases.main(["--quick", "--json", str(tmp_path / "leases.json")])
    for store in ("disk", "redis"):
        row = results[store]
        assert set(row) == {"process_us", "store_us", "added_us"}, row
        assert row["process_us"] > 0
        assert row["store_us"] > 0
    assert json.loads((tmp_path / "leases.json").read_text()) == results
