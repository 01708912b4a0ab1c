"""``@cached_method`` on your own classes: per instance, subclasses, slots, class and static methods."""

from __future__ import annotations

import copy
import gc
import inspect
import pickle
import weakref
from typing import Any, ClassVar

import pytest

from proxycache import cache_clear, cache_info, cached_method

from .conftest import cached_function


class Account:
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.calls: list[str] = []

    @cached_method
    def balance(self, currency: str = "EUR") -> tuple[str, str]:
        """The balance, in *currency*."""
        self.calls.append("balance")
        return (self.owner, currency)

    @cached_method(maxsize=1, typed=True)
    def rate(self, value: float) -> float:
        self.calls.append("rate")
        return value * 2

    @cached_method
    def summary(self) -> list[Any]:
        self.calls.append("summary")
        return [self.balance(), self.balance("EUR")]

    def plain(self) -> int:
        return 1


def test_bare_decorator_caches_per_instance() -> None:
    a, b = Account("a"), Account("b")
    assert a.balance() == a.balance("EUR") == a.balance(currency="EUR") == ("a", "EUR")
    assert b.balance() == ("b", "EUR")
    assert a.calls == ["balance"]
    assert b.calls == ["balance"]
    assert a.balance is not b.balance
    assert a.balance is a.balance  # installed on the instance: one callable


def test_decorator_with_options() -> None:
    obj = Account("a")
    obj.rate(1)
    obj.rate(1.0)  # typed: another entry
    assert obj.calls == ["rate", "rate"]
    assert obj.rate.cache_info().maxsize == 1
    assert obj.rate.cache_info().currsize == 1
    params = obj.rate.cache_parameters()
    assert (params["maxsize"], params["typed"]) == (1, True)
    assert Account.rate.cache_parameters() == params


def test_methods_calling_each_other_hit_the_caches() -> None:
    obj = Account("a")
    obj.summary()
    obj.summary()
    assert obj.calls == ["summary", "balance"]
    assert cache_info(obj)["balance"].hits == 1


def test_the_descriptor_looks_like_the_method() -> None:
    desc = vars(Account)["balance"]
    assert hasattr(type(desc), "__get__")  # a descriptor, bound on access like a function
    assert Account.balance is desc
    assert Account.balance.__doc__ == "The balance, in *currency*."
    assert Account.balance.__name__ == "balance"
    assert list(inspect.signature(Account.balance).parameters) == ["self", "currency"]
    obj = Account("a")
    assert list(inspect.signature(obj.balance).parameters) == ["currency"]
    assert obj.balance.__doc__ == "The balance, in *currency*."
    assert obj.balance.__wrapped__ is desc.__wrapped__ is Account.__dict__["balance"].__wrapped__
    assert "cached method" in repr(desc)


def test_calling_through_the_class_with_an_instance() -> None:
    obj = Account("a")
    assert Account.balance(obj, "USD") == ("a", "USD")
    assert Account.balance(obj, currency="USD") == ("a", "USD")
    assert obj.balance("USD") == ("a", "USD")
    assert obj.calls == ["balance"]
    with pytest.raises(TypeError):
        Account.balance()  # type: ignore[call-arg]


def test_module_level_info_and_clear() -> None:
    obj = Account("a")
    obj.summary()
    assert set(cache_info(obj)) == {"summary", "balance"}
    cache_clear(obj, "balance")
    assert cache_info(obj)["balance"].currsize == 0
    assert cache_info(obj)["summary"].currsize == 1


# -- subclasses -----------------------------------------------------------------


class Savings(Account):
    @cached_method
    def balance(self, currency: str = "EUR") -> tuple[str, str]:
        self.calls.append("savings")
        return ("savings", *super().balance(currency))


class Plain(Account):
    def balance(self, currency: str = "EUR") -> tuple[str, str]:
        self.calls.append("plain")
        return ("plain", *super().balance(currency))


class Inherits(Account):
    pass


def test_decorated_override_calling_super_keeps_both_caches() -> None:
    obj = Savings("a")
    assert obj.balance() == obj.balance() == ("savings", "a", "EUR")
    assert obj.calls == ["savings", "balance"]
    info = cache_info(obj)
    assert (info["balance"].hits, info["balance"].misses) == (1, 1)
    assert (info["Account.balance"].hits, info["Account.balance"].misses) == (0, 1)
    # The parent's own cache answers a direct super() call.
    assert super(Savings, obj).balance() == ("a", "EUR")
    assert cache_info(obj)["Account.balance"].hits == 1
    assert obj.calls == ["savings", "balance"]


