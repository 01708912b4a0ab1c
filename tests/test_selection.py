"""Which methods are cached: one rule, asked by all four entry points.

One example class with every kind of attribute the rule tells apart, cached
through ``CachedProxy``, ``cache_methods``, ``CachingMixin`` and
``@cached_method``. A probe calls an attribute twice: the second call gives
the first call's result back only when the first was cached (every call of
the example makes a fresh tick).

The differences between entry points are the ones the docs name: the mixin
caches the plain methods of the class (not static or class methods, not
callable attributes of the instance); dotted paths reach nested objects
through the proxy; a name given to ``cache_methods`` or a method decorated
with ``@cached_method`` is cached whatever ``include=``/``exclude=`` and
``DEFAULT_SKIP`` say, but must still be a method.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from proxycache import DEFAULT_SKIP, CachedProxy, CachingMixin, cache_info, cache_methods, cache_of, cached_method

TICK = itertools.count()


class Page:
    """A class reached as an attribute: calling it builds a new object each time."""

    def __init__(self, n: int) -> None:
        self.n = n


class Completions:
    def __init__(self, calls: Counter[str]) -> None:
        self.calls = calls

    def create(self, x: Any) -> list[Any]:
        self.calls["chat.completions.create"] += 1
        return ["create", x, next(TICK)]


class Chat:
    def __init__(self, calls: Counter[str]) -> None:
        self.completions = Completions(calls)


def _tick(obj: Example, name: str, x: Any) -> list[Any]:
    # A function, not a method: no selection may cache it.
    obj.calls[name] += 1
    return [name, x, next(TICK)]


class Example:
    """One attribute of each kind; every call counts itself and returns a fresh tick."""

    Page = Page
    limit = 10

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.handler: Callable[[Any], list[Any]] = lambda x: ["handler", x, next(TICK)]
        self.chat = Chat(self.calls)  # a nested client: chat.completions.create

    def get(self, x: Any) -> list[Any]:
        return _tick(self, "get", x)

    def get_many(self, x: Any) -> list[Any]:
        return _tick(self, "get_many", x)

    def echo(self, x: Any) -> list[Any]:
        return _tick(self, "echo", x)

    def _helper(self, x: Any) -> list[Any]:
        return _tick(self, "_helper", x)

    def __custom__(self, x: Any) -> list[Any]:
        return _tick(self, "__custom__", x)

    def __len__(self) -> int:
        self.calls["__len__"] += 1
        return next(TICK)

    @property
    def formatter(self) -> Callable[[Any], list[Any]]:
        """A property whose value is callable: read on every access, never cached."""
        self.calls["formatter"] += 1
        return lambda x: ["formatter", x, next(TICK)]

    @staticmethod
    def double(x: int) -> list[Any]:
        return [2 * x, next(TICK)]

    @classmethod
    def build(cls, x: Any) -> list[Any]:
        return [cls.__name__, x, next(TICK)]

    @contextmanager
    def opened(self, x: Any) -> Iterator[list[Any]]:
        self.calls["opened"] += 1
        yield ["opened", x, next(TICK)]

    def items(self, n: int) -> Iterator[int]:
        self.calls["items"] += 1
        for _ in range(n):
            yield next(TICK)

    async def aitems(self, n: int) -> Any:
        for _ in range(n):
            yield next(TICK)

    # Names in DEFAULT_SKIP: they change state or release resources.
    def close(self) -> list[Any]:
        return _tick(self, "close", None)

    def commit(self) -> list[Any]:
        return _tick(self, "commit", None)

    def create_order(self, x: Any) -> list[Any]:
        return _tick(self, "create_order", x)

    def set_limit(self, x: Any) -> list[Any]:
        return _tick(self, "set_limit", x)


def _entered(obj: Any) -> Any:
    with obj.opened(1) as value:
        return value


#: How each attribute is called; two calls give one result only when the first was cached.
PROBES: dict[str, Callable[[Any], Any]] = {
    "get": lambda o: o.get(1),
    "get_many": lambda o: o.get_many(1),
    "echo": lambda o: o.echo(1),
    "_helper": lambda o: o._helper(1),
    "__custom__": lambda o: o.__custom__(1),
    "__len__": len,
    "formatter": lambda o: o.formatter(1),
    "double": lambda o: o.double(1),
    "build": lambda o: o.build(1),
    "handler": lambda o: o.handler(1),
    "Page": lambda o: o.Page(1),
    "opened": _entered,
    "items": lambda o: list(o.items(2)),
    "close": lambda o: o.close(),
    "commit": lambda o: o.commit(),
    "create_order": lambda o: o.create_order(1),
    "set_limit": lambda o: o.set_limit(1),
}

SKIP_LISTED = {"close", "commit", "create_order", "set_limit"}
#: What CachingMixin leaves alone whatever the options: it caches the class's plain methods only.
NOT_PLAIN = {"double", "build", "handler"}

WAYS = ["proxy", "inplace", "mixin"]


def build(way: str, **options: Any) -> Any:
    """An ``Example`` whose methods are chosen by the options, through an entry point that chooses them."""
    if way == "proxy":
        return CachedProxy(Example(), **options)
    if way == "inplace":
        return cache_methods(Example(), **options)
    assert way == "mixin"
    return type("MixedExample", (CachingMixin, Example), {}, **options)()


def hits(obj: Any, names: Any = PROBES) -> set[str]:
    """The attributes among *names* whose second call is a hit."""
    return {name for name in names if PROBES[name](obj) == PROBES[name](obj)}


def is_cached(method: Any) -> bool:
    try:
        cache_of(method)
    except TypeError:
        return False
    return True


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize(
    ("options", "expected"),
    [
        # The default: public methods, static and class methods, callable
        # attributes; never private names, dunders, properties, classes,
        # generator functions, @contextmanager results, or DEFAULT_SKIP names.
        ({}, {"get", "get_many", "echo", "double", "build", "handler"}),
        ({"include": ["get", "echo"]}, {"get", "echo"}),
        ({"include": "get"}, {"get"}),  # one name, not its letters
        ({"include": ["get*"]}, {"get", "get_many"}),
        ({"include": ["*e*"]}, {"get", "get_many", "echo", "double", "handler", "close", "create_order", "set_limit"}),
        ({"include": ["*"]}, {"get", "get_many", "echo", "double", "build", "handler"} | SKIP_LISTED),
        ({"include": ["_helper"]}, {"_helper"}),  # a private name, named exactly (a glob never matches one)
        ({"include": ["__custom__", "__len__"]}, set()),  # dunders never
        ({"include": ["formatter", "Page", "items", "limit"]}, set()),  # not methods: included or not
        ({"include": ["close", "create_*"]}, {"close", "create_order"}),  # include= wins over DEFAULT_SKIP
        ({"include": lambda n: n.startswith(("e", "c"))}, {"echo", "close", "commit", "create_order"}),
        ({"include": lambda n: True}, set(PROBES) - {"__custom__", "__len__", "formatter", "Page", "opened", "items"}),
        ({"exclude": ["echo", "double"]}, {"get", "get_many", "build", "handler"}),
        ({"exclude": ["*e*"]}, {"build"}),
        ({"exclude": lambda n: len(n) > 4}, {"get", "echo"}),
        ({"include": ["*e*"], "exclude": ["get*", "create_*"]}, {"echo", "double", "handler", "close", "set_limit"}),
        ({"include": ["get", "close"], "exclude": ["close"]}, {"get"}),  # exclude wins
        ({"include": lambda n: True, "exclude": lambda n: n == "echo"},
         set(PROBES) - {"echo", "__custom__", "__len__", "formatter", "Page", "opened", "items"}),
        ({"streams": "replay"}, {"get", "get_many", "echo", "double", "build", "handler", "items"}),
    ],
)
def test_what_is_cached(way: str, options: dict[str, Any], expected: set[str]) -> None:
    obj = build(way, **options)
    if way == "mixin":
        expected = expected - NOT_PLAIN
    assert hits(obj) == expected
    assert set(cache_info(obj)) >= expected


@pytest.mark.parametrize("way", WAYS)
def test_uncached_attributes_are_the_objects_own(way: str) -> None:
    obj = build(way)
    assert obj.limit == 10
    assert obj.Page is Page
    assert obj.Page(1) is not obj.Page(1)
    assert not is_cached(obj._helper)
    assert not is_cached(obj.__custom__)
    assert not is_cached(obj.close)
    assert not is_cached(obj.items)
    assert is_cached(obj.get)
    for name in ("_helper", "__custom__", "close", "items", "formatter", "Page", "limit"):
        assert name not in cache_info(obj)


@pytest.mark.parametrize("way", WAYS)
def test_an_uncached_method_runs_every_time(way: str) -> None:
    obj = build(way, exclude=["echo"])
    obj.echo(1)
    obj.echo(1)
    assert obj.calls["echo"] == 2
    obj.get(1)
    obj.get(1)
    assert obj.calls["get"] == 1
    assert "echo" not in cache_info(obj)
    assert "get" in cache_info(obj)
    if way == "proxy":
        assert obj.echo.__self__ is obj.__wrapped__  # the object's own bound method


@pytest.mark.parametrize("way", WAYS)
def test_properties_are_never_cached_nor_read_while_choosing(way: str) -> None:
    obj = build(way, include=lambda n: True)
    assert obj.calls["formatter"] == 0  # choosing read no property
    first, second = obj.formatter, obj.formatter
    assert first is not second  # read on every access, as on the object
    assert obj.calls["formatter"] == 2
    assert not is_cached(first)


_META_READS: Counter[str] = Counter()


class _CountingMeta(type):
    """A metaclass that counts reads of its classes' attributes (what a first access may not do)."""

    def __getattribute__(cls, name: str) -> Any:
        _META_READS[name] += 1
        return super().__getattribute__(name)


