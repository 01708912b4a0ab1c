"""A wheel builds, installs into a fresh virtual environment, and imports lightly.

Slow-ish (it builds a wheel and a venv, and pip fetches the three core
dependencies), so it is marked ``slow``; it is never skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = {"wrapt", "cachetools", "typing-extensions"}
OPTIONAL_MODULES = ("diskcache", "redis", "pydantic", "pydantic_core")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _run(*cmd: str | Path, cwd: Path | None = None) -> str:
    # A fresh environment is the point: a PYTHONPATH pointing at the source
    # tree (as when testing a checkout) would import that instead of the wheel.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, check=False, env=env)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", out, ROOT)
    wheels = list(out.glob("proxycache-*.whl"))
    assert len(wheels) == 1, f"expected one wheel, found {wheels}"
    return wheels[0]


@pytest.fixture(scope="module")
def fresh_python(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=True, clear=True)
    python = env_dir / "bin" / "python"
    _run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel)
    return python


def test_wheel_ships_the_package_and_its_type_marker(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "proxycache/py.typed" in names
    assert "proxycache/__init__.py" in names
    assert "proxycache/typing.py" in names
    assert not any(n.startswith(("tests/", "docs/", "benchmarks/")) for n in names)


def test_wheel_declares_the_extras(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(zf.read(meta_name).decode())
    assert {"disk", "redis", "pydantic", "all"} <= set(meta.get_all("Provides-Extra") or [])
    required = [r for r in meta.get_all("Requires-Dist") or [] if "extra ==" not in r]
    assert {r.split(">")[0].split("=")[0].split("<")[0].strip().lower() for r in required} == CORE


def test_fresh_install_imports_only_the_core_dependencies(fresh_python: Path) -> None:
    probe = (
        "import json, sys, importlib.metadata as md\n"
        "import proxycache\n"
        "print(json.dumps({\n"
        "  'modules': sorted(sys.modules),\n"
        "  'dists': sorted(d.metadata['Name'].lower() for d in md.distributions()),\n"
        "  'file': proxycache.__file__,\n"
        "}))\n"
    )
    report = json.loads(_run(fresh_python, "-c", probe, cwd=fresh_python.parent))
    loaded_optional = [m for m in OPTIONAL_MODULES if m in report["modules"]]
    assert loaded_optional == [], f"import proxycache pulled in {loaded_optional}"
    assert "site-packages" in report["file"], "imported the source tree, not the installed wheel"
    installed = set(report["dists"]) - {"pip", "setuptools", "proxycache"}
    assert {d.replace("_", "-") for d in installed} == CORE


def test_fresh_install_runs_the_demo_and_the_help(fresh_python: Path) -> None:
    help_text = _run(fresh_python, "-m", "proxycache", "--help", cwd=fresh_python.parent)
    assert "demo" in help_text
    demo = _run(fresh_python, "-m", "proxycache", "demo", "--delay", "0", cwd=fresh_python.parent)
    assert "hits" in demo
