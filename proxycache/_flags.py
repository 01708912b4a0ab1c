"""One process-wide switch the cache hit path tests before anything unusual.

``CODE_GLOBALS["_pc_flag"]`` is non-zero while any ``bypass()`` block is open
(in any thread or task) or any listener is registered. The generated cached
callables read it as their global ``_pc_flag``; only while it is non-zero do
calls take the slower path that checks the context variable and tells listeners.
"""

from __future__ import annotations

import threading
from typing import Any

#: The globals of the generated cached callables (see ``_codegen``), which
#: read the flag as the global ``_pc_flag``: one instruction less than an item of a list.
CODE_GLOBALS: dict[str, Any] = {"_pc_flag": 0}
_lock = threading.Lock()


def raise_flag() -> None:
    with _lock:
        CODE_GLOBALS["_pc_flag"] += 1


def lower_flag() -> None:
    with _lock:
        CODE_GLOBALS["_pc_flag"] -= 1
