"""The public API is what docs/api.md documents: no more, no less."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import proxycache

API_PAGE = Path(__file__).resolve().parent.parent / "docs" / "api.md"
_DIRECTIVE = re.compile(r"^::: (proxycache(?:\.\w+)*)\s*$", re.MULTILINE)

#: Public submodules, each documented in its own section of the API page.
SUBMODULES = ("proxycache.serializers", "proxycache.testing", "proxycache.typing")


def documented() -> dict[str, set[str]]:
    """Names documented per module (``proxycache`` or a public submodule)."""
    found: dict[str, set[str]] = {"proxycache": set(), **{m: set() for m in SUBMODULES}}
    for path in _DIRECTIVE.findall(API_PAGE.read_text(encoding="utf-8")):
        module, _, name = path.rpartition(".")
        assert module in found, f"docs/api.md documents {path}, outside the public modules"
        found[module].add(name)
    return found


def test_all_is_exactly_the_documented_api() -> None:
    assert set(proxycache.__all__) == documented()["proxycache"]
    assert len(proxycache.__all__) == len(set(proxycache.__all__)), "duplicates in __all__"


@pytest.mark.parametrize("module_name", SUBMODULES)
def test_public_submodules_match_their_section(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert set(module.__all__) == documented()[module_name]


@pytest.mark.parametrize("name", proxycache.__all__)
def test_every_public_name_exists_and_says_what_it_is(name: str) -> None:
    obj = getattr(proxycache, name)
    if name == "MISS":  # a sentinel value, documented by its module
        assert repr(obj) == "proxycache.MISS"
        return
    doc = getattr(obj, "__doc__", None)
    assert doc, f"proxycache.{name} has no docstring"
    assert doc.strip()


def test_private_modules_stay_private() -> None:
    public = {n for n in dir(proxycache) if not n.startswith("_")}
    # Everything importable without an underscore is in __all__, a public
    # submodule, or the logging import the package uses for its NullHandler.
    submodules = {m.rpartition(".")[2] for m in SUBMODULES}
    extra = public - set(proxycache.__all__) - submodules - {"annotations", "logging"}
    assert not extra, f"public but undocumented: {sorted(extra)}"


# -- what IPython's "?", Jupyter tooltips and help() show --------------------------------

import inspect  # noqa: E402
import pydoc  # noqa: E402

from proxycache import CachedProxy, CachingMixin, cache_info, cache_methods, cache_of, cached_method  # noqa: E402


def test_the_proxy_class_has_a_signature_listing_every_option() -> None:
    signature = inspect.signature(CachedProxy)
    names = list(signature.parameters)
    assert names[0] == "wrapped"
    class Client:
        def get(self) -> None: ...

    assert set(names[1:]) == set(cache_of(CachedProxy(Client()).get).cache_parameters())  # every option
    assert signature.parameters["maxsize"].default == 128
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in list(signature.parameters.values())[1:])
    # The docstring names the parameter the signature shows.
    assert "*wrapped*" in (CachedProxy.__doc__ or "")


def test_a_subclass_with_its_own_init_has_its_own_signature() -> None:
    class Tagged(CachedProxy[object]):
        def __init__(self, wrapped: object, tag: str = "") -> None:
            super().__init__(wrapped)
            self._self_tag = tag

    assert list(inspect.signature(Tagged).parameters) == ["wrapped", "tag"]


def test_on_a_proxy_the_signature_is_the_wrapped_objects() -> None:
    def area(width: float, height: float = 1.0) -> float:
        return width * height

    area.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("width", inspect.Parameter.POSITIONAL_ONLY)]
    )
    assert CachedProxy(area).__signature__ is area.__signature__  # type: ignore[attr-defined]
    assert not hasattr(CachedProxy(Client()), "__signature__")


def test_help_is_short_and_about_proxycache() -> None:
    text = pydoc.render_doc(CachedProxy, renderer=pydoc.plaintext)
    assert len(text.splitlines()) < 70, text  # 3.13 writes the long signature a parameter a line
    assert "Wraps *wrapped*" in text
    assert "maxsize=128" in text                 # the signature, with the options
    assert "__abs__" not in text
    assert "__iadd__" not in text


def test_help_of_a_subclass_shows_its_own_docstring() -> None:
    class Logged(CachedProxy[object]):
        """Logs every miss."""

    assert "Logs every miss." in pydoc.render_doc(Logged, renderer=pydoc.plaintext)
    assert Logged([1]).__doc__ == list.__doc__  # a proxy still reports the wrapped object's


# -- one typed way to the cache controls, from every entry point --------------------------


class Client:
    def __init__(self) -> None:
        self.calls = 0

    def get(self, item: str) -> str:
        self.calls += 1
        return item

    def create_item(self, item: str) -> str:  # left out with exclude= below
        return item


class Mixed(CachingMixin, Client):
    pass


class Own:
    @cached_method
    def get(self, item: str) -> str:
        return item


@pytest.mark.parametrize(
    "make",
    [lambda: CachedProxy(Client()), lambda: cache_methods(Client(), "get"), Mixed, Own],
    ids=["proxy", "cache_methods", "mixin", "decorator"],
)
def test_cache_of_and_cache_info_by_name_reach_every_entry_point(make: object) -> None:
    obj = make()  # type: ignore[operator]
    # Before any call: the proxy builds the method's cache when it is first reached.
    assert cache_info(obj, "get").misses == 0
    obj.get("a")
    obj.get("a")
    assert cache_info(obj, "get").hits == 1
    controls = cache_of(obj.get)
    assert controls.cache_info() == cache_info(obj, "get")
    assert controls.cache_invalidate("a") is True
    assert cache_info(obj) == {"get": cache_info(obj, "get")}


def test_cache_of_and_cache_info_say_when_a_method_is_not_cached() -> None:
    proxy = CachedProxy(Client(), exclude=["create_item"])
    with pytest.raises(TypeError, match=r"Client\.create_item is not cached"):
        cache_info(proxy, "create_item")
    with pytest.raises(TypeError, match="is not a cached method"):
        cache_of(proxy.create_item)
    with pytest.raises(TypeError, match="is not a cached method"):
        cache_of(Client().get)
    with pytest.raises(AttributeError, match="has no attribute 'gett'"):
        cache_info(proxy, "gett")
    assert cache_info(Client()) == {}


def test_static_and_class_methods_answer_through_the_class() -> None:
    class Rates:
        @cached_method
        @staticmethod
        def convert(amount: float, rate: float) -> float:
            return amount * rate

        @cached_method
        @classmethod
        def base(cls, currency: str) -> str:
            return currency

    assert Rates.convert(2.0, 1.5) == 3.0
    assert Rates.convert.cache_info().misses == 1
    assert cache_info(Rates, "convert").misses == 1
    assert Rates.base("EUR") == "EUR"
    assert cache_info(Rates, "base").misses == 1
