"""Two properties of the timed storage behind stale serving that no call can show.

Everything else about stale serving, ``cache_if`` and ``ttl=`` a callable is
checked through the public API in ``test_stale.py`` and
``stores/test_stale_stores.py``: these two are about the generated hit code
and the storage's own records.
"""

from __future__ import annotations

from typing import Any

from proxycache._lifetime import Lifetime
from proxycache._options import make_options
from proxycache._storage import LRUStorage
from proxycache._storage_wrapped import TimedStorage, TTLStorage
from proxycache.testing import FakeClock


def lifetime(**options: Any) -> Lifetime:
    return Lifetime(make_options(**options), "Service.get")


def test_timed_storage_hits_exactly_as_a_plain_ttl() -> None:
    timed = TimedStorage(LRUStorage(8, None), lifetime(ttl=10, stale_while_revalidate=5), FakeClock())
    plain = TTLStorage(LRUStorage(8, None), 10.0, FakeClock())
    assert timed.HIT == plain.HIT  # the same generated hit: past expires_at, a miss
    assert timed.HIT.expires
    assert timed.bindings().keys() == plain.bindings().keys()


def test_rewrites_and_evictions_leave_no_records_behind() -> None:
    clock = FakeClock()
    storage = TimedStorage(LRUStorage(4, None), lifetime(ttl=5, stale_if_error=5), clock)
    for i in range(1000):
        storage.put(i % 10, i)
    assert len(storage.times) <= 2 * len(storage.inner) + 16
    assert storage.delete(9)
    assert not storage.delete(9)
    storage.clear()
    assert storage.currsize() == 0
    assert not storage.times
