"""One process-wide switch the cache hit path tests before anything unusual.

``CODE_GLOBALS["_pc_flag"]`` is true while any ``bypass()`` block is open
(in any thread or task) or any listener is registered. The generated cached
callables read it as their global ``_pc_flag``; only while it is true do
calls take the slower path that checks the context variable and tells listeners.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

#: Whether this interpreter runs Python code in several threads at once: a
#: free-threaded build (3.13+, ``--disable-gil``) with the GIL off when
#: proxycache loads. Then a hit that reorders its storage takes the method's
#: lock, and hits are counted by atomic counters, not a float in a cell. The
#: GIL, once on, stays on, so code made while it is on never runs without it.
NO_GIL: bool = not getattr(sys, "_is_gil_enabled", lambda: True)()

#: The globals of the generated cached callables (see ``_codegen``), which
#: read the flag as the global ``_pc_flag``: one instruction less than an item of a list.
#: A bool, not the count: ``if _pc_flag`` tests True and False without calling ``__bool__``.
CODE_GLOBALS: dict[str, Any] = {"_pc_flag": False}
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
