"""The ``key_attrs`` hit: read inline, one flat key, the same answers as before."""

from __future__ import annotations

from typing import Any

import pytest

from proxycache import CachedProxy, cache_methods, cached_method


class Client:
    def __init__(self, user: str, org: str = "o") -> None:
        self.user = user
        self.org = org
        self.calls = 0

    def get(self, x: Any) -> str:
        self.calls += 1
        return f"{self.user}:{x!r}"

    def pair(self, a: Any, b: Any) -> str:
        self.calls += 1
        return f"{self.user}/{self.org}:{a!r},{b!r}"


def test_true_and_one_are_separate_entries_with_key_attrs() -> None:
    p = CachedProxy(Client("u"), key_attrs=["user"])
    assert p.get(1) == "u:1"
    assert p.get(True) == "u:True"
    assert p.get(1) == "u:1"
    assert p.pair(1, True) == "u/o:1,True"
    assert p.pair(1, 1) == "u/o:1,1"
    assert p.calls == 4


@pytest.mark.parametrize("attrs", [["user"], ["user", "org"], ["org", "user"]])
def test_attribute_changes_make_new_entries(attrs: list[str]) -> None:
    c = cache_methods(Client("a"), "get", "pair", key_attrs=attrs)
    assert c.get(1) == c.get(x=1) == "a:1"
    assert c.pair(1, 2) == c.pair(1, b=2)
    assert c.calls == 2
    c.user = "b"
    assert c.get(1) == "b:1"
    assert c.pair(1, 2) == "b/o:1,2"
    assert c.calls == 4
    c.org = "p"
    assert c.pair(1, 2) == ("b/p:1,2" if "org" in attrs else "b/o:1,2")
    assert c.calls == 4 + ("org" in attrs)
    c.get(1)
    assert c.get.cache_invalidate(1) is True
    assert c.get.cache_invalidate(1) is False


def test_a_missing_attribute_is_named() -> None:
    p = CachedProxy(Client("u"), key_attrs=["user", "tenant"])
    with pytest.raises(AttributeError, match="key_attrs= names 'tenant'"):
        p.get(1)
    p.tenant = "t"
    assert p.get(1) == "u:1"


def test_an_attribute_named_like_a_keyword() -> None:
    c = Client("u")
    setattr(c, "class", "k")
    cache_methods(c, "get", key_attrs=["class"])
    assert c.get(1) == c.get(1)
    assert c.calls == 1
    setattr(c, "class", "l")
    c.get(1)
    assert c.calls == 2


def test_an_unkeyable_attribute_is_named() -> None:
    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

    class D:
        def __init__(self) -> None:
            self.user = Unhashable()

        @cached_method(key_attrs=["user"])
        def get(self, x: int) -> int:
            return x

    with pytest.raises(TypeError, match=r"key attribute 'user'.*key_attrs"):
        D().get(1)


def test_a_custom_key_with_key_attrs() -> None:
    c = cache_methods(Client("u"), "get", key=lambda x: x % 2, key_attrs=["user"])
    assert c.get(1) == c.get(3) == "u:1"
    c.user = "v"
    assert c.get(3) == "v:3"
    assert c.calls == 2
