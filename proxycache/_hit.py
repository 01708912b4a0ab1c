"""How a storage's cache hit reads an entry: the recipe (:class:`Hit`) ``_codegen`` writes the hit path from."""

from __future__ import annotations

from typing import Any

__all__ = ["Hit"]


class Hit:
    """How a storage's cache hit reads an entry: the recipe the cached callable is composed from.

    Every part is source text in which ``{key}`` stands for the key (a
    variable, or the argument itself) and other names are the storage's
    bindings or the globals ``_codegen`` declares. Immutable, compared and hashed by
    its parts (a plain class: a dataclass would cost the import a millisecond).
    """

    __slots__ = ("after", "before", "drains", "expires", "fallback", "lock", "missed", "read")

    #: An expression giving the entry; it raises KeyError for a missing key (TypeError for an unhashable one).
    read: str
    #: Statements run before the read; they may raise KeyError for a missing key, as the read does.
    before: tuple[str, ...]
    #: Statements run after a read that found the entry (the policy's bookkeeping: LRU order, LFU counts).
    after: tuple[str, ...]
    #: The read and what follows it run under the method's lock (mappings that change on reads).
    lock: bool
    #: The hit leaves the storage's bookkeeping (``after`` records what it needs) for the method's lock:
    #: it counts itself with ``_flags.DRAINING_COUNT``, which applies it under ``_pc_lock`` every
    #: ``DRAIN_EVERY``-th call (the method is armed at once, for its lock). The read takes no lock.
    drains: bool
    #: The entry is ``(value, expires_at)``: dead, a miss, once ``_pc_now()`` reaches ``expires_at``.
    expires: bool
    #: An expression read when ``read`` misses or has expired (a store behind a front cache).
    fallback: str | None
    #: An expression for why a KeyError was raised: ``_pc_MISSED``, or ``_pc_UNHASHABLE``
    #: where a step in ``before`` raises KeyError for an unhashable key too.
    missed: str

    def __init__(
        self, read: str, after: tuple[str, ...] = (), lock: bool = False, expires: bool = False,
        fallback: str | None = None, before: tuple[str, ...] = (), missed: str = "_pc_MISSED", drains: bool = False,
    ) -> None:
        for name, value in zip(_HIT_PARTS, (read, after, lock, expires, fallback, before, missed, drains), strict=True):
            object.__setattr__(self, name, value)

    def _parts(self) -> tuple[Any, ...]:
        return (self.read, self.after, self.lock, self.expires, self.fallback, self.before, self.missed, self.drains)

    def replace(self, **changes: Any) -> Hit:
        """A copy with *changes* made (as ``dataclasses.replace``)."""
        parts = dict(zip(_HIT_PARTS, self._parts(), strict=True))
        parts.update(changes)
        return Hit(**parts)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Hit is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Hit is immutable: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        return type(other) is Hit and self._parts() == other._parts()

    def __hash__(self) -> int:
        return hash(self._parts())

    def __repr__(self) -> str:
        return "Hit({})".format(", ".join(f"{n}={v!r}" for n, v in zip(_HIT_PARTS, self._parts(), strict=True)))


_HIT_PARTS = ("read", "after", "lock", "expires", "fallback", "before", "missed", "drains")
