"""Machine instructions per call, counted by valgrind's callgrind: the same however loaded the machine is.

``python -m benchmarks --callgrind`` runs every case once more, in one child
process under ``valgrind --tool=callgrind``. For each case the child calls a
marker (``os.getppid``; callgrind is told to dump its counters on entering
the C function behind it), runs the statement N times, the marker again,
2N times, and the marker again. The difference of the last two intervals,
divided by N, is the cost of one call with every fixed cost (setup, the
timing function, the marker) taken out. ``PYTHONHASHSEED=0`` keeps dict and
set layouts, and N is fixed per group (``CALLS``), so the counts are the
same from run to run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

#: Calls per interval (the second interval makes twice as many), by group: 2000 but where a call costs tens of
#: thousands of instructions.
CALLS = {"setup": 200, "unhashable": 500}
#: The C function behind os.getppid() in CPython: callgrind dumps on entering it.
MARKER = "os_getppid"
#: Groups counted (stores spend their time in another process or in the kernel).
GROUPS = ("hit", "keyword", "unhashable", "key_attrs", "attrs", "args3", "sdk", "miss", "evict", "policy", "setup")


def available() -> str | None:
    """Why callgrind cannot run here, or None."""
    if shutil.which("valgrind") is None:
        return "valgrind is not installed (apt-get install valgrind)"
    return None


def _child(groups: list[str], only: list[str]) -> None:
    """Inside valgrind: run each case between markers; one JSON line per case on stdout."""
    from . import bench
    from . import cases as c

    marker = os.getppid
    for case in _cases(c.all_cases(None, set(groups)), only):
        try:
            ns = case.make()
        except Exception as error:  # not installed, unavailable, broken: the table says so
            print(json.dumps({"id": case.id, "note": f"not run: {type(error).__name__}: {error}"}), flush=True)
            continue
        timer = bench._timer(case, ns)
        timer.timeit(10)
        # A number of calls fixed per group, never one derived from a timing: the count of a case
        # depends a little on how many calls it averages (the allocator's arenas, dicts that resize),
        # and the same number every run gives the same count however busy the machine is.
        number = CALLS.get(case.group, 2000)
        marker()
        timer.timeit(number)
        marker()
        timer.timeit(2 * number)
        marker()
        print(json.dumps({"id": case.id, "n": number}), flush=True)


def _cases(every: list[Any], only: list[str] | set[str] | None) -> list[Any]:
    """*every* case, or those named in *only* and what they are measured against."""
    if not only:
        return every
    by_id = {case.id: case for case in every}
    wanted: set[str] = set()
    todo = list(only)
    while todo:  # a base has a reference of its own, a reference a base: all that the figures need
        cid = todo.pop()
        if cid not in wanted:
            wanted.add(cid)
            todo += [d for d in (by_id[cid].ref, by_id[cid].base) if d]
    return [case for case in every if case.id in wanted]


_TOTAL = re.compile(rb"^(?:summary|totals): (\d+)", re.M)


def count(groups: set[str] | None = None, only: set[str] | None = None,
          python: str = sys.executable) -> list[dict[str, Any]]:
    """Instructions per call of each case (net of its base, ratio to its reference's net).

    *only* narrows the cases to those ids (and their references and bases).
    """
    from . import cases as c

    chosen = [g for g in GROUPS if groups is None or g in groups]
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="proxycache-callgrind-") as tmp:
        env = dict(os.environ, PYTHONHASHSEED="0")
        env["PYTHONPATH"] = os.pathsep.join([str(root), *filter(None, [env.get("PYTHONPATH")])])
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.out",
             f"--dump-before={MARKER}", "--compress-strings=no", "--compress-pos=no",
             python, "-m", "benchmarks.callgrind", "--child", ",".join(chosen), ",".join(sorted(only or ()))],
            env=env, cwd=root, capture_output=True, timeout=3600,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"valgrind failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
        dumps = sorted(Path(tmp).glob("cg.out.*"), key=lambda p: int(p.suffix[1:]))
        totals = [int(_TOTAL.search(p.read_bytes()).group(1)) for p in dumps]  # type: ignore[union-attr]
    reports = [json.loads(line) for line in proc.stdout.decode().splitlines() if line.startswith("{")]
    # Dump k (1-based) ends where the k-th marker call begins: the first is
    # start-up; each case that ran adds three (its setup, N calls, 2N calls).
    per_call: dict[str, float] = {}
    notes: dict[str, str] = {}
    k = 0
    for report in reports:
        if "note" in report:
            notes[report["id"]] = report["note"]
            continue
        once, twice = totals[k + 1], totals[k + 2]
        per_call[report["id"]] = (twice - once) / report["n"]
        k += 3
    cases = {case.id: case for case in _cases(c.all_cases(None, set(chosen)), only)}
    rows = []
    for case in cases.values():
        row: dict[str, Any] = {"id": case.id, "group": case.group, "label": case.label, "ref": case.ref,
                               "base": case.base, "target": case.target, "note": notes.get(case.id, ""),
                               "instructions": None, "net": None, "ratio": None, "met": None}
        value = per_call.get(case.id)
        if value is not None:
            row["instructions"] = round(value)

            def net(cid: str) -> float | None:
                this = cases[cid]
                mine = per_call.get(cid)
                if mine is None:
                    return None
                if this.base is None:
                    return mine
                base = per_call.get(this.base)
                return None if base is None else mine - base

            mine = net(case.id)
            if case.base is not None and mine is not None:
                row["net"] = round(mine)
            if case.ref is not None and mine is not None:
                ref = net(case.ref)
                if ref:
                    row["ratio"] = round(mine / ref, 3)
                    if case.target is not None:
                        row["met"] = row["ratio"] <= case.target
            elif case.ref is None:
                row["ratio"] = 1.0
        rows.append(row)
    return rows


def text_table(rows: list[dict[str, Any]], markdown: bool = False) -> str:
    from .bench import TITLES, _md, _net_text, _ratio_text, _target_text

    out = []
    for group in GROUPS:
        members = [r for r in rows if r["group"] == group]
        if not members:
            continue
        title = f"{TITLES[group]}, in instructions (callgrind)"
        if markdown:
            out += [f"**{title}**", "", "| case | instr/call | net | ratio | target | met |",
                    "|---|---:|---:|---:|---:|:-:|"]
        else:
            out += [f"\n{title}", f"  {'case':<60} {'instr':>9} {'net':>9} {'ratio':>7} {'target':>8} {'met':>4}"]
        for row in members:
            target, met = _target_text(row)
            instr = f"{row['instructions']}" if row["instructions"] is not None else "-"
            if markdown:
                out.append(f"| {_md(row['label'])} | {instr} | {_net_text(row, 'instr')} | {_ratio_text(row)} "
                           f"| {target} | {met or _md(row['note'])} |")
            elif row["instructions"] is None:
                out.append(f"  {row['label']:<60} {row['note']}")
            else:
                out.append(f"  {row['label']:<60} {instr:>9} {_net_text(row, 'instr'):>9} {_ratio_text(row):>7} "
                           f"{target:>8} {met:>4}")
        if markdown:
            out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2].split(","), [i for i in sys.argv[3].split(",") if i])
    else:
        raise SystemExit("run it as: python -m benchmarks --callgrind")
