"""What ``import proxycache`` costs, in fresh interpreters.

Each sample is a new process that imports the three dependencies first and
then times ``import proxycache`` alone with ``time.perf_counter``: the figure
the contract bounds (what proxycache adds over wrapt, cachetools and
typing-extensions), without the interpreter's start-up noise. The
dependencies and ``cachetools`` alone are timed the same way for reference,
and so is a cold start: the import and a first cached call.
Processes run interleaved, in a fresh random order each round; medians.
With ``--callgrind``, the same imports are also counted in instructions,
which the machine's load does not move.
"""

from __future__ import annotations

import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import proxycache

#: Milliseconds proxycache may add over its dependencies (aim 4).
TARGET_MS = 8.0

_TIMED = "import time; {before}; t = time.perf_counter(); {what}; print((time.perf_counter() - t) * 1e3)"

#: label, imported first (untimed), timed.
CASES: list[tuple[str, str, str]] = [
    ("import proxycache (over its three dependencies)", "import wrapt, cachetools, typing_extensions",
     "import proxycache"),
    # A cold start: what a process pays before its first cached call returns (the import, the proxy, the first
    # access of a method, its miss). Steady-state first accesses are the setup group's.
    ("import proxycache, then CachedProxy(obj).get(1)", "import wrapt, cachetools, typing_extensions",
     "import proxycache; C = type('C', (), {'get': lambda self, x: x}); proxycache.CachedProxy(C()).get(1)"),
    ("import wrapt, cachetools, typing_extensions", "pass", "import wrapt, cachetools, typing_extensions"),
    ("import cachetools (reference)", "pass", "import cachetools"),
]


def _env() -> dict[str, str]:
    # The child must import this same proxycache (a checkout, not an installed copy).
    root = str(Path(proxycache.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    # As installed packages run: from cached bytecode (compiling the sources
    # would be timed otherwise), kept in a temporary directory so the
    # checkout is not written to.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "proxycache-bench-pycache")
    return env


def _sample(before: str, what: str, env: dict[str, str]) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _TIMED.format(before=before, what=what)],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )
    return float(out.stdout.strip())


def import_rows(rounds: int, seed: int = 7) -> list[dict[str, Any]]:
    """Median milliseconds of each import over *rounds* interleaved fresh processes."""
    env = _env()
    samples: list[list[float]] = [[] for _ in CASES]
    for _, before, what in CASES:  # the first run writes the bytecode the timed ones read
        _sample(before, what, env)
    order = list(range(len(CASES)))
    rng = random.Random(seed)
    for _ in range(rounds):
        rng.shuffle(order)
        for k in order:
            _, before, what = CASES[k]
            samples[k].append(_sample(before, what, env))
    rows = []
    for (label, _, _), values in zip(CASES, samples, strict=True):
        q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
        rows.append({"label": label, "ms": round(statistics.median(values), 2),
                     "ms_q1": round(q[0], 2), "ms_q3": round(q[2], 2), "runs": len(values)})
    rows[0]["target_ms"] = TARGET_MS
    rows[0]["met"] = rows[0]["ms"] <= TARGET_MS
    return rows


#: Ends each counted process at once: the interpreter's teardown (freeing what was imported) is not the import.
_EXIT = "import os; os._exit(0)"
_COLLECTED = re.compile(r"Collected : (\d+)")


def _instructions(code: str, env: dict[str, str]) -> int:
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c", f"{code}; {_EXIT}"],
        env={**env, "PYTHONHASHSEED": "0"}, capture_output=True, text=True, check=True, timeout=600,
    )
    found = _COLLECTED.search(out.stderr)
    if found is None:
        raise RuntimeError(f"callgrind reported no count: {out.stderr[-2000:]}")
    return int(found.group(1))


def import_instructions() -> list[dict[str, Any]]:
    """Instructions each import of CASES costs in a fresh interpreter (callgrind), which no load on the machine moves.

    Each is a process that imports what comes first and the import counted,
    less a process that imports only what comes first; both end with
    ``os._exit``, so neither counts the interpreter's teardown.
    """
    env = _env()
    for _, before, what in CASES:  # the bytecode the counted runs read
        _sample(before, what, env)
    counted: dict[str, int] = {}
    rows: list[dict[str, Any]] = []
    for label, before, what in CASES:
        for code in (before, f"{before}; {what}"):
            if code not in counted:
                counted[code] = _instructions(code, env)
        rows.append({"label": label, "instructions": counted[f"{before}; {what}"] - counted[before]})
    # Against cachetools' import, the reference the wall-clock rows also show (the bar itself is in ms).
    rows[0]["ratio_to_cachetools"] = round(rows[0]["instructions"] / rows[-1]["instructions"], 2)
    return rows


def instructions_text(rows: list[dict[str, Any]], markdown: bool = False) -> str:
    title = "Import (fresh processes), in instructions (callgrind)"

    def ratio(row: dict[str, Any]) -> str:
        return f"{row['ratio_to_cachetools']:.2f}x cachetools" if "ratio_to_cachetools" in row else ""

    if markdown:
        out = [f"**{title}**", "", "| import | instructions | ratio |", "|---|---:|---:|"]
        out += [f"| {r['label']} | {r['instructions']:,} | {ratio(r)} |" for r in rows]
        return "\n".join(out) + "\n"
    return "\n".join([f"\n{title}", *(f"  {r['label']:<52} {r['instructions']:>12,} {ratio(r):>18}" for r in rows)])


def loaded_by_import() -> list[str]:
    """Modules ``import proxycache`` loads beyond its dependencies (for the report)."""
    code = ("import sys, wrapt, cachetools, typing_extensions; a = set(sys.modules); import proxycache; "
            "print(' '.join(sorted(set(sys.modules) - a)))")
    out = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, check=True,
                         timeout=60)
    return out.stdout.split()


def text(rows: list[dict[str, Any]], markdown: bool = False) -> str:
    title = "Import time (fresh processes, ms)"
    if markdown:
        out = [f"**{title}**", "", "| import | ms | target | met |", "|---|---:|---:|:-:|"]
        for r in rows:
            target = f"<= {r['target_ms']:g} ms" if "target_ms" in r else ""
            met = ("yes" if r["met"] else "NO") if "met" in r else ""
            out.append(f"| {r['label']} | {r['ms']:.1f} | {target} | {met} |")
        return "\n".join(out) + "\n"
    out = [f"\n{title}"]
    for r in rows:
        target = f"<= {r['target_ms']:g} ms" if "target_ms" in r else ""
        met = ("yes" if r["met"] else "NO") if "met" in r else ""
        out.append(f"  {r['label']:<52} {r['ms']:>9.1f} {target:>9} {met:>4}")
    return "\n".join(out)
