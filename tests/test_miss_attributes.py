"""What a plain miss reads and writes on the method and its counters is never shadowed by a class attribute.

CPython 3.12+ specializes reads and writes of an instance attribute only
when the class has no plain attribute of the same name; shadowed ones take
the generic path (several times a specialized one), and a plain miss makes
about a dozen of them. These checks keep the defaults off the classes.
"""

from __future__ import annotations

from types import MemberDescriptorType

from proxycache import cache_methods
from proxycache._method import CachedMethod
from proxycache._stats import Counters

#: What ``SyncDriver._lean`` reads or writes on the method, besides methods and what it never changes once armed.
LEAN_MISS = ("generation", "returns_awaitable", "_spare", "lean_parts")
#: What every method sets as it is made (a first access writes them; a miss reads ``weak`` through ``lean_parts``).
SET_WHEN_MADE = ("weak", "_func_ref")
#: What a miss counts.
COUNTS = ("misses", "other_hits", "computed", "computed_seconds", "faults", "uncached", "coalesced")


class Service:
    def get(self, x: int) -> int:
        return x


def test_no_class_in_the_method_mro_has_a_default_for_what_a_miss_or_a_first_access_writes() -> None:
    for cls in CachedMethod.__mro__:
        shadowing = sorted(set(LEAN_MISS + SET_WHEN_MADE) & set(vars(cls)))
        assert not shadowing, f"{cls.__qualname__} has class-level {shadowing}"


def test_counts_are_slots_set_when_the_counters_are_made() -> None:
    counters = Counters()
    for name in COUNTS:
        assert type(vars(Counters)[name]) is MemberDescriptorType, name
        assert getattr(counters, name) == 0
    assert not hasattr(counters, "__dict__")


def test_arming_sets_what_the_miss_reads_and_misses_count_as_before() -> None:
    obj = cache_methods(Service(), "get", maxsize=2)
    state = obj.get.__proxycache__
    assert state.lock is None
    assert not hasattr(state, "generation")
    assert state._func_ref() is obj.get
    for x in (1, 2, 3, 1):
        assert obj.get(x) == x
    assert (state.generation, state.returns_awaitable, len(state.lean_parts)) == (0, False, 7)
    info = obj.get.cache_info()
    assert (info.hits, info.misses, info.currsize) == (0, 4, 2)
    assert obj.get(1) == 1
    assert obj.get.cache_info().hits == 1
    obj.get.cache_clear()
    assert state.generation == 1
    assert obj.get.cache_info().misses == 0
