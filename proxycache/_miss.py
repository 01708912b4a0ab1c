"""What a store answers for a key that holds nothing (:data:`MISS`), and the warning a failing store gives.

The store protocols are in ``_contract`` and the entry envelope in
``_entry``; this is what an in-memory cache needs of them, so ``import
proxycache`` builds neither.
"""

from __future__ import annotations

import enum
from typing import Final


class MissType(enum.Enum):
    """The type of :data:`MISS`, for annotating a store's ``get``: ``-> bytes | MissType``."""

    MISS = "MISS"

    def __repr__(self) -> str:
        return "proxycache.MISS"

    def __bool__(self) -> bool:
        return False


_Miss = MissType  # the name the store modules import

#: Returned by :meth:`Store.get` when a key holds nothing.
MISS: Final = MissType.MISS


class StoreWarning(UserWarning):
    """A store failed, or is set up in a way others can abuse; calls go on uncached.

    Warned once per store: its first fault (the reason: permission denied,
    not a directory, authentication required...), and a Redis store whose
    entries are unsigned pickles. Later faults are counted in
    ``cache_stats()["faults"]`` and logged on the ``proxycache`` logger.
    """


#: Store keys are ``<namespace>:<digest>``, the digest this many lowercase hex digits.
DIGEST_LENGTH: Final = 40
