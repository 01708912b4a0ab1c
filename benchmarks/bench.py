"""Run the benchmark: interleaved rounds in one process, medians, a table, JSON and a chart.

``python -m benchmarks`` from the repository root (``--help`` for options).
Every case is timed once per round, in a fresh random order each round, and
each ratio is the median over rounds of that round's ratio, so a machine
that slows down or speeds up during the run moves both sides together.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import random
import re
import statistics
import sys
import sysconfig
import tempfile
import timeit
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from . import callgrind, front_staleness, importtime, leases, memory, servers
from . import cases as c

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE / "README.md"
#: Where results go unless --json says otherwise: outside the checkout.
DEFAULT_JSON = Path(tempfile.gettempdir()) / "proxycache-bench" / "latest.json"
GROUPS = (
    "hit", "keyword", "unhashable", "key_attrs", "attrs", "args3", "sdk", "miss", "evict", "policy", "setup", "replay",
    "store",
)
TITLES = {
    "hit": "Cache hit, one positional argument, default options (ratio to the floor)",
    "keyword": "Hit with a keyword argument (ratio to the same entry point's positional hit)",
    "unhashable": "Hit with an unhashable argument (a dict; ratio to the same entry point's default hit)",
    "key_attrs": "Hit with key_attrs=['user'] (ratio to the same entry point's default hit)",
    "attrs": "The object's own attribute, read after a method's first cached call (ratio to a plain object's)",
    "args3": "Hit with three positional arguments (ratio to lru_cache with three arguments)",
    "sdk": "Hit of an SDK-style `query(*args, **kwargs)`, called by keyword (ratio to lru_cache on the same method)",
    "miss": "Miss over the bare call (each also evicts, maxsize=128; ratio of what each adds to cachetools')",
    "evict": "Evicting miss by policy, maxsize=1000, over the bare call (ratio to cachetools, same policy)",
    "policy": "Other policies (ratio to cachetools.cachedmethod with the same policy)",
    "setup": "Per-instance setup (first access over making the instance; ratio to the lru_cache wrap)",
    "replay": "streams='replay': a replayed stream of 100 chunks, hit included (ratio to iterating a list)",
    "store": "Shared stores (ratio to the store's raw get plus deserialization)",
}


class Progress:
    """One status line on stderr, redrawn in place on a terminal, else one line per step."""

    def __init__(self, stream: TextIO = sys.stderr, enabled: bool = True) -> None:
        self.stream = stream
        self.enabled = enabled
        self.tty = stream.isatty()
        self._last = ""

    def show(self, text: str, *, step: bool = False) -> None:
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r" + text.ljust(len(self._last)))
            self.stream.flush()
            self._last = text
        elif step:
            self.stream.write(text + "\n")
            self.stream.flush()

    def done(self) -> None:
        if self.enabled and self.tty and self._last:
            self.stream.write("\r" + " " * len(self._last) + "\r")
            self.stream.flush()
            self._last = ""


# -- timing -------------------------------------------------------------------


def _timer(case: c.Case, ns: dict[str, Any]) -> timeit.Timer:
    # Names become locals of timeit's loop function, so the statement pays no global lookups.
    setup = "\n".join(f"{name} = _ns[{name!r}]" for name in ns) or "pass"
    return timeit.Timer(case.stmt, setup=setup, globals={"_ns": ns})


def _calibrate(timer: timeit.Timer, budget: float) -> int:
    number = 1
    while True:
        if timer.timeit(number) >= budget / 4 or number >= 10**7:
            break
        number *= 4
    per_call = timer.timeit(number) / number
    return max(1, int(budget / per_call))


def run(cases: list[c.Case], *, rounds: int, budget: float, seed: int, progress: Progress) -> list[c.Case]:
    """Set up and time *cases*; return those that could run (the others carry a note)."""
    ready: list[tuple[c.Case, timeit.Timer, int]] = []
    for i, case in enumerate(cases, 1):
        progress.show(f"[bench] setting up {i}/{len(cases)}: {case.id}")
        try:
            ns = case.make()
        except c.Unavailable as why:
            case.note = f"not run: {why}"
            continue
        except ImportError as error:  # a peer that is not installed: pip install 'proxycache[bench]'
            case.note = f"not run: {error.name or error} is not installed"
            continue
        except Exception as error:  # a broken case is reported, not fatal: the others still run
            case.note = f"ERROR: {type(error).__name__}: {error}"
            continue
        timer = _timer(case, ns)
        ready.append((case, timer, _calibrate(timer, budget)))
    order = list(range(len(ready)))
    rng = random.Random(seed)
    for r in range(rounds):
        rng.shuffle(order)
        for j, k in enumerate(order, 1):
            case, timer, number = ready[k]
            progress.show(f"[bench] round {r + 1}/{rounds}  case {j}/{len(order)}: {case.id}", step=j == 1)
            case.samples.append(timer.timeit(number) / number * 1e9)
    progress.done()
    relate([case for case, _, _ in ready])
    return [case for case, _, _ in ready]


def relate(ran: list[c.Case]) -> None:
    """Fill each case's net values (its base taken off) and ratios to its reference, round by round."""
    by_id = {case.id: case for case in ran}
    for case in ran:
        for dep in (case.base, case.ref):
            if dep and dep not in by_id:
                case.note = case.note or f"reference {dep} did not run"
        if case.note.startswith("reference"):
            continue
        case.net = net_of(case, by_id)
        if case.ref:
            ref_net = net_of(by_id[case.ref], by_id)
            case.ratios = [a / b for a, b in zip(case.net, ref_net, strict=False) if b > 0]


