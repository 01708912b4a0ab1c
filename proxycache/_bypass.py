"""``bypass()``: calls inside neither read nor write caches.

The switch is a context variable, so it holds per thread and per asyncio task.
While no block is open anywhere, cache hits skip reading it (see ``_flags``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from ._flags import lower_flag, raise_flag

_BYPASS: ContextVar[bool] = ContextVar("proxycache_bypass", default=False)

is_bypassed = _BYPASS.get


@contextlib.contextmanager
def bypass() -> Iterator[None]:
    """Within this block, cached methods call through without reading or writing caches.

    Per thread and per task (a ``contextvars`` switch); blocks nest.
    """
    token = _BYPASS.set(True)
    raise_flag()
    try:
        yield
    finally:
        lower_flag()
        _BYPASS.reset(token)
