"""The clock entry lifetimes are measured by: ``time.monotonic``, unless a test swaps it.

A cache binds the current clock when it is built (the hit path then calls it
as a local name, one call and no lookup), so a swap reaches caches built
after it. :func:`proxycache.testing.use_clock` is the public way to swap it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

_current: Callable[[], float] = time.monotonic


def current() -> Callable[[], float]:
    """The clock a cache built now binds."""
    return _current


def now() -> float:
    """The current clock's time, in seconds."""
    return _current()


def swap(clock: Callable[[], float]) -> Callable[[], float]:
    """Make *clock* the current clock; return the one it replaces."""
    global _current
    old, _current = _current, clock
    return old
