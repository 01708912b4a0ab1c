"""``python -m proxycache``: help that says what each command does, and one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from proxycache import __version__
from proxycache.__main__ import build_parser, main

COMMANDS = ("demo", "inspect", "clear")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "proxycache", *args], capture_output=True, text=True, check=False)


def test_top_level_help_lists_every_command_with_examples() -> None:
    done = run("--help")
    assert done.returncode == 0
    for command in COMMANDS:
        assert f"    {command} " in done.stdout
    assert "examples:" in done.stdout
    assert "python -m proxycache demo" in done.stdout


def test_no_command_prints_the_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_its_own_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m proxycache {command}")
    assert "--store" in out or "STORE" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--version"])
    assert capsys.readouterr().out.strip() == f"proxycache {__version__}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("demo", "--delay", "-1"), "must be 0 or more seconds"),
        (("demo", "--delay", "soon"), "expected seconds as a number"),
        (("demo", "--store", "ftp://nowhere", "--delay", "0"), "unknown store"),
        (("inspect", "disk:/nonexistent/proxycache-store"), "no disk store"),
        (("frobnicate",), "invalid choice"),
    ],
)
def test_bad_input_is_one_clear_line_not_a_traceback(args: tuple[str, ...], message: str) -> None:
    done = run(*args)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    error_lines = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(error_lines) == 1, done.stderr
    assert message in error_lines[0]


def test_demo_shows_statistics_as_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--delay", "0"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("method"))
    assert header.split()[:5] == ["method", "hits", "misses", "currsize", "maxsize"]
    assert "forecast" in out
    assert "the client was called 3 times for 6 calls" in out