def test_a_property_that_returns_a_bound_method_is_read_on_every_access() -> None:
    class Client:
        def __init__(self) -> None:
            self.reads = 0

        def fetch(self, x: int) -> list[Any]:
            return [x, next(TICK)]

        @property
        def current(self) -> Callable[[int], list[Any]]:
            """A bound method of a plain function, handed out by a property: not a method of the class."""
            self.reads += 1
            return self.fetch

    proxy = CachedProxy(Client())
    assert proxy.current(1) != proxy.current(1)  # neither cached nor kept
    assert proxy.__wrapped__.reads == 2
    assert proxy.fetch(1) == proxy.fetch(1)  # the method itself is
    assert set(cache_info(proxy)) == {"fetch"}


def test_methods_of_a_class_with_its_own_metaclass_are_chosen_without_reading_through_it() -> None:
    class Base:
        def inherited(self, x: int) -> list[Any]:
            return [x, next(TICK)]

    class Client(Base, metaclass=_CountingMeta):
        def own(self, x: int) -> list[Any]:
            return [x, next(TICK)]

        @property
        def current(self) -> Callable[[int], list[Any]]:
            return self.own

    proxy = CachedProxy(Client())
    _META_READS.clear()
    assert proxy.own(1) == proxy.own(1)
    assert proxy.inherited(1) == proxy.inherited(1)
    assert proxy.current(1) is not proxy.current(1)
    # Through the metaclass, which may run code for any name, the proxy read only what it reads of any
    # class (its __qualname__ and __dict__), never a method.
    assert not {"own", "inherited", "current"} & set(_META_READS)


