"""A call's store key is the call's alone: never what this process saw before, and never another kind's."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from proxycache import CachedProxy


class Show:
    """Answers with its argument's type and repr: a wrong entry shows."""

    def __init__(self) -> None:
        self.calls = 0

    def show(self, x: Any) -> str:
        self.calls += 1
        return f"{type(x).__name__}:{x!r}"


UTC = dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone.utc)
PARIS = dt.datetime(2024, 1, 1, 13, tzinfo=dt.timezone(dt.timedelta(hours=1)))


@pytest.mark.parametrize("typed", [False, True])
@pytest.mark.parametrize(
    ("first", "then"),
    [
        (UTC, PARIS),  # one instant, two offsets
        (Decimal("1"), Decimal("1.0")),  # one number, two exponents
        (0.0, -0.0),
        (1, 1.0),
        ((UTC,), (PARIS,)),
        (frozenset({Decimal("2")}), frozenset({Decimal("2.00")})),
    ],
)
def test_equal_arguments_encoded_apart_never_share_a_store_key_by_history(
    store: Any, typed: bool, first: Any, then: Any
) -> None:
    """Equal in Python, encoded apart in the store: each call is keyed by itself, whatever came before.

    Two proxies stand for two processes: one sees *first* and then *then*, the
    other *then* only; both must find *then*'s entry, not the one of whichever
    equal argument came first.
    """
    assert first == then
    assert hash(first) == hash(then)
    seen_both = CachedProxy(Show(), store=store, key_attrs=(), typed=typed)
    assert seen_both.show(first) == Show().show(first)
    assert seen_both.show(then) == Show().show(then)
    fresh = CachedProxy(Show(), store=store, key_attrs=(), typed=typed)
    assert fresh.show(then) == Show().show(then)
    assert fresh.show(first) == Show().show(first)


def test_store_keys_of_exact_arguments_are_still_remembered(store: Any) -> None:
    """Ints, strings and tagged booleans equal only what encodes alike: their store keys are remembered."""
    client = Show()
    proxy = CachedProxy(client, store=store, key_attrs=())
    for x in (1, "a", True, ("x", 1), ("x", True), frozenset({"a"}), 2.5):
        assert proxy.show(x) == Show().show(x)
        assert proxy.show(x) == Show().show(x)
    assert client.calls == 7


def test_a_range_and_the_tuple_it_was_encoded_as_are_apart(store: Any) -> None:
    writer = CachedProxy(Show(), store=store, key_attrs=())
    assert writer.show(range(5)) == "range:range(0, 5)"
    reader = CachedProxy(Show(), store=store, key_attrs=())
    assert reader.show(("range", 0, 5, 1)) == "tuple:('range', 0, 5, 1)"


@pytest.mark.parametrize(
    ("with_bool", "with_number"),
    [((True,), (1,)), (("x", False), ("x", 0)), (frozenset({True}), frozenset({1})), ((("y", True),), (("y", 1.0),))],
)
def test_booleans_inside_tuples_never_match_numbers_in_a_store(store: Any, with_bool: Any, with_number: Any) -> None:
    for first, then in [(with_bool, with_number), (with_number, with_bool)]:
        store.clear()
        one = CachedProxy(Show(), store=store, key_attrs=())
        for _ in range(2):  # the second time, hits: from the store, and from the store key remembered
            assert one.show(first) == Show().show(first)
            assert one.show(then) == Show().show(then)
        other = CachedProxy(Show(), store=store, key_attrs=())
        assert other.show(then) == Show().show(then)
        assert other.show(first) == Show().show(first)
        assert one.show.cache_info().misses == 2
        assert other.show.cache_info().misses == 0


def test_booleans_inside_tuples_never_match_numbers_in_a_coroutine_method() -> None:
    class Async:
        async def show(self, x: Any) -> str:
            return f"{type(x).__name__}:{x!r}"

    async def main() -> None:
        proxy = CachedProxy(Async())
        for _ in range(2):
            assert await proxy.show((1,)) == "tuple:(1,)"
            assert await proxy.show((True,)) == "tuple:(True,)"
        assert proxy.show.cache_info().misses == 2

    asyncio.run(main())