def test_plain_override_calling_a_decorated_parent() -> None:
    obj = Plain("a")
    assert obj.balance() == obj.balance() == ("plain", "a", "EUR")
    assert obj.calls == ["plain", "balance", "plain"]  # the override is not cached, the parent is
    assert set(cache_info(obj)) == {"Account.balance"}
    assert cache_info(obj)["Account.balance"].hits == 1
    # The parent's other methods calling self.balance() reach the override.
    obj.summary()
    assert obj.calls.count("plain") == 4


def test_a_subclass_that_does_not_override_shares_the_descriptor() -> None:
    obj = Inherits("a")
    obj.balance()
    obj.balance()
    assert obj.calls == ["balance"]
    assert set(cache_info(obj)) == {"balance"}


def test_sibling_instances_of_parent_and_child_stay_apart() -> None:
    parent, child = Account("a"), Savings("a")
    parent.balance()
    child.balance()
    assert parent.calls == ["balance"]
    assert child.calls == ["savings", "balance"]


# -- __slots__ -----------------------------------------------------------------


class Slotted:
    __slots__ = ("__weakref__", "calls")

    def __init__(self) -> None:
        self.calls = 0

    @cached_method
    def get(self, x: Any) -> Any:
        self.calls += 1
        return x


class SlottedChild(Slotted):
    __slots__ = ()

    @cached_method
    def get(self, x: Any) -> Any:
        return ("child", super().get(x))


class NoWeakref:
    __slots__ = ("calls",)

    @cached_method
    def get(self, x: Any) -> Any:
        return x


def test_slots_with_weakref() -> None:
    a, b = Slotted(), Slotted()
    assert a.get(1) == a.get(1) == 1
    b.get(1)
    assert (a.calls, b.calls) == (1, 1)
    assert a.get.__func__ is a.get.__func__  # one cached callable; bound anew per access, like methods
    assert cache_info(a)["get"].hits == 1
    cache_clear(a)
    assert cache_info(a)["get"].currsize == 0
    assert cache_info(b)["get"].currsize == 1


def test_slots_subclass_with_super() -> None:
    obj = SlottedChild()
    assert obj.get(1) == obj.get(1) == ("child", 1)
    assert obj.calls == 1
    info = cache_info(obj)
    assert (info["get"].hits, info["Slotted.get"].misses) == (1, 1)


def test_slots_caches_are_freed_with_the_instance() -> None:
    gc.collect()
    gc.disable()
    try:
        obj = SlottedChild()
        obj.get(1)
        desc = vars(Slotted)["get"]
        refs = [weakref.ref(obj), weakref.ref(cached_function(obj.get))]
        assert len(desc.side._values) >= 1
        del obj
        assert [r() for r in refs] == [None, None]
        assert desc.side._values == {}
    finally:
        gc.enable()


def test_slots_without_weakref_fail_at_first_call_with_the_way_out() -> None:
    obj = NoWeakref()  # defining and building it is fine
    with pytest.raises(TypeError, match=r"NoWeakref has neither __dict__ nor __weakref__.*'__weakref__'.*CachedProxy"):
        obj.get(1)


# -- class and static methods ------------------------------------------------------


class Catalog:
    made: ClassVar[list[Any]] = []

    @cached_method
    @classmethod
    def build(cls, x: Any) -> Any:
        cls.made.append((cls.__name__, x))
        return (cls.__name__, x)

    @cached_method(maxsize=5)
    @staticmethod
    def square(x: int) -> int:
        Catalog.made.append(("square", x))
        return x * x


class SubCatalog(Catalog):
    pass


def test_a_classmethod_has_one_cache_keyed_by_class() -> None:
    Catalog.made.clear()
    Catalog.build.cache_clear()
    assert Catalog.build(1) == ("Catalog", 1)
    assert Catalog().build(1) == ("Catalog", 1)
    assert SubCatalog.build(1) == ("SubCatalog", 1)
    assert SubCatalog().build(1) == ("SubCatalog", 1)
    assert Catalog.made == [("Catalog", 1), ("SubCatalog", 1)]
    assert Catalog.build.cache_info().hits == 2
    assert Catalog.build.cache_info() is not None
    assert SubCatalog.build.cache_info() == Catalog.build.cache_info()


