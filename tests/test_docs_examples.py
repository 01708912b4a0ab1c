"""Every ```python example in README.md and docs/ runs, page by page, and type-checks.

The blocks of one page run in order in one module namespace (a page reads as
one session), in a fresh temporary directory. A block is skipped only when the
line before its fence is ``<!-- no-test -->``. A page with a block marked
``<!-- requires: redis -->`` gets a real redis-server, whose URL examples read
from the ``REDIS_URL`` environment variable; without ``redis-server`` such a
page is skipped, unless ``PROXYCACHE_REQUIRE_REDIS=1`` (as in CI), where it
fails. A page with a block marked ``<!-- requires: http -->`` gets the fake
server of ``tests/clients`` on 127.0.0.1, announced through the variables
the SDKs read themselves (``OPENAI_BASE_URL``, ``AWS_ENDPOINT_URL``) and
``API_URL`` for plain HTTP clients.

The same blocks, one module per page, pass mypy --strict and pyright, so
what the docs show is what a typed project can write.
"""

from __future__ import annotations

import logging
import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)")
_MARK = re.compile(r"^\s*<!--\s*(?P<what>no-test|requires:\s*[\w, -]+)\s*-->\s*$")


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the first code line
    code: str
    skip: bool
    requires: frozenset[str]


def blocks_of(path: Path) -> list[Block]:
    """The ```python blocks of a Markdown file, with the marker comment before each."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = len(m["indent"]), m["fence"], m["lang"].lower()
        start = i + 1
        j = start
        while j < len(lines) and not lines[j].strip().startswith(fence):
            j += 1
        if lang in ("python", "py", "python3"):
            code = "\n".join(line[indent:] for line in lines[start:j])
            mark = _marker_before(lines, i)
            found.append(
                Block(
                    path=path,
                    line=start + 1,
                    code=code,
                    skip=mark == "no-test",
                    requires=_requires(mark),
                )
            )
        i = j + 1
    return found


def _marker_before(lines: list[str], fence_index: int) -> str | None:
    k = fence_index - 1
    while k >= 0 and not lines[k].strip():
        k -= 1
    if k < 0:
        return None
    m = _MARK.match(lines[k])
    return m["what"].strip() if m else None


def _requires(mark: str | None) -> frozenset[str]:
    if not mark or not mark.startswith("requires:"):
        return frozenset()
    return frozenset(p.strip() for p in mark.split(":", 1)[1].split(",") if p.strip())


def _page_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _pages_with_examples() -> list[Path]:
    return [p for p in PAGES if any(not b.skip for b in blocks_of(p))]


# The stores' fixtures start one redis-server per session (and fail, not skip,
# without one when PROXYCACHE_REQUIRE_REDIS=1); importing them makes them ours.
from .clients.conftest import server  # noqa: E402, F401  (the fake HTTP server)
from .stores.conftest import _redis_session, redis_server  # noqa: E402, F401

# -- the test ---------------------------------------------------------------


@pytest.mark.parametrize("path", _pages_with_examples(), ids=_page_id)
def test_examples_run(
    path: Path,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    blocks = [b for b in blocks_of(path) if not b.skip]
    assert blocks, f"{_page_id(path)} has no runnable example"
    if any("redis" in b.requires for b in blocks):
        monkeypatch.setenv("REDIS_URL", request.getfixturevalue("redis_server"))
    if any("http" in b.requires for b in blocks):
        url = request.getfixturevalue("server").url
        for name, value in {
            "API_URL": url,
            "OPENAI_BASE_URL": f"{url}/v1",
            "OPENAI_API_KEY": "test",
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        }.items():
            monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    # A real module, so classes defined in examples pickle (disk and Redis stores).
    name = "docs_example_" + re.sub(r"\W", "_", _page_id(path))
    module = types.ModuleType(name)
    monkeypatch.setitem(sys.modules, name, module)
    # Examples may configure logging as an application would; keep that to this page.
    package_logger = logging.getLogger("proxycache")
    saved = (package_logger.level, logging.root.level, logging.root.handlers[:])
    ran = 0
    try:
        for block in blocks:
            # Pad with newlines so tracebacks give the Markdown file's line numbers.
            code = compile("\n" * (block.line - 1) + block.code, str(block.path), "exec")
            exec(code, module.__dict__)
            ran += 1
    finally:
        package_logger.setLevel(saved[0])
        logging.root.setLevel(saved[1])
        logging.root.handlers[:] = saved[2]
    assert ran == len(blocks)


def test_markers_are_recognized() -> None:
    """The runner itself: markers attach to the next fence only, and every page parses."""
    sample = ROOT / "docs" / "index.md"
    assert PAGES, "no documentation pages found"
    assert sample in PAGES
    for page in PAGES:
        for block in blocks_of(page):
            assert block.line > 1
            assert not (block.skip and block.requires), f"{page}:{block.line}: both no-test and requires"
    skipped = [b for p in PAGES for b in blocks_of(p) if b.skip]
    total = [b for p in PAGES for b in blocks_of(p)]
    # no-test is for the few examples that need a real remote service.
    assert len(skipped) * 5 <= len(total), f"too many no-test examples: {len(skipped)} of {len(total)}"


def test_the_benchmark_table_comes_from_the_benchmark_readme(tmp_path: Path) -> None:
    """docs/_hooks.py puts the tables between the bench markers into the comparison page."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "_hooks.py")
    assert spec is not None
    assert spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    readme = tmp_path / "README.md"
    table = "| case | ratio |\n|---|---|\n| x | 1.2 |\n"
    readme.write_text(f"# Benchmarks\n\nintro\n<!-- bench:start -->\n{table}<!-- bench:end -->\n")
    assert hooks.benchmark_tables(readme) == table
    assert "No benchmark results yet" in hooks.benchmark_tables(tmp_path / "missing.md")
    assert "<!-- benchmark-table -->" in (ROOT / "docs" / "comparison.md").read_text()
    page = hooks.on_page_markdown("before\n<!-- benchmark-table -->\nafter")
    assert "<!-- benchmark-table -->" not in page


