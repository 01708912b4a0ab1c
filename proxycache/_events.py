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

    def __getattr__(name: str) -> Any:
        if name == "Event":
            return _event_class()
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _event_class() -> Any:
    """The Event class, made on first use (a read of the name, or add_listener: emit names it).

    The same class the statement above makes, made by collections.namedtuple
    (half the cost), with its docstring (keep the two alike), annotations
    and bases. Most programs register no listener and never make it.
    """
    made = globals().get("Event")
    if made is not None:
        return made
    import collections

    make: Any = collections.namedtuple  # a class made at run time: the statement above is the one to check
    cls = make("Event", ("kind", "method", "detail"), defaults=(None,), module=__name__)
    cls.__doc__ = """What happened, to which method, and details.

    *kind*: ``"hit"``, ``"miss"``, ``"fault"``, ``"uncached"``, ``"stale"``
    (an expired entry served) or ``"refresh"`` (a background refresh ended).
    A ``"hit"``'s *detail* is ``{"value": result, "saved_seconds": ...}``
    (``"error"`` instead of ``"value"`` for a cached exception): what the
    stored answer was, for counting what the cache saved (tokens, money).
    """
    cls.__annotations__ = {"kind": str, "method": str, "detail": Any}
    cls.__orig_bases__ = (typing.NamedTuple,)
    return globals().setdefault("Event", cls)  # two threads at once: both get the one stored


#: Registered callbacks (while any is, cache hits take the slow path, see ``_flags``).
LISTENERS: list[Callable[[Event], None]] = []


def add_listener(callback: Callable[[Event], None]) -> Callable[[], None]:
    """Call *callback* with an :class:`Event` on every hit, miss and store fault.

    Returns a function that removes the listener. A listener that raises is
    logged and otherwise ignored: it never fails the cached call.
    """
    _event_class()  # made before any emit() names it
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
