"""The public API is what docs/api.md documents: no more, no less."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import proxycache

API_PAGE = Path(__file__).resolve().parent.parent / "docs" / "api.md"
_DIRECTIVE = re.compile(r"^::: (proxycache(?:\.\w+)*)\s*$", re.MULTILINE)

#: Public submodules, each documented in its own section of the API page.
SUBMODULES = ("proxycache.serializers", "proxycache.testing", "proxycache.typing")


def documented() -> dict[str, set[str]]:
    """Names documented per module (``proxycache`` or a public submodule)."""
    found: dict[str, set[str]] = {"proxycache": set(), **{m: set() for m in SUBMODULES}}
    for path in _DIRECTIVE.findall(API_PAGE.read_text(encoding="utf-8")):
        module, _, name = path.rpartition(".")
        assert module in found, f"docs/api.md documents {path}, outside the public modules"
        found[module].add(name)
    return found


def test_all_is_exactly_the_documented_api() -> None:
    assert set(proxycache.__all__) == documented()["proxycache"]
    assert len(proxycache.__all__) == len(set(proxycache.__all__)), "duplicates in __all__"


@pytest.mark.parametrize("module_name", SUBMODULES)
def test_public_submodules_match_their_section(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert set(module.__all__) == documented()[module_name]


@pytest.mark.parametrize("name", proxycache.__all__)
def test_every_public_name_exists_and_says_what_it_is(name: str) -> None:
    obj = getattr(proxycache, name)
    if name == "MISS":  # a sentinel value, documented by its module
        assert repr(obj) == "proxycache.MISS"
        return
    doc = getattr(obj, "__doc__", None)
    assert doc, f"proxycache.{name} has no docstring"
    assert doc.strip()


def test_private_modules_stay_private() -> None:
    public = {n for n in dir(proxycache) if not n.startswith("_")}
    # Everything importable without an underscore is in __all__, a public
    # submodule, or the logging import the package uses for its NullHandler.
    submodules = {m.rpartition(".")[2] for m in SUBMODULES}
    extra = public - set(proxycache.__all__) - submodules - {"annotations", "logging"}
    assert not extra, f"public but undocumented: {sorted(extra)}"