@pytest.mark.parametrize("way", WAYS)
def test_contextmanager_results_are_one_shot(way: str) -> None:
    for options in ({}, {"streams": "replay"}):
        obj = build(way, **options)
        assert _entered(obj) != _entered(obj)
        assert obj.calls["opened"] == 2  # the body runs for every with block


@pytest.mark.parametrize("way", WAYS)
def test_generator_methods_are_cached_only_when_their_streams_are_replayed(way: str) -> None:
    obj = build(way)
    assert list(obj.items(2)) != list(obj.items(2))
    assert obj.calls["items"] == 2
    replayed = build(way, streams="replay")
    assert list(replayed.items(2)) == list(replayed.items(2))
    assert replayed.calls["items"] == 1

    async def both() -> tuple[list[int], list[int]]:
        first = [x async for x in replayed.aitems(2)]
        return first, [x async for x in replayed.aitems(2)]

    first, second = asyncio.run(both())
    assert first == second


def test_static_and_class_methods_are_correct_when_cached() -> None:
    for obj in (CachedProxy(Example()), cache_methods(Example())):
        doubled = obj.double(4)
        assert doubled[0] == 8
        assert obj.build("x")[:2] == ["Example", "x"]
        assert cache_of(obj.double).cache_info().misses == 1
        assert obj.double(4) == doubled
        assert cache_of(obj.double).cache_info().hits == 1


