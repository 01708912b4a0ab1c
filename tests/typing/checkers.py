"""Run mypy --strict and pyright on files, from the test suite; both are in the test extra."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def run_mypy(files: list[Path], workdir: Path) -> list[str]:
    """mypy --strict's error lines for *files* (empty when they pass)."""
    import mypy.api as mypy_api

    stdout, stderr, status = mypy_api.run(
        [
            "--strict",
            "--config-file", str(ROOT / "pyproject.toml"),
            "--cache-dir", str(workdir / "mypy-cache"),
            "--no-error-summary",
            "--show-error-codes",
            "--no-pretty",
            *map(str, files),
        ]
    )
    errors = [line for line in stdout.splitlines() if ": error:" in line or ": note:" in line]
    assert status == 0 or errors, f"mypy failed to run:\n{stdout}{stderr}"
    return [line for line in stdout.splitlines() if ": error:" in line]


def run_pyright(files: list[Path], workdir: Path, *, strict: bool) -> list[str]:
    """pyright's errors for *files* as ``path:line: message`` (empty when they pass).

    Its own ``# pyright: ignore[rule]`` comments count, and an unneeded one is
    an error; mypy's ``# type: ignore`` comments are not read, so a line that
    both checkers must reject says so to each.
    """
    config = {
        "typeCheckingMode": "strict" if strict else "standard",
        "pythonVersion": "3.10",
        "enableTypeIgnoreComments": False,
        "reportUnnecessaryTypeIgnoreComment": "error",
        "extraPaths": [str(ROOT)],
    }
    config_file = workdir / "pyrightconfig.json"
    config_file.write_text(json.dumps(config))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "pyright", "--outputjson", "--pythonpath", sys.executable,
         "-p", str(config_file), *map(str, files)],
        capture_output=True, text=True, timeout=600, env=env, check=False,
    )
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"pyright failed to run:\n{done.stdout}{done.stderr}") from None
    return [
        f"{d['file']}:{d['range']['start']['line'] + 1}: {d['message']} ({d.get('rule', '')})"
        for d in report.get("generalDiagnostics", [])
        if d["severity"] == "error"
    ]
