"""Listeners: a hook on hits, misses and store faults for users' metrics."""

from __future__ import annotations

import logging
import typing
from collections.abc import Callable
from typing import Any

from ._flags import lower_flag, raise_flag

log = logging.getLogger("proxycache")


if typing.TYPE_CHECKING:

    class Event(typing.NamedTuple):
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

else:
    # The same class made by collections.namedtuple, which costs the import half what the class
    # statement does; with its docstring (keep the two alike), annotations and bases.
    import collections

    Event = collections.namedtuple("Event", ("kind", "method", "detail"), defaults=(None,), module=__name__)
    Event.__doc__ = """What happened, to which method, and details.

    *kind*: ``"hit"``, ``"miss"``, ``"fault"``, ``"uncached"``, ``"stale"``
    (an expired entry served) or ``"refresh"`` (a background refresh ended).
    A ``"hit"``'s *detail* is ``{"value": result, "saved_seconds": ...}``
    (``"error"`` instead of ``"value"`` for a cached exception): what the
    stored answer was, for counting what the cache saved (tokens, money).
    """
    Event.__annotations__ = {"kind": str, "method": str, "detail": Any}
    Event.__orig_bases__ = (typing.NamedTuple,)


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
