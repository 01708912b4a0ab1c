"""What ``import proxycache`` costs, in fresh interpreters.

Each sample is a new process that imports the three dependencies first and
then times ``import proxycache`` alone with ``time.perf_counter``: the figure
the contract bounds (what proxycache adds over wrapt, cachetools and
typing-extensions), without the interpreter's start-up noise. The
dependencies and ``cachetools`` alone are timed the same way for reference.
Processes run interleaved, in a fresh random order each round; medians.
"""

from __future__ import annotations

import os
import random
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