def test_the_mixin_leaves_static_and_class_methods_properties_and_classes_on_the_class() -> None:
    mixed = type("MixedExample", (CachingMixin, Example), {})
    for name in ("formatter", "double", "build", "Page", "limit", "_helper", "close", "items"):
        assert name not in vars(mixed)
    assert {"get", "get_many", "echo", "opened"} <= set(vars(mixed))


def test_a_mixin_subclass_include_uncaches_what_it_leaves_out() -> None:
    wide = type("Wide", (CachingMixin, Example), {}, maxsize=2)
    narrow = type("Narrow", (wide,), {}, include=["echo"])
    obj = narrow()
    assert hits(obj, ["get", "echo", "get_many"]) == {"echo"}
    assert set(cache_info(obj)) == {"echo"}
    assert obj.echo.cache_parameters()["maxsize"] == 2  # the base's options, its own include=
    assert hits(wide(), ["get", "echo"]) == {"get", "echo"}


# -- names given to cache_methods, methods decorated with @cached_method ------------------


def test_names_given_to_cache_methods_are_cached_whatever_the_options_say() -> None:
    obj = cache_methods(Example(), "_helper", "close", "create_order", "double", "build", "handler", exclude=["close"])
    assert hits(obj) == {"_helper", "close", "create_order", "double", "build", "handler"}
    assert set(cache_info(obj)) == {"_helper", "close", "create_order", "double", "build", "handler"}


def test_a_private_method_is_cached_by_cache_methods_only_when_named() -> None:
    obj = cache_methods(Example())
    obj._helper(1)
    obj._helper(1)
    assert obj.calls["_helper"] == 2
    cache_methods(obj, "_helper")
    obj._helper(1)
    obj._helper(1)
    assert obj.calls["_helper"] == 3


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("nope", AttributeError, r"no attribute 'nope'.*CachedProxy"),
        ("limit", TypeError, r"Example.limit is not a method \(it is int, not callable\).*CachedProxy"),
        ("Page", TypeError, r"Example.Page is not a method \(it is a class\)"),
        ("formatter", TypeError, r"Example.formatter is a property.*CachedProxy"),
        ("items", TypeError, r"cannot cache Example.items: it is a generator function"),
        ("aitems", TypeError, r"cannot cache Example.aitems: it is a generator function"),
        ("__len__", TypeError, r"special method"),
        ("__custom__", TypeError, r"special method"),
    ],
)
def test_a_name_given_to_cache_methods_must_be_a_method(name: str, error: type[Exception], message: str) -> None:
    obj = Example()
    with pytest.raises(error, match=message):
        cache_methods(obj, "get", name)
    assert "get" not in vars(obj)  # all or nothing
    assert not obj.calls  # nothing called, no property read
    assert cache_info(obj) == {}


