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


# -- talking to a terminal, a pipe, and the person at the keyboard ---------------------

import os  # noqa: E402
import pty  # noqa: E402
import select  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

PROG = "python -m proxycache"


def _env(**extra: str) -> dict[str, str]:
    root = str(Path(__file__).resolve().parent.parent)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]), **extra}


def run_on_terminal(args: list[str], answer: str | None = None, timeout: float = 60, **env: str) -> tuple[int, str]:
    """Run the CLI with stdin, stdout and stderr on a pseudo-terminal; type *answer* when asked."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "proxycache", *args],
        stdin=follower, stdout=follower, stderr=follower, env=_env(**env), close_fds=True,
    )
    os.close(follower)
    seen = b""
    answered = answer is None
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
                if not answered and b"[y/N]" in seen:
                    os.write(leader, answer.encode() + b"\n")  # type: ignore[union-attr]
                    answered = True
            elif proc.poll() is not None:
                break
        status = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
    return status, seen.decode("utf-8", "replace")


@pytest.fixture
def filled_store(tmp_path: Path) -> str:
    """A disk store with entries in two namespaces, written by a real demo run."""
    spec = f"disk:{tmp_path / 'store'}"
    done = subprocess.run(
        [sys.executable, "-m", "proxycache", "demo", "--store", spec, "--delay", "0"],
        capture_output=True, text=True, env=_env(), timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    return spec


def entries(spec: str) -> int:
    from proxycache import DiskStore

    return len(list(DiskStore(spec.removeprefix("disk:")).keys()))


def test_clearing_a_whole_store_on_a_terminal_asks_first(filled_store: str) -> None:
    before = entries(filled_store)
    assert before == 3
    status, screen = run_on_terminal(["clear", filled_store], answer="n")
    assert "remove every entry of DiskStore(" in screen
    assert "[y/N]" in screen
    assert "nothing removed" in screen
    assert status == 1
    assert entries(filled_store) == before

    status, screen = run_on_terminal(["clear", filled_store], answer="y")
    assert status == 0, screen
    assert "removed 3 entries" in screen
    assert entries(filled_store) == 0


def test_yes_skips_the_question_and_so_does_a_script(filled_store: str) -> None:
    status, screen = run_on_terminal(["clear", filled_store, "--yes"])
    assert status == 0, screen
    assert "[y/N]" not in screen
    assert "removed 3 entries" in screen

    done = subprocess.run(  # stdin not a terminal: a script, nobody to ask
        [sys.executable, "-m", "proxycache", "demo", "--store", filled_store, "--delay", "0"],
        capture_output=True, text=True, env=_env(), timeout=60, check=False,
    )
    assert done.returncode == 0
    done = subprocess.run(
        [sys.executable, "-m", "proxycache", "clear", filled_store],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, env=_env(), timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "removed 3 entries" in done.stdout
    assert "[y/N]" not in done.stderr


def test_clearing_one_namespace_does_not_ask(filled_store: str) -> None:
    namespace = "proxycache.demo.SlowWeatherClient.stations"
    status, screen = run_on_terminal(["clear", filled_store, "--namespace", namespace])
    assert status == 0, screen
    assert "[y/N]" not in screen
    assert "removed 1 entry" in screen
    assert entries(filled_store) == 2


def test_progress_is_shown_on_a_terminal_and_erased(filled_store: str) -> None:
    # PROXYCACHE_PROGRESS_AFTER=0: draw at once, so a short run shows it too.
    status, screen = run_on_terminal(["inspect", filled_store], PROXYCACHE_PROGRESS_AFTER="0")
    assert status == 0, screen
    assert "reading DiskStore(" in screen
    assert "\r\x1b[K" in screen                      # the line is erased before the table
    table = screen.rsplit("\r\x1b[K", 1)[1]
    assert "store: DiskStore(" in table
    assert "(total)" in table

    status, screen = run_on_terminal(["clear", filled_store, "--yes"], PROXYCACHE_PROGRESS_AFTER="0")
    assert status == 0, screen
    assert "clearing DiskStore(" in screen
    assert "removed 3 entries" in screen


def test_no_progress_when_stderr_is_not_a_terminal(filled_store: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "proxycache", "inspect", filled_store],
        capture_output=True, text=True, env=_env(PROXYCACHE_PROGRESS_AFTER="0"), timeout=60, check=False,
    )
    assert done.returncode == 0
    assert done.stderr == ""
    assert "\x1b" not in done.stdout


@pytest.mark.parametrize("command", ["inspect", "clear"])
def test_a_namespace_with_no_entries_lists_those_that_exist(filled_store: str, command: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "proxycache", command, filled_store, "--namespace", "proxycache.demo.Nope.get"],
        capture_output=True, text=True, env=_env(), timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    listed = next(line for line in done.stdout.splitlines() if line.startswith("namespaces in this store:"))
    assert "proxycache.demo.SlowWeatherClient.forecast" in listed
    assert "proxycache.demo.SlowWeatherClient.stations" in listed
    assert entries(filled_store) == 3


def test_a_reader_that_leaves_early_gets_no_broken_pipe_error() -> None:
    # As `demo | head`: the reading end is closed before the demo writes its table.
    proc = subprocess.Popen(
        [sys.executable, "-m", "proxycache", "demo", "--delay", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(),
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) in (0, 141)
    assert "BrokenPipe" not in stderr
    assert "Exception ignored" not in stderr
    assert "Traceback" not in stderr
    assert stderr == ""


def test_every_error_has_one_prefix() -> None:
    # argparse's own errors (usage, bad values) and the commands' say it the same way.
    usage_error = run("frobnicate")
    command_error = run("inspect", "disk:/nonexistent/proxycache-store")
    argument_error = run("demo", "--delay", "soon")
    for done in (usage_error, command_error, argument_error):
        lines = [line for line in done.stderr.splitlines() if "error:" in line]
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith("proxycache: error: "), lines[0]


def test_the_program_name_is_the_one_called(tmp_path: Path) -> None:
    # What the installed console script does: argv[0] is the script named proxycache.
    script = tmp_path / "proxycache"
    script.write_text("import sys\nfrom proxycache.__main__ import main\nsys.exit(main())\n")
    done = subprocess.run(
        [sys.executable, str(script), "frobnicate"], capture_output=True, text=True, env=_env(), check=False
    )
    assert done.stderr.startswith("usage: proxycache ")
    assert "\nproxycache: error: argument COMMAND: invalid choice" in done.stderr
    helped = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, env=_env(), check=False
    )
    assert "  proxycache demo " in helped.stdout
    assert "python -m" not in helped.stdout


@pytest.mark.parametrize("columns", [50, 72, 150])
def test_help_is_wrapped_at_the_terminal_width(columns: int) -> None:
    for args in (("--help",), ("demo", "--help"), ("clear", "--help")):
        done = subprocess.run(
            [sys.executable, "-m", "proxycache", *args],
            capture_output=True, text=True, env=_env(COLUMNS=str(columns)), check=False,
        )
        assert done.returncode == 0
        # Examples keep their layout; everything else fits the terminal.
        prose = [line for line in done.stdout.splitlines() if not line.startswith(f"  {PROG} ")]
        too_long = [line for line in prose if len(line) > max(columns, 50)]
        assert not too_long, too_long
    description = run("demo", "--help").stdout
    assert "Wrap a slow stand-in client" in description
