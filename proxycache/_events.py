"""Listeners: a hook on hits, misses and store faults for users' metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from ._flags import lower_flag, raise_flag

log = logging.getLogger("proxycache")


class Event(NamedTuple):
    """What happened, to which method, and details.

    *kind*: ``"hit"``, ``"miss"``, ``"fault"``, ``"uncached"``, ``"stale"``
    (an expired entry served) or ``"refresh"`` (a background refresh ended).
    A ``"hit"``'s *detail* is ``{"value": result, "saved_seconds": ...}``
    (``"error"`` instead of ``"value"`` for a cached exception): what the
    stored answer was, for counting what the cache saved (tokens, money).
    """

    kind: str
    method: str
    detail: Any = None


#: Registered callbacks (while any is, cache hits take the slow path, see ``_flags``).
LISTENERS: list[Callable[[Event], None]] = []


def add_listener(callback: Callable[[Event], None]) -> Callable[[], None]:
    """Call *callback* with an :class:`Event` on every hit, miss and store fault.

    Returns a function that removes the listener. A listener that raises is
    logged and otherwise ignored: it never fails the cached call.
    """
    LISTENERS.append(callback)
    raise_flag()

    def remove() -> None:
        try:
            LISTENERS.remove(callback)
        except ValueError:
            return
        lower_flag()

    return remove


def emit(kind: str, method: str, detail: Any = None) -> None:
    event = Event(kind, method, detail)
    for callback in list(LISTENERS):
        try:
            callback(event)
        except Exception:
            log.exception("proxycache listener %r failed", callback)