def net_of(case: c.Case, by_id: dict[str, c.Case]) -> list[float]:
    if case.base is None or case.base not in by_id:
        return list(case.samples)
    return [a - b for a, b in zip(case.samples, by_id[case.base].samples, strict=False)]


# -- results ------------------------------------------------------------------


def rows_of(cases: list[c.Case]) -> list[dict[str, Any]]:
    labels = {case.id: case.label for case in cases}
    rows = []
    for case in cases:
        row: dict[str, Any] = {
            "id": case.id,
            "group": case.group,
            "label": case.label,
            "stmt": case.stmt,
            "ref": case.ref,
            "ref_label": labels.get(case.ref or "", case.ref),
            "base": case.base,
            "target": case.target,
            "note": case.note,
            "ns": None,
            "net_ns": None,
            "ratio": None,
            "met": None,
        }
        if case.samples:
            row["ns"] = round(statistics.median(case.samples), 1)
            q = statistics.quantiles(case.samples, n=4) if len(case.samples) > 1 else [case.samples[0]] * 3
            row["ns_q1"], row["ns_q3"] = round(q[0], 1), round(q[2], 1)
            row["rounds"] = len(case.samples)
        if case.base and case.net:
            row["net_ns"] = round(statistics.median(case.net), 1)
        if case.ratios:
            value = statistics.median(case.ratios)
            row["ratio"] = round(value, 3)
            if case.target is not None:
                row["met"] = value <= case.target
        elif case.ref is None and case.samples and not case.note:
            row["ratio"] = 1.0
        rows.append(row)
    return rows


def _ratio_text(row: dict[str, Any]) -> str:
    if row["ratio"] is None:
        return "-"
    return f"{row['ratio']:.2f}x"


def _net_text(row: dict[str, Any], unit: str = "ns") -> str:
    key = "net_ns" if unit == "ns" else "net"
    return f"+{row[key]:.0f}" if row.get(key) is not None else ""


def _target_text(row: dict[str, Any]) -> tuple[str, str]:
    if row["target"] is None:
        return "", ""
    met = {True: "yes", False: "NO", None: "?"}[row["met"]]
    return f"<= {row['target']:g}x", met


