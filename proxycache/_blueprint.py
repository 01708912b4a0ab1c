"""What the caches of one method share across owners (a blueprint), worked out for the first owner."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ._lifetime import NO_RULES, NO_STALE, stale_serving, storing_rules
from ._options import Options, flight_mode
from ._plan import Plan
from ._storage import Storage
from ._storage_choice import storage_maker

#: Blueprints kept per options object, at most this many (functions made at run time would each add one).
MAX_BLUEPRINTS = 4096


class _Blueprint:
    """What the caches of one method share across owners: worked out for the first, reused for the next.

    Kept with the options (``Options._blueprints``), per function (see
    ``_plan.signature_and_slot``), names and kind of owner: the plan without an owner (``ignore=`` checked, key layout
    made), who shares a computation, whether a miss may take the lean step,
    and the compiled factory of the cached callable once one was made.
    """

    __slots__ = ("built", "empty", "lazy_storage", "mode", "new_storage", "plain", "plan")

    def __init__(self, plan: Plan) -> None:
        options = plan.options
        self.plan = plan
        self.mode = flight_mode(options)
        #: Memory storage, no stream replay, no cache_if or ttl from the result, no stale serving:
        #: the null objects are shared, and a miss may take the lean step (``CachedMethod._lean``).
        self.plain = (
            options.store is None
            and options.streams != "replay"
            and storing_rules(options, plan.qualname) is NO_RULES
            and stale_serving(options, plan.qualname) is NO_STALE
        )
        #: ``(hit recipe, storage class, factory, index of the hit counter's cell)`` of the last cached
        #: callable made (recipe and class tell the binding names); no index when the factory does not
        #: take the bindings as they are (defaults).
        self.built: tuple[Any, type, Any, int | None] | None = None
        #: What makes a plain method's storage (see ``_storage_choice.storage_maker``).
        self.new_storage: Callable[[], Storage] = storage_maker(options)
        #: A plain method with one of proxycache's policies (no mapping of the user's, whose factory must
        #: not be called for nothing) and no ``ttl`` (whose clock is the one current when the method is
        #: first looked up: ``testing.use_clock``) gets its storage on first use; until then its cached
        #: callable reads ``empty``: ``(hit recipe, storage class, bindings)`` of a storage made once
        #: and dropped, whose dicts nothing can write to (every read misses).
        self.lazy_storage = (
            self.plain and options.cache is None and isinstance(options.policy, str) and options.ttl is None
        )
        self.empty: tuple[Any, type, dict[str, Any]] | None = None


def _blueprint(
    slot: object | None, options: Options, name: str, qualname: str, signature: inspect.Signature | None,
    strict_ignore: bool, kind: Any,
) -> _Blueprint:
    """The blueprint of a method whose function's signature has *slot* (None: a fresh one, not kept)."""
    kept = options._blueprints
    if slot is not None:
        found = kept.get((id(slot), name, qualname, strict_ignore, kind))
        if found is not None and found[0] is slot:
            return found[1]  # type: ignore[no-any-return]
    blueprint = _Blueprint(Plan(
        name=name, qualname=qualname, options=options, signature=signature,
        attrs_of=None, wrapped=None, strict_ignore=strict_ignore,
    ))
    if slot is not None:
        if len(kept) >= MAX_BLUEPRINTS:
            kept.clear()
        kept[(id(slot), name, qualname, strict_ignore, kind)] = (slot, blueprint)
    return blueprint