def test_a_staticmethod_has_one_shared_cache() -> None:
    Catalog.made.clear()
    Catalog.square.cache_clear()
    assert Catalog.square(3) == Catalog().square(3) == SubCatalog().square(3) == 9
    assert Catalog.made == [("square", 3)]
    assert Catalog.square.cache_info().maxsize == 5
    assert cache_info(Catalog)["square"].hits == 2
    assert cache_info(Catalog())["square"].hits == 2


def test_a_shared_cache_keeps_no_instance_alive() -> None:
    gc.collect()
    gc.disable()
    try:
        obj = Catalog()
        obj.build(2)
        obj.square(2)
        ref = weakref.ref(obj)
        del obj
        assert ref() is None
    finally:
        gc.enable()


# -- pickling and copying -------------------------------------------------------


def test_pickling_an_instance_does_not_pickle_its_caches() -> None:
    obj = Savings("a")
    obj.balance("a-distinctive-currency")
    data = pickle.dumps(obj)
    assert b"a-distinctive-currency" not in data
    twin = pickle.loads(data)
    assert cache_info(twin) == {}
    assert twin.balance() == ("savings", "a", "EUR")
    assert twin.calls == ["savings", "balance", "savings", "balance"]


def test_copies_get_their_own_caches() -> None:
    obj = Account("a")
    obj.balance()
    for twin in (copy.copy(obj), copy.deepcopy(obj)):
        assert cache_info(twin) == {}
        twin.balance()
        assert twin.balance.cache_info().misses == 1
        assert twin.balance is not obj.balance
    assert obj.balance.cache_info().currsize == 1


def test_slotted_instances_pickle_without_caches() -> None:
    obj = Slotted()
    obj.get(1)
    twin = pickle.loads(pickle.dumps(obj))
    assert twin.calls == 1
    assert cache_info(twin) == {}
    twin.get(1)
    assert twin.calls == 2


# -- what cannot be decorated ------------------------------------------------------


def test_property_above_cached_method_works() -> None:
    class Lazy:
        def __init__(self) -> None:
            self.n = 0

        @property
        @cached_method
        def value(self) -> int:
            self.n += 1
            return self.n

    obj = Lazy()
    assert obj.value == obj.value == 1


def test_options_must_be_keywords_and_known() -> None:
    with pytest.raises(TypeError, match=r"options as keywords only.*@cached_method\(maxsize=...\)"):
        cached_method(3)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"cached_method\(\) got an unknown option 'maxsise'.*'maxsize'"):
        cached_method(maxsise=3)
    with pytest.raises(ValueError, match="maxsize must be >= 0"):
        cached_method(maxsize=-1)


# -- a method taken from a temporary instance -------------------------------------------


def test_a_cached_method_of_a_temporary_instance_works() -> None:
    # The callable stored on the instance holds it weakly (a strong reference
    # would be a cycle instance -> callable -> instance); what the first access
    # hands out is bound strongly, as a bound method is, so temporaries work.
    assert Account("tmp").balance() == ("tmp", "EUR")
    method = Account("tmp").balance
    assert method() == ("tmp", "EUR")
    assert method() == ("tmp", "EUR")
    assert method.cache_info().hits == 1
    assert inspect.signature(method) == inspect.signature(Account("x").balance)


def test_the_strongly_bound_first_access_leaves_no_cycle() -> None:
    gc.disable()
    try:
        obj = Account("a")
        method = obj.balance  # first access: the strongly bound form
        method()
        ref = weakref.ref(obj)
        del obj
        assert ref() is not None  # held by the bound form, as a bound method would
        del method
        assert ref() is None  # and freed by reference counting alone
    finally:
        gc.enable()


def test_keeping_the_instance_makes_it_work() -> None:
    obj = Account("kept")
    method = obj.balance
    assert method() == ("kept", "EUR")
    assert Account.balance(Account("tmp")) == ("tmp", "EUR")  # through the class, the call holds it
