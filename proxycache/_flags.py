"""One process-wide switch the cache hit path tests before anything unusual.

``FLAGS[0]`` is non-zero while any ``bypass()`` block is open (in any thread
or task) or any listener is registered. A hit then reads one list item; only
while it is non-zero do calls take the slower path that checks the context
variable and tells listeners.
"""

from __future__ import annotations

import threading
from typing import Any

FLAGS = [0]
#: The globals of the generated cached callables (see ``_codegen``), which
#: read the flag as the global ``_pc_flag``: one instruction less than FLAGS[0].
CODE_GLOBALS: dict[str, Any] = {"_pc_flag": 0}
_lock = threading.Lock()


def raise_flag() -> None:
    with _lock:
        FLAGS[0] += 1
        CODE_GLOBALS["_pc_flag"] = FLAGS[0]


def lower_flag() -> None:
    with _lock:
        FLAGS[0] -= 1
        CODE_GLOBALS["_pc_flag"] = FLAGS[0]
