"""The process-wide state the generated cached callables read, and how they count hits.

``CODE_GLOBALS["_pc_flag"]`` is true while any ``bypass()`` block is open
(in any thread or task) or any listener is registered. The generated cached
callables read it as their global ``_pc_flag``; only while it is true do
calls take the slower path that checks the context variable and tells listeners.

With the GIL, a hit counts itself by adding 1.0 to a float in a closure cell,
and the cells of a running function may be set through ``cell_contents``.
Without it (``NO_GIL``), two threads' ``+= 1.0`` lose counts, and
``cell_contents`` swaps a cell's value without the cell's lock, so a reader
in another thread may take a reference to the old value as it is freed:
hits tick atomic counters instead, and cells are set the way the generated
code reads them. Python 3.10 counts with atomic counters too (``ATOMIC_HITS``).
"""

from __future__ import annotations

import itertools
import sys
import threading
from collections.abc import Callable
from types import FunctionType
from typing import Any

#: Whether this interpreter runs Python code in several threads at once: a
#: free-threaded build (3.13+, ``--disable-gil``) with the GIL off when
#: proxycache loads. Then a hit that reorders its storage leaves that for the
#: method's lock (``_storage_touched``), and hits are counted by atomic counters,
#: not a float in a cell. The GIL, once on, stays on, so code made while it is
#: on never runs without it.
NO_GIL: bool = not getattr(sys, "_is_gil_enabled", lambda: True)()

#: The globals of the generated cached callables (see ``_codegen``), which
#: read the flag as the global ``_pc_flag``: one instruction less than an item of a list.
#: A bool, not the count: ``if _pc_flag`` tests True and False without calling ``__bool__``.
CODE_GLOBALS: dict[str, Any] = {"_pc_flag": False}

#: Whether hits tick atomic counters rather than add to a float: without the GIL, and on Python 3.10,
#: whose interpreter may switch threads between any two bytecodes, so between the read and the write
#: of ``_pc_hits += 1.0`` (3.11 and later switch only at calls, function starts and backward jumps,
#: none of which that line has). tests/test_thread_safety.py counts what concurrent hits lose.
ATOMIC_HITS: bool = NO_GIL or sys.version_info < (3, 11)
if ATOMIC_HITS:
    CODE_GLOBALS["_pc_count"] = itertools.count  # named by COUNTER below
_raised = 0
_lock = threading.Lock()


def raise_flag() -> None:
    global _raised
    with _lock:
        _raised += 1
        CODE_GLOBALS["_pc_flag"] = True


def lower_flag() -> None:
    global _raised
    with _lock:
        _raised -= 1
        CODE_GLOBALS["_pc_flag"] = _raised > 0


# With the GIL (3.11+): a float (adding 1.0 reuses a freed float object, adding 1 to an
# int past 256 allocates one; the counter is the costliest line of a hit).
# Else (ATOMIC_HITS): hits, and the misses that take their count back, tick two
# itertools counters (atomic); the cell holds them and is never written again.
if ATOMIC_HITS:
    COUNTER = """\
    _pc_hits = [_pc_count(), _pc_count(), 0]  # hits and take-backs ticked, and the count at the last clear
    _pc_tick, _pc_untick = _pc_hits[0].__next__, _pc_hits[1].__next__"""
    COUNT, UNCOUNT = "_pc_tick()", "_pc_untick()\n"
else:
    COUNTER = "    _pc_hits = 0.0"
    COUNT, UNCOUNT = "_pc_hits += 1.0", "_pc_hits -= 1.0\n"

#: Without the GIL, a hit that leaves its storage's bookkeeping for the lock's holder (``Hit.drains``)
#: counts itself with DRAINING_COUNT: every DRAIN_EVERY-th tick (a power of two; a call ticks, hit or miss)
#: applies what waits.
DRAIN_EVERY = 1024
DRAINING_COUNT = f"if not _pc_tick() & {DRAIN_EVERY - 1}:\n    with _pc_lock:\n        _pc_drain()"


def hits_in(cell: Any) -> int:
    """The hits counted in the hit counter's *cell* (see ``COUNTER``)."""
    hits = cell.cell_contents
    if not ATOMIC_HITS:
        return int(hits)
    ticks, unticks, cleared = hits
    return _ticked(ticks) - _ticked(unticks) - int(cleared)


def set_hits(cell: Any, n: int) -> None:
    """Make the hit counter in *cell* read *n* (a clear, under the method's lock)."""
    if ATOMIC_HITS:
        hits = cell.cell_contents
        hits[2] += hits_in(cell) - n
    else:
        cell.cell_contents = float(n)


def _ticked(counter: itertools.count[int]) -> int:
    """The next number *counter* would give, that is the times it was ticked (read without ticking it)."""
    return int(repr(counter)[6:-1])  # "count(42)"


def _cell_setter() -> Callable[[Any], None]:
    _pc_cell: Any = None

    def store(value: Any) -> None:
        nonlocal _pc_cell
        _pc_cell = value

    return store


_STORE = _cell_setter().__code__


def set_cell(cell: Any, value: Any) -> None:
    """Point *cell* at *value* while the function that reads it may be running.

    Without the GIL, not by ``cell_contents``, which swaps the cell's value
    without the cell's lock: a reader in another thread could take a
    reference to the old value as it is freed. A function with the cell in
    its closure stores into it as the generated code reads it, under that lock.
    """
    if NO_GIL:
        FunctionType(_STORE, {}, None, None, (cell,))(value)
    else:
        cell.cell_contents = value