# -- the examples type-check -------------------------------------------------


def _page_modules(directory: Path) -> dict[Path, Path]:
    """One module per page, its code at the page's own line numbers, so errors point into the Markdown."""
    written: dict[Path, Path] = {}
    for page in _pages_with_examples():
        lines: list[str] = []
        for block in (b for b in blocks_of(page) if not b.skip):
            lines += [""] * (block.line - 1 - len(lines))
            lines += block.code.split("\n")
        module = directory / ("docs_" + re.sub(r"\W", "_", _page_id(page)) + ".py")
        module.write_text("\n".join(lines) + "\n", encoding="utf-8")
        written[module] = page
    return written


def _in_markdown_terms(errors: list[str], modules: dict[Path, Path]) -> str:
    text = "\n".join(errors)
    for module, page in modules.items():
        text = text.replace(str(module), _page_id(page)).replace(module.name, _page_id(page))
    return text


@pytest.fixture(scope="module")
def page_modules(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[Path, Path]]:
    directory = tmp_path_factory.mktemp("docs-examples")
    return directory, _page_modules(directory)


def test_examples_pass_mypy_strict(page_modules: tuple[Path, dict[Path, Path]]) -> None:
    from .typing.checkers import run_mypy

    directory, modules = page_modules
    errors = run_mypy(sorted(modules), directory)
    assert not errors, "mypy --strict on the docs examples:\n" + _in_markdown_terms(errors, modules)


def test_examples_pass_pyright(page_modules: tuple[Path, dict[Path, Path]]) -> None:
    from .typing.checkers import run_pyright

    directory, modules = page_modules
    errors = run_pyright(sorted(modules), directory, strict=False)
    assert not errors, "pyright on the docs examples:\n" + _in_markdown_terms(errors, modules)