def text_table(rows: list[dict[str, Any]]) -> str:
    out = []
    for group in GROUPS:
        members = [r for r in rows if r["group"] == group]
        if not members:
            continue
        out.append(f"\n{TITLES[group]}")
        out.append(f"  {'case':<60} {'ns/call':>9} {'net ns':>8} {'ratio':>7} {'target':>8} {'met':>4}")
        for row in members:
            ns = f"{row['ns']:.1f}" if row["ns"] is not None else "-"
            target, met = _target_text(row)
            line = f"  {row['label']:<60} {ns:>9} {_net_text(row):>8} {_ratio_text(row):>7} {target:>8} {met:>4}"
            if row["note"] and row["ns"] is None:
                line = f"  {row['label']:<60} {row['note']}"
            out.append(line)
    return "\n".join(out)


def _md(text: str) -> str:
    """A label as Markdown table text (``__getattr__`` must not turn bold)."""
    return text.replace("_", "\\_").replace("|", "\\|")


def markdown_table(rows: list[dict[str, Any]]) -> str:
    out = []
    for group in GROUPS:
        members = [r for r in rows if r["group"] == group]
        if not members:
            continue
        out += [f"**{TITLES[group]}**", "", "| case | ns/call | net ns | ratio | target | met |",
                "|---|---:|---:|---:|---:|:-:|"]
        for row in members:
            if row["ns"] is None:
                out.append(f"| {_md(row['label'])} | - | | - | | {_md(row['note'])} |")
                continue
            target, met = _target_text(row)
            out.append(f"| {_md(row['label'])} | {row['ns']:.1f} | {_net_text(row)} | {_ratio_text(row)} "
                       f"| {target} | {met} |")
        out.append("")
    return "\n".join(out)


def memory_text(mem: list[dict[str, Any]], kept: list[dict[str, Any]], n: int, markdown: bool = False) -> str:
    if markdown:
        out = [f"**Memory: bytes per cached entry (LRU, {n} entries, tracemalloc)**", "",
               "| cache | bytes/entry |", "|---|---:|"]
        out += [f"| {_md(m['label'])} | {m['bytes_per_entry'] if m['bytes_per_entry'] is not None else m['note']} |"
                for m in mem]
        out += ["", "**Dropped instance freed (weakref)**", "", "| cache | freed |", "|---|---|"]
        out += [f"| {_md(k['label'])} | {k['freed']} |" for k in kept]
        return "\n".join(out) + "\n"
    out = [f"\nMemory: bytes per cached entry (LRU, {n} entries, tracemalloc)"]
    out += [f"  {m['label']:<52} {m['bytes_per_entry'] if m['bytes_per_entry'] is not None else m['note']:>9}"
            for m in mem]
    out.append("\nDropped instance freed (weakref)")
    out += [f"  {k['label']:<52} {k['freed']}" for k in kept]
    return "\n".join(out)


