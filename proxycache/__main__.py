"""``python -m proxycache``: the demo and the store tools."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from . import CachedProxy, __version__, cache_info, cache_of
from ._cli import PREFIX, Parser, error, prog_name, warning

#: From this many seconds per call, the demo says what it is calling before each call.
_ANNOUNCE_DELAY = 0.5


class SlowWeatherClient:
    """A stand-in for a remote API client: every call takes a while."""

    def __init__(self, delay: float = 0.2) -> None:
        self.delay = delay
        self.requests = 0

    def forecast(self, city: str, days: int = 3) -> dict[str, Any]:
        """Pretend to ask a remote service for a forecast."""
        self.requests += 1
        time.sleep(self.delay)
        return {"city": city, "days": days, "temps": [12 + (len(city) + d) % 7 for d in range(days)]}

    def stations(self, country: str) -> list[str]:
        self.requests += 1
        time.sleep(self.delay)
        return [f"{country}-{i}" for i in range(3)]


# Store namespaces are module.qualname.method: keep them the same however the
# demo is started (python -m proxycache makes this module __main__), so a
# second run, by either command, hits what the first stored.
for _method in (SlowWeatherClient, *vars(SlowWeatherClient).values()):
    if callable(_method):
        _method.__module__ = "proxycache.demo"


def _table(rows: Sequence[Sequence[object]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*header), line]
    out += [fmt.format(*map(str, r)) for r in rows]
    return "\n".join(out)


def demo(store_url: str | None, delay: float, out: Any = None) -> int:
    """Wrap a slow client, call it twice, show the times and the statistics."""
    out = out or sys.stdout  # looked up now, so redirected output is honoured
    options: dict[str, Any] = {}
    if store_url:
        from ._stores import open_store

        options = {"store": open_store(store_url), "key_attrs": ()}
    client = SlowWeatherClient(delay=delay)
    cached = CachedProxy(client, **options)
    print(f"proxycache demo: {type(client).__name__} takes {delay:.2f}s per call", file=out)
    print(f"store: {store_url or 'memory (per proxy)'}\n", file=out)
    rows = []
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
        ("forecast", ("Oslo",), {}),
        ("forecast", ("Oslo",), {"days": 3}),
        ("forecast", (), {"city": "Oslo", "days": 3}),
        ("forecast", ("Lima", 5), {}),
        ("stations", ("NO",), {}),
        ("stations", ("NO",), {}),
    ]
    for number, (name, args, kwargs) in enumerate(calls, 1):
        shown = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])
        if delay >= _ANNOUNCE_DELAY:
            # Long delays would leave the screen blank until the table: say what runs.
            print(f"[{number}/{len(calls)}] {name}({shown}) ...", file=sys.stderr, flush=True)
        before = client.requests
        start = time.perf_counter()
        getattr(cached, name)(*args, **kwargs)
        elapsed = time.perf_counter() - start
        outcome = "miss (called the client)" if client.requests > before else "hit"
        rows.append([f"{name}({shown})", f"{elapsed * 1000:9.3f} ms", outcome])
    print(_table(rows, ["call", "time", "result"]), file=out)
    print("\nstatistics per method:", file=out)
    stats = []
    faults = 0
    for name, info in sorted(cache_info(cached).items()):
        extra = cache_of(getattr(cached, name)).cache_stats()
        faults += extra["faults"]
        maxsize = "unbounded" if info.maxsize is None else info.maxsize
        stats.append([name, info.hits, info.misses, info.currsize, maxsize, extra["faults"]])
    print(_table(stats, ["method", "hits", "misses", "currsize", "maxsize", "store faults"]), file=out)
    print(f"\nthe client was called {client.requests} times for {len(calls)} calls", file=out)
    if faults:
        from ._faults import last_fault

        reason = last_fault(options["store"]) or "reason unknown"
        warning(f"the store failed {faults} times ({reason}); every call still ran, uncached")
    return 0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds as a number, not {text!r}") from None
    if not 0 <= value < 3600:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, below an hour; not {text}")
    return value


_EPILOG = """\
examples:
  python -m proxycache demo                        # in memory, nothing to set up
  python -m proxycache demo --store disk:/tmp/pc   # run it twice: the second run hits
  python -m proxycache inspect disk:/tmp/pc        # namespaces, entries, sizes
  python -m proxycache clear redis://localhost:6379/0 --namespace NS

The disk and Redis stores need their extras: pip install 'proxycache[disk]' or
'proxycache[redis]' (and a Redis server). Run 'python -m proxycache COMMAND --help' for
a command's options.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=prog_name(),
        description="Cache method calls on objects you do and do not own. These commands try the "
        "library out and look after persistent stores.",
        epilog=_EPILOG.replace("python -m proxycache", prog_name()),
    )
    parser.add_argument("--version", action="version", version=f"proxycache {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p_demo = sub.add_parser(
        "demo",
        help="wrap a slow client and show the speed-up and statistics",
        description="Wrap a slow stand-in client in CachedProxy, call it six times (some calls "
        "repeat, spelled differently), and show each call's time, whether it hit, and the "
        "statistics per method. Needs nothing beyond the package; --store disk:PATH needs the disk extra, "
        "--store redis://... the redis extra and a running server.",
    )
    p_demo.add_argument(
        "--store",
        metavar="STORE",
        help="where entries live: disk:PATH (needs the disk extra: pip install 'proxycache[disk]') or "
        "redis://HOST:PORT/DB (needs the redis extra and a running server); default: in memory, per proxy",
    )
    p_demo.add_argument(
        "--delay", type=_seconds, default=0.2, metavar="SECONDS",
        help="how long each uncached call takes (default 0.2)",
    )
    _add_store_commands(sub)
    return parser


def _add_store_commands(sub: Any) -> None:
    try:
        from ._cli_stores import add_commands
    except ImportError:  # pragma: no cover - store tools not present
        return
    add_commands(sub)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        status = demo(args.store, args.delay) if args.command == "demo" else int(args.run(args))
        sys.stdout.flush()  # here, so a reader that left is noticed below and not at exit
        return status
    except BrokenPipeError:
        # The reader left (demo | head): stop quietly, as a SIGPIPE'd tool does.
        _silence_stdout()
        return 141
    except (ValueError, TypeError, OSError, ImportError) as problem:  # ImportError: says which extra
        error(problem)
        return 2
    except KeyboardInterrupt:
        print(f"\n{PREFIX}: interrupted", file=sys.stderr)
        return 130


def _silence_stdout() -> None:
    # Python flushes stdout at exit; into a closed pipe that is one more
    # BrokenPipeError printed as "Exception ignored". Point it at devnull.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
