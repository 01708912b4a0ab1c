"""The front cache staleness benchmark (``python -m benchmarks.front_staleness``) runs end to end in its quick mode.

No timing is asserted: only that both modes ran and the report has its shape.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import front_staleness


def test_the_staleness_benchmark_reports_both_modes(tmp_path: Path) -> None:
    results = front_staleness.main(["--quick", "--json", str(tmp_path / "staleness.json")])
    assert set(results) == {"tracking", "front_ttl"}
    for row in results.values():
        assert set(row) == {"rounds", "front_ttl_ms", "median_ms", "p90_ms", "max_ms"}, row
        assert row["rounds"] == 3
        assert 0 <= row["median_ms"] <= row["p90_ms"] <= row["max_ms"]
    assert json.loads((tmp_path / "staleness.json").read_text()) == results
    assert front_staleness.text(results).splitlines()[2].split()[0] == "tracking"
