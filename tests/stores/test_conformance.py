"""One suite, every store: the shipped conformance suite, then what only the built-in stores promise."""

from __future__ import annotations

import copy
import pickle
from typing import Any

from proxycache import MISS, CachedProxy
from proxycache.testing import StoreConformance

from ..conftest import CountingClient

NS = "tests.Conformance.get"


def key(n: Any, ns: str = NS) -> str:
    return f"{ns}:{n:040x}" if isinstance(n, int) else f"{ns}:{n}"


class TestEveryStore(StoreConformance):
    """``proxycache.testing.StoreConformance`` against each kind of store (the ``store`` fixture)."""


# -- the built-in stores -----------------------------------------------------------


def test_built_in_stores_are_shared(store: Any) -> None:
    assert store.shared is True


def test_copy_is_the_same_store_and_pickle_reopens_it(store: Any) -> None:
    assert copy.copy(store) is store
    assert copy.deepcopy(store) is store
    store.set(key(1), b"x")
    clone = pickle.loads(pickle.dumps(store))
    assert type(clone) is type(store)
    if store.kind == "memory":
        assert clone.get(key(1)) is MISS  # entries never travel
    else:
        assert clone.get(key(1)) == b"x"  # same directory / server


def test_statistics_name_the_kind_of_store(store: Any, client: CountingClient) -> None:
    proxy = CachedProxy(client, store=store, key_attrs=("base",))
    proxy.get(1)
    assert proxy.get.cache_stats()["policy"] == store.kind
