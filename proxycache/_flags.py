"""One process-wide switch the cache hit path tests before anything unusual.

``FLAGS[0]`` is non-zero while any ``bypass()`` block is open (in any thread
or task) or any listener is registered. A hit then reads one list item; only
while it is non-zero do calls take the slower path that checks the context
variable and tells listeners.
"""

from __future__ import annotations

import threading

FLAGS = [0]
_lock = threading.Lock()


def raise_flag() -> None:
    with _lock:
        FLAGS[0] += 1


def lower_flag() -> None:
    with _lock:
        FLAGS[0] -= 1
