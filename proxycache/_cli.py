"""What every ``python -m proxycache`` command shares: its name, errors, help layout, progress, questions."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import threading
import time
from types import TracebackType
from typing import NoReturn, TextIO


def prog_name(argv0: str | None = None) -> str:
    """The program's name as the user called it: ``proxycache`` (the script) or ``python -m proxycache``."""
    base = os.path.basename(sys.argv[0] if argv0 is None else argv0)
    if base in ("", "__main__.py", "-c", "-m") or base.startswith("python"):
        return "python -m proxycache"
    return base.removesuffix(".exe")


#: Every message the commands print about a failure starts so, whatever the
#: program was called (usage lines carry that name).
PREFIX = "proxycache"


def error(message: object, stream: TextIO | None = None) -> None:
    """Report a failure on one line, with the one prefix every command uses."""
    print(f"{PREFIX}: error: {message}", file=stream or sys.stderr)


def warning(message: object, stream: TextIO | None = None) -> None:
    print(f"{PREFIX}: warning: {message}", file=stream or sys.stderr)


class HelpFormatter(argparse.HelpFormatter):
    """Wraps prose at the terminal's width; keeps indented lines (examples) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        out: list[str] = []
        for paragraph in text.split("\n\n"):
            lines = paragraph.splitlines()
            if any(line.startswith(" ") for line in lines[1:]) or (lines and lines[0].startswith(" ")):
                out.append("\n".join(indent + line for line in lines))
            else:
                out.append(textwrap.fill(" ".join(lines), width, initial_indent=indent, subsequent_indent=indent))
        return "\n\n".join(out)


class Parser(argparse.ArgumentParser):
    """argparse, with help wrapped at the terminal's width and errors in the shared one-line form."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        error(message)
        sys.exit(2)


class Progress:
    """A one-line count on stderr while a long store operation runs, shown only on a terminal.

    Quiet for the first *quiet_for* seconds (``PROXYCACHE_PROGRESS_AFTER``,
    default 0.5), so short runs print nothing; then redrawn ten times a
    second (a ticker thread keeps the elapsed time moving while the store is
    busy in one call) and erased at the end, so what follows starts on a
    clean line.
    """

    def __init__(
        self, label: str, stream: TextIO | None = None, unit: str = "entries", quiet_for: float | None = None
    ) -> None:
        self.label = label
        self.unit = unit
        self.stream = stream or sys.stderr
        self.count = 0
        self.shown = False
        self._start = time.monotonic()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._enabled = _is_terminal(self.stream)
        self._ticker: threading.Thread | None = None
        if quiet_for is None:
            try:
                quiet_for = float(os.environ.get("PROXYCACHE_PROGRESS_AFTER", "0.5"))
            except ValueError:
                quiet_for = 0.5
        self.quiet_for = quiet_for

    def __enter__(self) -> Progress:
        if self._enabled:
            if self.quiet_for <= 0:
                self._draw()
            self._ticker = threading.Thread(target=self._tick, name="proxycache-progress", daemon=True)
            self._ticker.start()
        return self

    def add(self, n: int = 1) -> None:
        self.count += n

    def _tick(self) -> None:
        while not self._stop.wait(self.quiet_for if not self.shown else 0.1):
            self._draw()

    def _draw(self) -> None:
        elapsed = time.monotonic() - self._start
        counted = f"{self.count:,} {self.unit}, " if self.count else ""
        with self._lock:
            if self._stop.is_set():
                return
            self.stream.write(f"\r\033[K{self.label}: {counted}{elapsed:.0f} s")
            self.stream.flush()
            self.shown = True

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        with self._lock:
            self._stop.set()
            if self.shown:
                self.stream.write("\r\033[K")
                self.stream.flush()
        if self._ticker is not None:
            self._ticker.join()


def confirm(question: str, stdin: TextIO | None = None, stderr: TextIO | None = None) -> bool:
    """Ask *question* (``[y/N]``) on the terminal; False on anything but yes, or at end of input."""
    stdin = stdin or sys.stdin
    stderr = stderr or sys.stderr
    stderr.write(f"{question} [y/N] ")
    stderr.flush()
    answer = stdin.readline()
    if not answer.endswith("\n"):
        stderr.write("\n")
    return answer.strip().lower() in ("y", "yes")


def is_interactive(stdin: TextIO | None = None) -> bool:
    """True when a person can answer a question: standard input is a terminal."""
    return _is_terminal(stdin or sys.stdin)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or replaced streams
        return False
