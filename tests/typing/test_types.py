"""mypy --strict and pyright --strict accept the public types as check_public_types.py uses them, and it runs."""

from __future__ import annotations

import importlib
from pathlib import Path

from .checkers import run_mypy, run_pyright

CHECKED = Path(__file__).resolve().parent / "check_public_types.py"


def test_mypy_accepts_the_typing_examples(tmp_path: Path) -> None:
    errors = run_mypy([CHECKED], tmp_path)
    assert not errors, "mypy reported:\n" + "\n".join(errors)


def test_pyright_accepts_the_typing_examples(tmp_path: Path) -> None:
    errors = run_pyright([CHECKED], tmp_path, strict=True)
    assert not errors, "pyright reported:\n" + "\n".join(errors)


def test_the_typing_examples_run() -> None:
    module = importlib.import_module("tests.typing.check_public_types")
    assert module.catalog.item.cache_info().hits >= 1
    assert module.proxy.get("a", page=2) == ["a", "a"]
    assert module.Catalog.convert.cache_info().misses == 1
    assert module.proxy.get("b") == ["b"]
    before = module.cache_info(module.proxy, "get")
    assert module.proxy.get("b") == ["b"]
    assert module.cache_info(module.proxy, "get").hits == before.hits + 1
