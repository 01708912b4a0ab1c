"""``python -m proxycache demo``, run as a user runs it: in a separate process."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxycache", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_demo_shows_misses_hits_and_statistics() -> None:
    result = run("demo", "--delay", "0.01")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    assert "SlowWeatherClient takes 0.01s per call" in out
    calls = [line for line in out.splitlines() if re.match(r"(forecast|stations)\(", line)]
    assert len(calls) == 6
    assert sum(line.rstrip().endswith("miss (called the client)") for line in calls) == 3
    assert sum(line.rstrip().endswith("hit") for line in calls) == 3
    # f('Oslo'), f('Oslo', days=3) and f(city='Oslo', days=3) are one entry.
    assert calls[1].rstrip().endswith("hit")
    assert calls[2].rstrip().endswith("hit")
    # The table may grow columns; these come first.
    assert re.search(r"^method\s+hits\s+misses\s+currsize\s+maxsize\b", out, re.M)
    assert re.search(r"^forecast\s+2\s+2\s+2\s+128\b", out, re.M)
    assert re.search(r"^stations\s+1\s+1\s+1\s+128\b", out, re.M)
    assert "the client was called 3 times for 6 calls" in out


def test_demo_with_no_delay() -> None:
    result = run("demo", "--delay", "0")
    assert result.returncode == 0, result.stderr
    assert "the client was called 3 times for 6 calls" in result.stdout


@pytest.mark.parametrize("args", [("--help",), ("-h",), ("demo", "--help")])
def test_help(args: tuple[str, ...]) -> None:
    result = run(*args)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: python -m proxycache")
    assert "demo" in result.stdout
    if "demo" in args:
        assert "--delay" in result.stdout
        assert "--store" in result.stdout


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("demo", "--delay", "-1"), "--delay"),
        (("demo", "--delay", "abc"), "'abc'"),
        (("demo", "--delay", "nan"), "nan"),
        (("demo", "--delay", "inf"), "inf"),
        (("bogus",), "invalid choice: 'bogus'"),
        (("demo", "--colour"), "unrecognized arguments: --colour"),
    ],
)
def test_bad_input_is_one_clear_error_line(args: tuple[str, ...], said: str) -> None:
    result = run(*args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, result.stderr
    assert said.lower() in errors[0].lower()
    if "--delay" in args:
        assert "--delay" in errors[0]
    assert result.stdout == ""


def test_no_command_prints_help_and_fails() -> None:
    result = run()
    assert result.returncode == 2
    assert "demo" in result.stdout


def test_a_long_delay_shows_each_call_as_it_starts() -> None:
    result = run("demo", "--delay", "0.5")
    assert result.returncode == 0, result.stderr
    announced = result.stderr.splitlines()
    assert announced[0] == "[1/6] forecast('Oslo') ..."
    assert announced[-1] == "[6/6] stations('NO') ..."
    assert len(announced) == 6
    assert "[1/6]" not in result.stdout          # the table on stdout stays as it was


def test_a_short_delay_stays_quiet_on_stderr() -> None:
    result = run("demo", "--delay", "0.1")
    assert result.returncode == 0
    assert result.stderr == ""


def test_help_says_which_stores_need_extras() -> None:
    result = run("demo", "--help")
    flat = " ".join(result.stdout.split())
    assert "pip install 'proxycache[disk]'" in flat
    assert "redis extra" in flat
