"""mypy --strict accepts the public types as check_public_types.py uses them, and the file runs."""

from __future__ import annotations

import importlib
from pathlib import Path

import mypy.api as mypy_api  # in the test extra: this check never skips

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CHECKED = HERE / "check_public_types.py"


def test_mypy_accepts_the_typing_examples(tmp_path: Path) -> None:
    stdout, stderr, status = mypy_api.run(
        [
            "--strict",
            "--config-file", str(ROOT / "pyproject.toml"),
            "--cache-dir", str(tmp_path / "mypy-cache"),
            "--no-error-summary",
            "--show-error-codes",
            str(CHECKED),
        ]
    )
    assert status == 0, f"mypy reported:\n{stdout}{stderr}"
    assert stdout.strip() == ""


def test_the_typing_examples_run() -> None:
    module = importlib.import_module("tests.typing.check_public_types")
    assert module.catalog.item.cache_info().hits >= 1
    assert module.typed_client.get("a", page=2) == ["a", "a"]
