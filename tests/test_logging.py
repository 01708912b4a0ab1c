"""proxycache logs only through the ``proxycache`` logger, and is silent unless the application configures logging."""

from __future__ import annotations

import ast
import logging
import subprocess
import sys
from pathlib import Path

import pytest

import proxycache
from proxycache import CachedProxy, Event, add_listener

from .conftest import CountingClient

PACKAGE = Path(proxycache.__file__).resolve().parent


def test_the_package_logger_has_a_null_handler() -> None:
    handlers = logging.getLogger("proxycache").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)


def test_every_logger_in_the_source_is_the_proxycache_logger() -> None:
    names = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "getLogger":
                assert node.args, f"{path.name}: getLogger() without a name"
                assert isinstance(node.args[0], ast.Constant), f"{path.name}: getLogger() without a literal name"
                names.append((path.name, node.args[0].value))
    assert names, "no logger found at all"
    assert all(name == "proxycache" for _, name in names), names


def test_no_output_without_logging_configuration() -> None:
    # A listener that raises is logged with ERROR and a traceback. Without
    # any logging setup, Python would print that to stderr through its
    # last-resort handler, unless the package's NullHandler is there.
    script = (
        "from proxycache import CachedProxy, add_listener\n"
        "class C:\n"
        "    def f(self, x):\n"
        "        return x\n"
        "def bad(event):\n"
        "    raise RuntimeError('listener broke')\n"
        "add_listener(bad)\n"
        "assert CachedProxy(C()).f(1) == 1\n"
        "print('done')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "done\n"
    assert done.stderr == ""


def test_records_reach_the_application_when_it_listens(caplog: pytest.LogCaptureFixture) -> None:
    class C:
        def f(self, x: int) -> int:
            return x

    def bad(event: Event) -> None:
        raise RuntimeError("listener broke")

    remove = add_listener(bad)
    try:
        with caplog.at_level(logging.ERROR, logger="proxycache"):
            assert CachedProxy(C()).f(1) == 1
    finally:
        remove()
    records = [r for r in caplog.records if r.name == "proxycache"]
    assert records, "the failing listener was not logged"
    assert records[0].levelno == logging.ERROR
    assert records[0].exc_info is not None
    assert all(r.name == "proxycache" for r in caplog.records)


def test_a_hit_event_carries_the_stored_result_and_the_time_it_saved(client: CountingClient) -> None:
    # What a listener needs to count what the cache saved (tokens, money): the answer itself.
    events: list[Event] = []
    remove = add_listener(events.append)
    try:
        proxy = CachedProxy(client, cache_exceptions=ValueError)
        proxy.get(7)
        proxy.get(7)
        with pytest.raises(ValueError):
            proxy.fail("x")
        with pytest.raises(ValueError):
            proxy.fail("x")
    finally:
        remove()
    hits = [e for e in events if e.kind == "hit"]
    assert [e.detail.get("value") for e in hits] == [(7, 1), None]
    assert isinstance(hits[1].detail["error"], ValueError)
    assert all(e.detail["saved_seconds"] >= 0 for e in hits)
