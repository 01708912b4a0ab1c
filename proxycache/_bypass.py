"""``bypass()``: calls inside neither read nor write caches.

The switch is a context variable, so it holds per thread and per asyncio task.
While no block is open anywhere, cache hits skip reading it (see ``_flags``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from ._flags import lower_flag, raise_flag


class _Block:
    """One ``bypass()`` block. Contexts copied inside it (tasks) keep referring to it."""

    __slots__ = ("open", "outer")

    def __init__(self, outer: _Block | None) -> None:
        self.open = True
        self.outer = outer


_BYPASS: ContextVar[_Block | None] = ContextVar("proxycache_bypass", default=None)


def is_bypassed() -> bool:
    """Whether a block enclosing this context is open now.

    A task started inside a block holds a copy of the context that outlives
    the block: once the block closes, its calls use the caches again (as
    they would anyway while no block is open anywhere, see ``_flags``).
    """
    block = _BYPASS.get()
    while block is not None:
        if block.open:
            return True
        block = block.outer
    return False


@contextlib.contextmanager
def bypass() -> Iterator[None]:
    """Within this block, cached methods call through without reading or writing caches.

    Per thread and per task (a ``contextvars`` switch); blocks nest. Tasks
    started inside the block are bypassed while it is open. Bypassed calls
    count as neither hits nor misses.
    """
    block = _Block(_BYPASS.get())
    token = _BYPASS.set(block)
    raise_flag()
    try:
        yield
    finally:
        block.open = False
        lower_flag()
        _BYPASS.reset(token)