def test_a_named_generator_method_is_cached_when_its_streams_are_replayed() -> None:
    obj = cache_methods(Example(), "items", streams="replay")
    assert hits(obj, ["items", "get"]) == {"items"}


def _decorated(**options: Any) -> Any:
    """Example with the methods the default selection leaves out decorated: what you decorate is cached."""

    class Decorated(Example):
        _helper = cached_method(**options)(Example._helper)
        __custom__ = cached_method(**options)(Example.__custom__)
        close = cached_method(**options)(Example.close)
        create_order = cached_method(**options)(Example.create_order)
        double = cached_method(**options)(staticmethod(Example.double))
        build = cached_method(**options)(vars(Example)["build"])
        opened = cached_method(**options)(vars(Example)["opened"])

    return Decorated()


def test_a_decorated_method_is_cached_whatever_its_name() -> None:
    obj = _decorated()
    assert hits(obj) == {"_helper", "__custom__", "close", "create_order", "double", "build"}


def test_a_decorated_contextmanager_runs_every_time() -> None:
    obj = _decorated()
    assert _entered(obj) != _entered(obj)
    assert obj.calls["opened"] == 2


def test_a_decorated_property_fails_clearly() -> None:
    with pytest.raises(TypeError, match=r"cannot wrap a property.*cached_property.*@property above @cached_method"):
        cached_method(vars(Example)["formatter"])


@pytest.mark.parametrize("options", [{}, {"maxsize": 3}])
@pytest.mark.parametrize("name", ["items", "aitems"])
def test_a_decorated_generator_function_fails_unless_streams_are_replayed(options: dict[str, Any], name: str) -> None:
    with pytest.raises(TypeError, match=rf"cannot cache .*Example.{name}.*generator function"):
        cached_method(**options)(vars(Example)[name])
    with pytest.raises(TypeError, match="generator function"):

        class Bad:
            @cached_method(**options)
            def items(self) -> Any:
                yield 1

    replayed = cached_method(streams="replay")(Example.items)
    obj = type("Replayed", (Example,), {"items": replayed})()
    assert hits(obj, ["items"]) == {"items"}


def test_a_decorated_callable_that_is_not_a_function_fails_clearly() -> None:
    with pytest.raises(TypeError, match="cached_method needs a function"):
        cached_method(maxsize=1)(42)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"cached_method\(\) takes options as keywords"):
        cached_method(42)  # type: ignore[call-overload]


# -- the default skip-list ------------------------------------------------------------------


def test_default_skip_is_the_documented_list() -> None:
    assert {"close", "commit", "create*", "set_*", "delete*", "update*", "post*", "put*", "send*", "write*"} <= set(
        DEFAULT_SKIP
    )
    assert all(isinstance(pattern, str) for pattern in DEFAULT_SKIP)


@pytest.mark.parametrize("way", WAYS)
def test_the_default_selection_skips_state_changing_names(way: str) -> None:
    obj = build(way)
    assert hits(obj, ["get", *sorted(SKIP_LISTED)]) == {"get"}
    for name in SKIP_LISTED:
        assert obj.calls[name] == 2, name
    assert not SKIP_LISTED & set(cache_info(obj))


@pytest.mark.parametrize("kind", ["proxy", "inplace-names", "inplace-include", "mixin", "decorator"])
def test_named_methods_are_cached_whatever_the_skip_list_says(kind: str) -> None:
    if kind == "proxy":
        obj: Any = CachedProxy(Example(), include=["get", "create_*"])
    elif kind == "inplace-names":
        obj = cache_methods(Example(), "get", "create_order")
    elif kind == "inplace-include":
        obj = cache_methods(Example(), include=["get", "create_order"])
    elif kind == "mixin":
        obj = type("MixedExample", (CachingMixin, Example), {}, include=["get", "create_order"])()
    else:
        obj = type("Decorated", (Example,), {n: cached_method(vars(Example)[n]) for n in ("get", "create_order")})()
    assert hits(obj, ["get", "create_order", "commit"]) == {"get", "create_order"}
    assert obj.calls["commit"] == 2
    assert set(cache_info(obj)) == {"get", "create_order"}


