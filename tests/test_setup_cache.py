"""Per-instance setup reuses what is per function (signature, shape, compiled code) without changing behaviour."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from proxycache import CachedProxy, cache_methods, cached_method


class Shapes:
    def plain(self, a, b=2, *, c=3):  # type: ignore[no-untyped-def]
        return (a, b, c)

    def star(*args):  # type: ignore[no-untyped-def]
        return args[1:]

    def star_kw(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return (args, kwargs)

    def posonly(self, a, /, b):  # type: ignore[no-untyped-def]
        return (a, b)

    def kwonly_first(*, x=1):  # type: ignore[no-untyped-def]
        return x

    async def coro(self, a):  # type: ignore[no-untyped-def]
        return a


NAMES = ["plain", "star", "star_kw", "posonly", "kwonly_first", "coro"]


def _inspect_bound(bound: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(bound, follow_wrapped=False)
    except (TypeError, ValueError):
        return None


@pytest.mark.parametrize("name", NAMES)
def test_cached_signatures_are_what_inspect_gives(name: str) -> None:
    decorated = type("Decorated", (Shapes,), {n: cached_method(getattr(Shapes, n)) for n in NAMES})
    for _ in range(3):  # first from inspect, then from the per-function cache
        obj = Shapes()
        expected = _inspect_bound(getattr(obj, name))
        for cached in (getattr(CachedProxy(obj, include=NAMES), name), getattr(decorated(), name)):
            if expected is None:  # inspect finds no valid signature: the call raises the method's own error
                with pytest.raises(TypeError, match="takes 0 positional arguments"):
                    cached()
            else:
                assert _inspect_bound(cached) == expected
            assert inspect.iscoroutinefunction(cached) is (name == "coro")
        assert inspect.signature(getattr(decorated, name)) == inspect.signature(getattr(Shapes, name))


def test_new_defaults_are_seen() -> None:
    class C:
        def get(self, a: int, b: int = 1) -> tuple[int, int]:
            return (a, b)

    first = CachedProxy(C())
    assert first.get(5) == (5, 1)
    C.get.__defaults__ = (7,)
    second = CachedProxy(C())
    assert second.get(5) == (5, 7)
    assert inspect.signature(second.get).parameters["b"].default == 7


def test_a_signature_set_by_hand_is_honoured() -> None:
    class C:
        def get(self, *args: Any) -> Any:
            return args

    C.get.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
         inspect.Parameter("x", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    )
    p = CachedProxy(C())
    assert list(inspect.signature(p.get).parameters) == ["x"]
    assert p.get(x=3) == (3,)


def test_many_instances_keep_their_own_caches_and_options() -> None:
    class C:
        def __init__(self, n: int) -> None:
            self.n = n
            self.calls = 0

        def get(self, x: int, scale: int = 10) -> int:
            self.calls += 1
            return x * scale + self.n

    proxies = [CachedProxy(C(i), maxsize=i + 1) for i in range(20)]
    placed = [cache_methods(C(i), "get", typed=bool(i % 2)) for i in range(20)]
    for i, (p, q) in enumerate(zip(proxies, placed, strict=True)):
        assert p.get(1) == p.get(x=1) == p.get(1, 10) == 10 + i
        assert q.get(2) == q.get(2, scale=10) == 20 + i
        assert p.calls == 1
        assert q.calls == 1
        assert p.get.cache_info().maxsize == i + 1
        assert q.get.cache_parameters()["typed"] is bool(i % 2)


def test_decorated_and_plain_methods_of_one_function_share_nothing_they_should_not() -> None:
    class D:
        def __init__(self, user: str) -> None:
            self.user = user

        @cached_method(key_attrs=("user",))
        def get(self, x: int) -> tuple[str, int]:
            return (self.user, x)

    a, b = D("a"), D("b")
    assert a.get(1) == ("a", 1)
    assert b.get(1) == ("b", 1)
    assert a.get.cache_info().misses == 1


def test_selection_by_predicate_is_asked_every_time() -> None:
    class C:
        def a(self) -> int:
            return 1

    allowed = {"a"}
    opts: dict[str, Any] = {"include": lambda name: name in allowed}
    first = CachedProxy(C(), **opts)
    assert first.a.cache_info().hits == 0  # cached
    allowed.clear()
    second = CachedProxy(C(), **opts)
    assert not hasattr(second.a, "cache_info")  # the predicate now says no


def test_selection_by_name_is_the_same_for_every_proxy() -> None:
    class C:
        def a(self) -> int:
            return 1

        def b(self) -> int:
            return 2

    for _ in range(3):
        p = CachedProxy(C(), exclude=["b"])
        assert hasattr(p.a, "cache_info")
        assert not hasattr(p.b, "cache_info")
        q = CachedProxy(C(), include=["b"])
        assert not hasattr(q.a, "cache_info")
        assert hasattr(q.b, "cache_info")
