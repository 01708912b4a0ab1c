"""The dependency floors pyproject.toml declares are the ones CI installs and tests (.ci/floors.txt)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
FLOORS = ROOT / ".ci" / "floors.txt"

#: What a user installs: the core dependencies and the extras for stores and serializers.
RUNTIME = ("wrapt", "cachetools", "typing-extensions", "diskcache", "redis", "pydantic")


def _release(version: str) -> tuple[int, ...]:
    parts = [int(p) for p in version.split(".")]
    while parts and parts[-1] == 0:  # "2.0" is "2"
        parts.pop()
    return tuple(parts)


def declared() -> dict[str, str]:
    """Each runtime dependency's ``>=`` floor in pyproject.toml."""
    found: dict[str, str] = {}
    for name in RUNTIME:
        specs = re.findall(rf'"{re.escape(name)}\s*([<>=!~][^"]*)"', PYPROJECT)
        assert len(specs) == 1, f"pyproject.toml should declare {name} once, with a floor: {specs}"
        floor = re.fullmatch(r">=\s*([0-9.]+)", specs[0])
        assert floor, f"{name}{specs[0]}: declare a plain floor (>=X.Y) that CI can pin and test"
        found[name] = floor[1]
    return found


def pinned() -> dict[str, str]:
    """The ``==`` pins of .ci/floors.txt."""
    pins: dict[str, str] = {}
    for line in FLOORS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([0-9.]+)", line)
        assert match, f".ci/floors.txt: {line!r} is not a name==version pin"
        pins[match[1].lower().replace("_", "-")] = match[2]
    return pins


def test_every_floor_is_pinned_in_the_ci_floors_file() -> None:
    floors, pins = declared(), pinned()
    assert set(pins) == set(RUNTIME)
    assert {n: _release(v) for n, v in floors.items()} == {n: _release(v) for n, v in pins.items()}


def test_ci_runs_the_suite_with_the_floors() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    install = re.search(r'^.*pip" install .*--constraint \.ci/floors\.txt .*"\.\[test-core\]".*$', script, re.MULTILINE)
    assert install, ".ci/run should install .[test-core] constrained by .ci/floors.txt"
    venv = re.search(r'"(\$\w+)/bin/pip"', install[0])
    assert venv
    assert f'"{venv[1]}/bin/python" -m pytest' in script[install.end() :]


def _extra(name: str) -> str:
    match = re.search(rf"^{re.escape(name)} = \[(.*?)\]$", PYPROJECT, re.MULTILINE | re.DOTALL)
    assert match, f"pyproject.toml should define the {name!r} extra"
    return re.sub(r"#.*", "", match[1])


def test_the_floors_extra_leaves_out_only_the_sdks() -> None:
    sdks = set(re.findall(r'"([A-Za-z0-9_.-]+)"', _extra("sdk")))
    assert sdks == {"openai", "httpx", "requests", "boto3", "instructor"}
    core = _extra("test-core")
    assert not [name for name in sdks if f'"{name}' in core], "the SDKs belong in the sdk extra only"
    # README's `pip install -e ".[test]"` still installs everything, so no SDK test skips there.
    assert re.fullmatch(r'\s*"proxycache\[test-core,sdk\]"\s*', _extra("test"))