def test_a_skipped_name_is_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    obj = CachedProxy(Example(), maxsize=61)  # options of its own: a selection nobody asked before
    with caplog.at_level(logging.DEBUG, logger="proxycache"):
        obj.close()
        obj.close()
    logged = [r for r in caplog.records if "DEFAULT_SKIP" in r.getMessage()]
    assert [r.getMessage().split("(")[0] for r in logged] == ["not caching close"]
    assert logged[0].levelno == logging.DEBUG


# -- nested clients: dotted paths (CachedProxy) --------------------------------------------


def test_a_dotted_include_reaches_a_nested_object() -> None:
    example = Example()
    proxy = CachedProxy(example, include=["chat.completions.create"])
    assert hits(proxy, ["get"]) == set()  # only the dotted path was asked for
    first = proxy.chat.completions.create(1)
    assert proxy.chat.completions.create(1) == first
    assert example.calls["chat.completions.create"] == 1
    assert isinstance(proxy.chat, Chat)
    assert set(cache_info(proxy)) == {"chat.completions.create"}
    assert proxy.chat.completions.create.__qualname__ == "Example.chat.completions.create"


def test_a_dotted_include_of_a_skip_listed_name_is_cached() -> None:
    assert "create*" in DEFAULT_SKIP
    proxy = CachedProxy(Example(), include=["chat.completions.create"])
    assert proxy.chat.completions.create(1) == proxy.chat.completions.create(1)


def test_without_a_dotted_include_nested_objects_are_the_objects_own() -> None:
    example = Example()
    proxy = CachedProxy(example)
    assert proxy.chat is example.chat
    assert proxy.chat.completions.create(1) != proxy.chat.completions.create(1)


def test_exclude_removes_a_nested_path_and_dotted_paths_mix_with_names() -> None:
    example = Example()
    proxy = CachedProxy(example, include=["chat.completions.create", "get"], exclude=["chat"])
    assert proxy.chat is example.chat
    assert hits(proxy, ["get"]) == {"get"}
    assert set(cache_info(proxy)) == {"get"}


def test_a_glob_below_a_dotted_path() -> None:
    proxy = CachedProxy(Example(), include=["chat.completions.*"])
    assert proxy.chat.completions.create(1) == proxy.chat.completions.create(1)
    assert set(cache_info(proxy)) == {"chat.completions.create"}


# -- options an entry point cannot honour fail at wrap time ------------------------------------


class Nesting:
    def __init__(self) -> None:
        self.chat = Talk()

    def get(self, n: int) -> int:
        return n


class Talk:
    def create(self, n: int) -> int:
        return n


def test_a_dotted_include_is_refused_where_only_the_proxy_can_follow_it() -> None:
    with pytest.raises(TypeError, match=r"cache_methods\(\): include='chat.create' is a dotted path.*CachedProxy"):
        cache_methods(Nesting(), include=["get", "chat.create"])
    with pytest.raises(TypeError, match=r"CachingMixin.*include='chat.create'.*cache_methods\(obj.chat, 'create'\)"):
        type("Mixed", (CachingMixin, Nesting), {}, include=["chat.create"])
    proxy = CachedProxy(Nesting(), include=["chat.create"])  # the proxy follows it
    assert is_cached(proxy.chat.create)


@pytest.mark.parametrize("option", [{"include": ["get"]}, {"exclude": ["get"]}])
def test_cached_method_refuses_a_choice_among_methods(option: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match=r"cached_method\(\) caches the method it decorates: (include|exclude)="):
        cached_method(**option)