def machine() -> dict[str, Any]:
    config = str(sysconfig.get_config_var("CONFIG_ARGS") or "")
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "optimized_build": "--enable-optimizations" in config,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("proxycache", "wrapt", "cachetools", "methodtools", "cachebox", "diskcache", "redis"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "-"
    return found


# -- the chart ----------------------------------------------------------------


def draw_png(rows: list[dict[str, Any]], path: Path) -> None:
    """Bar charts of the ratios, one panel per group with a target (needs matplotlib)."""
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("--png needs matplotlib: pip install 'proxycache[bench]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def members_of(group: str) -> list[dict[str, Any]]:
        return [r for r in rows if r["group"] == group and r["ratio"] is not None and r["base"] is None]

    panels = [g for g in ("hit", "policy", "keyword", "key_attrs", "store") if members_of(g)]
    heights = [len(members_of(g)) + 2 for g in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 0.32 * sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, group in zip(axes[:, 0], panels, strict=True):
        members = members_of(group)
        labels = [r["label"] for r in members][::-1]
        values = [r["ratio"] for r in members][::-1]
        colors = ["#2b7bba" if r["target"] is not None else "#9a9a9a" for r in members][::-1]
        ax.barh(labels, values, color=colors)
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:.2f}x", va="center", fontsize=8)
        targets = {r["target"] for r in members if r["target"] is not None}
        for t in targets:
            ax.axvline(t, color="#d1495b", linestyle="--", linewidth=1)
        if group == "hit":
            ax.set_xscale("log")
        ax.set_title(TITLES[group], fontsize=9)
        ax.tick_params(axis="y", labelsize=8)
        ax.set_xlim(right=max(values + list(targets)) * (1.6 if group == "hit" else 1.25))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- README -------------------------------------------------------------------

_MARKERS = re.compile(r"(<!-- bench:start -->\n).*?(<!-- bench:end -->)", re.S)


def update_readme(markdown: str, path: Path = README) -> None:
    text = path.read_text()
    if not _MARKERS.search(text):
        raise SystemExit(f"{path} has no <!-- bench:start --> / <!-- bench:end --> markers")
    path.write_text(_MARKERS.sub(lambda m: m.group(1) + markdown + m.group(2), text))


# -- command line -------------------------------------------------------------


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a few short rounds (seconds; for CI: numbers are rough)")
    p.add_argument("--rounds", type=int, help="interleaved rounds (default 21, quick 3)")
    p.add_argument("--budget", type=float, help="seconds per timed sample (default 0.02, quick 0.002)")
    p.add_argument("--groups", help=f"comma-separated subset of: {','.join(GROUPS)}")
    p.add_argument("--json", type=Path, help=f"write JSON here (default: {DEFAULT_JSON}; the checkout's "
                   "results/latest.json is only written when named)")
    p.add_argument("--markdown", type=Path, help="also write the tables as Markdown here")
    p.add_argument("--png", type=Path, help="draw a bar chart of the ratios to this PNG (needs matplotlib)")
    p.add_argument("--update-readme", action="store_true", help="put the tables into benchmarks/README.md")
    p.add_argument("--no-redis", action="store_true", help="skip the Redis case (no redis-server is started)")
    p.add_argument("--no-memory", action="store_true", help="skip the memory measurements")
    p.add_argument("--no-import", action="store_true", help="skip the import-time measurement")
    p.add_argument("--no-fleet", action="store_true",
                   help="skip the stores across processes (the lease's cost per miss, the front cache's staleness)")
    p.add_argument("--callgrind", action="store_true",
                   help="also count machine instructions per call under valgrind's callgrind (a few minutes)")
    p.add_argument("--no-timing", action="store_true", help="skip the wall-clock timing (with --callgrind)")
    p.add_argument("--seed", type=int, default=7, help="seed of the per-round shuffle")
    p.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    args = p.parse_args(argv)
    if args.groups:
        unknown = set(args.groups.split(",")) - set(GROUPS)
        if unknown:
            p.error(f"--groups: unknown {', '.join(sorted(unknown))}; choose from {', '.join(GROUPS)}")
    if args.rounds is not None and args.rounds < 1:
        p.error("--rounds must be at least 1")
    if args.update_readme and (args.quick or args.groups or args.no_timing):
        p.error("--update-readme publishes results: run it without --quick, --groups and --no-timing")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    rounds = args.rounds or (3 if args.quick else 21)
    budget = args.budget or (0.002 if args.quick else 0.02)
    groups = set(args.groups.split(",")) if args.groups else None
    json_path = args.json or DEFAULT_JSON
    progress = Progress(enabled=not args.quiet)
    cases: list[c.Case] = []
    ran: list[c.Case] = []
    if not args.no_timing:
        want_redis = not args.no_redis and (groups is None or "store" in groups)
        with servers.redis_server() if want_redis else contextlib.nullcontext() as redis_url:
            cases = c.all_cases(redis_url, groups)
            ran = run(cases, rounds=rounds, budget=budget, seed=args.seed, progress=progress)
            if want_redis and redis_url is None:
                print("note: no redis-server (or no redis package): the Redis case was skipped", file=sys.stderr)
    rows = rows_of(cases)
    counted: list[dict[str, Any]] = []
    if args.callgrind:
        why = callgrind.available()
        if why:
            raise SystemExit(f"--callgrind: {why}")
        progress.show("[bench] counting instructions under callgrind (minutes)", step=True)
        counted = callgrind.count(groups)
        progress.done()
    imports: list[dict[str, Any]] = []
    if not args.no_import and groups is None:
        progress.show("[bench] import time", step=True)
        imports = importtime.import_rows(5 if args.quick else rounds, seed=args.seed)
        progress.done()
    import_counts: list[dict[str, Any]] = []
    if args.callgrind and not args.no_import and groups is None:
        progress.show("[bench] counting the import's instructions under callgrind", step=True)
        import_counts = importtime.import_instructions()
        progress.done()
    n = 200 if args.quick else 2000
    mem: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []
    if not args.no_memory:
        progress.show("[bench] memory")
        mem, kept = memory.memory_rows(n), memory.retention_rows()
        progress.done()
    fleet: dict[str, Any] = {}
    if not args.no_fleet and not args.no_timing and groups is None:
        # python -m benchmarks.leases and .front_staleness, in their quick settings with --quick (so CI runs them).
        progress.show("[bench] stores across processes: lease cost per miss", step=True)
        fleet["leases"] = leases.collect(*((3, 30) if args.quick else (7, 200)), redis=not args.no_redis)
        progress.show("[bench] stores across processes: front cache staleness", step=True)
        quick = (front_staleness.QUICK_ROUNDS, front_staleness.QUICK_FRONT_TTL)
        fleet["front_staleness"] = front_staleness.collect(*(quick if args.quick else (20, 1.0)),
                                                           redis=not args.no_redis)
        progress.done()
    result = {
        "machine": machine(),
        "versions": versions(),
        "settings": {"rounds": rounds, "budget_s": budget, "quick": args.quick, "seed": args.seed},
        "cases": rows,
        "callgrind": counted,
        "import": imports,
        "import_callgrind": import_counts,
        "memory": {"entries": n, "bytes_per_entry": mem, "retention": kept},
        "fleet": fleet,
        "ran": len(ran),
    }
    md = markdown_table(rows)
    if counted:
        md += "\n" + callgrind.text_table(counted, markdown=True)
    if imports:
        md += "\n" + importtime.text(imports, markdown=True)
    if import_counts:
        md += "\n" + importtime.instructions_text(import_counts, markdown=True)
    if mem:
        md += "\n" + memory_text(mem, kept, n, markdown=True)
    # Files first: a reader that closes stdout early (| head) must not lose them.
    written = []
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=1) + "\n")
        written.append(f"wrote {json_path}")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(md)
        written.append(f"wrote {args.markdown}")
    if args.update_readme:
        update_readme(md)
        written.append(f"updated {README}")
    if args.png:
        draw_png(rows, args.png)
        written.append(f"wrote {args.png}")
    print(text_table(rows))
    if counted:
        print(callgrind.text_table(counted))
    if imports:
        print(importtime.text(imports))
    if import_counts:
        print(importtime.instructions_text(import_counts))
    if mem:
        print(memory_text(mem, kept, n))
    if fleet:
        print("\n" + leases.text(fleet["leases"]) + "\n\n" + front_staleness.text(fleet["front_staleness"]))
    m = result["machine"]
    print(f"\nPython {m['python']} ({'optimized' if m['optimized_build'] else 'not PGO/LTO-optimized'} build), "
          f"{m['cpus']} CPUs; {rounds} rounds, medians; every ns includes the timing loop.")
    if args.quick:
        print("quick mode: a few short rounds, so the numbers are rough; run without --quick to compare")
    print("\n".join(written))
    return result

