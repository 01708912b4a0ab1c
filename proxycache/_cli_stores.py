"""``python -m proxycache inspect STORE`` and ``clear STORE [--namespace NS]``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from ._cli import Progress, confirm, error, is_interactive
from ._contract import NamespaceStats
from ._stores import DiskStore, RedisStore, namespace_of, open_store

_STORE_HELP = "disk:PATH or redis://HOST:PORT/DB (rediss:// and unix:// work too)"


def add_commands(sub: Any) -> None:
    """Add the ``inspect`` and ``clear`` subcommands; each sets ``args.run``."""
    p = sub.add_parser(
        "inspect", help="list the namespaces of a disk or Redis store: entries, sizes, and hits where counted"
    )
    p.add_argument("store", metavar="STORE", help=_STORE_HELP)
    p.add_argument("--namespace", metavar="NS", help="show only this namespace")
    p.set_defaults(run=inspect_command)
    p = sub.add_parser("clear", help="remove the entries of a disk or Redis store (or of one namespace)")
    p.add_argument("store", metavar="STORE", help=_STORE_HELP)
    p.add_argument("--namespace", metavar="NS", help="remove only this namespace (default: every entry)")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask before clearing a whole store on a terminal")
    p.set_defaults(run=clear_command)


def open_existing(spec: str) -> DiskStore | RedisStore:
    """The store *spec* names, checked to exist and answer; ValueError or ConnectionError if not."""
    store = open_store(spec)
    if isinstance(store, DiskStore):
        if not os.path.isfile(os.path.join(store.path, "cache.db")):
            raise ValueError(f"no disk store at {store.path} (it has no cache.db)")
        return store
    if isinstance(store, RedisStore):
        try:
            store.client.ping()
            # A node of a Redis Cluster holds only its slots: then list and clear every node.
            if int(store.client.info("cluster").get("cluster_enabled", 0)):
                store = RedisStore(spec, cluster=True)
                store._sync().ping()  # StoreUnavailable, saying why, when the cluster's client could not be built
        except Exception as error:
            raise ConnectionError(f"cannot reach {store!r}: {error}") from None
        return store
    raise ValueError(f"{spec!r} lives inside one process; inspect and clear take {_STORE_HELP}")


def inspect_command(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Print a table of namespaces with their entry counts and sizes."""
    out = out or sys.stdout
    return _guarded(lambda: _inspect(args.store, args.namespace, out))


def clear_command(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Remove every entry, or those of ``--namespace``, and say how many went."""
    out = out or sys.stdout
    return _guarded(lambda: _clear(args.store, args.namespace, out, assume_yes=getattr(args, "yes", False)))


def _guarded(action: Any) -> int:
    # One clear line instead of a traceback, whatever the store raised.
    try:
        return int(action())
    except Exception as problem:
        error(problem)
        return 2


def _inspect(spec: str, namespace: str | None, out: TextIO) -> int:
    store = open_existing(spec)
    totals: dict[str, list[int]] = {}
    with Progress(f"reading {store!r}") as progress:
        for key, size in store.scan(namespace):
            row = totals.setdefault(namespace_of(key), [0, 0])
            row[0] += 1
            row[1] += size
            progress.add()
    # Hits and saved seconds, summed over every process, where stores were built with stats=True.
    stats = store.hit_stats(namespace)
    for name in stats:
        totals.setdefault(name, [0, 0])
    print(f"store: {store!r}", file=out)
    if not totals:
        print("no entries" + (f" in namespace {namespace!r}" if namespace else ""), file=out)
        if namespace:
            _list_namespaces(store, out)
        return 0
    header = ["namespace", "entries", "size"]
    rows = [[ns, str(n), _bytes(size)] for ns, (n, size) in sorted(totals.items())]
    if len(rows) > 1:
        rows.append(["(total)", str(sum(r[0] for r in totals.values())), _bytes(sum(r[1] for r in totals.values()))])
    if stats:
        header += ["hits", "saved"]
        everything = NamespaceStats(sum(s.hits for s in stats.values()), sum(s.saved_seconds for s in stats.values()))
        for line in rows:
            found = everything if line[0] == "(total)" else stats.get(line[0])
            line.extend(["-", "-"] if found is None else [str(found.hits), _seconds(found.saved_seconds)])
    print(_table(rows, header), file=out)
    return 0


def _seconds(n: float) -> str:
    if n < 60:
        return f"{n:.2f} s"
    if n < 3600:
        return f"{n / 60:.1f} min"
    return f"{n / 3600:.1f} h"


def _clear(spec: str, namespace: str | None, out: TextIO, assume_yes: bool = False) -> int:
    store = open_existing(spec)
    asked = namespace is None and not assume_yes and is_interactive()
    if asked and not confirm(f"remove every entry of {store!r}?"):
        print("nothing removed", file=out)
        return 1
    with Progress(f"clearing {store!r}"):
        removed = store.clear(namespace)
    where = f"namespace {namespace!r} of " if namespace else ""
    print(f"removed {removed} entr{'y' if removed == 1 else 'ies'} from {where}{store!r}", file=out)
    if namespace and not removed:
        _list_namespaces(store, out)
    return 0


def _list_namespaces(store: DiskStore | RedisStore, out: TextIO, shown: int = 20) -> None:
    # A namespace that matched nothing is most often a typo: say which exist.
    with Progress(f"reading {store!r}") as progress:
        names: set[str] = set()
        for key in store.keys(None):
            names.add(namespace_of(key))
            progress.add()
    if not names:
        print("the store is empty", file=out)
        return
    listed = sorted(names)
    more = f" (and {len(listed) - shown} more)" if len(listed) > shown else ""
    print(f"namespaces in this store: {', '.join(listed[:shown])}{more}", file=out)


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _table(rows: Iterable[list[str]], header: list[str]) -> str:
    rows = list(rows)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    def line(cells: list[str]) -> str:
        # Text left, numbers right.
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs)

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])
