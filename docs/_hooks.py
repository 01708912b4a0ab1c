"""MkDocs hooks for the proxycache site.

- Docstrings use Sphinx roles (:class:`X`); they are shown as plain code.
- ``<!-- benchmark-table -->`` in a page is replaced by the tables between the
  ``<!-- bench:start -->`` and ``<!-- bench:end -->`` markers of
  benchmarks/README.md, which ``python -m benchmarks --update-readme`` writes.
- The benchmark chart (benchmarks/results/latest.png, written by
  ``python -m benchmarks --png``) is served as ``assets/benchmark-hits.png``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_ROLE = re.compile(r":(?:class|data|meth|func|attr|mod|obj|exc):(?=<code>)")
_PLACEHOLDER = "<!-- benchmark-table -->"
_TABLES = re.compile(r"<!-- bench:start -->\n(.*?)<!-- bench:end -->", re.S)
_BENCH_README = Path(__file__).resolve().parent.parent / "benchmarks" / "README.md"
_BENCH_CHART = _BENCH_README.parent / "results" / "latest.png"
CHART_URI = "assets/benchmark-hits.png"


def benchmark_tables(path: Path = _BENCH_README) -> str:
    """The latest benchmark tables as Markdown, or a note saying how to produce them."""
    found = _TABLES.search(path.read_text(encoding="utf-8")) if path.is_file() else None
    if found is None or not found.group(1).strip():
        return (
            "!!! note\n"
            "    No benchmark results yet: run `python -m benchmarks --update-readme` "
            "from the repository root.\n"
        )
    return found.group(1)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    if _PLACEHOLDER in markdown:
        markdown = markdown.replace(_PLACEHOLDER, benchmark_tables())
    return markdown


def on_files(files: Any, config: Any, **kwargs: Any) -> Any:
    """Serve the benchmark chart from benchmarks/results, where the benchmark writes it."""
    from mkdocs.structure.files import File

    if _BENCH_CHART.is_file() and files.get_file_from_path(CHART_URI) is None:
        files.append(File.generated(config, CHART_URI, abs_src_path=str(_BENCH_CHART)))
    return files


def on_page_content(html: str, **kwargs: Any) -> str:
    return _ROLE.sub("", html)
