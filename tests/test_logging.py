"""proxycache logs only through the ``proxycache`` logger, and is silent unless the application configures logging.

A failing listener's record reaching the application: ``test_listeners.py``.
"""

from __future__ import annotations

import ast
import logging
import subprocess
import sys
from pathlib import Path

import proxycache

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
