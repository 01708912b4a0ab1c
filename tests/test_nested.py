"""Nested clients: ``include=["chat.completions.create"]`` and dynamic clients built on ``__getattr__``."""

from __future__ import annotations

import asyncio
import functools
import gc
import pickle
import weakref
from typing import Any

import pytest

from proxycache import CachedProxy, cache_clear, cache_info

from .conftest import events


class Completions:
    """Like an LLM SDK's resource object: reached as ``client.chat.completions``."""

    def __init__(self, client: Sdk) -> None:
        self._client = client
        self.path = "/chat/completions"

    def create(self, *, model: str, messages: list[dict[str, Any]], temperature: float = 1.0) -> dict[str, Any]:
        self._client.requests.append(("create", model))
        return {"model": model, "echo": messages[-1]["content"], "n": len(self._client.requests)}

    def parse(self, *, model: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
        self._client.requests.append(("parse", model))
        return {"parsed": messages[-1]["content"]}

    def with_options(self, **options: Any) -> Completions:
        return self


class Chat:
    def __init__(self, client: Sdk) -> None:
        self.completions = Completions(client)
        self.kind = "chat"


class Embeddings:
    def __init__(self, client: Sdk) -> None:
        self._client = client

    def create(self, *, input: list[str], model: str = "embed") -> list[float]:
        self._client.requests.append(("embed", tuple(input)))
        return [float(len(s)) for s in input]


class Models:
    def __init__(self, client: Sdk) -> None:
        self._client = client

    def list(self) -> list[str]:
        self._client.requests.append(("models", None))
        return ["a", "b"]


class Sdk:
    """A client whose resources are plain attributes, a cached_property and a property."""

    def __init__(self, api_key: str = "k") -> None:
        self.api_key = api_key
        self.requests: list[tuple[str, Any]] = []
        self.chat = Chat(self)
        self._models = Models(self)

    @functools.cached_property
    def embeddings(self) -> Embeddings:
        return Embeddings(self)

    @property
    def models(self) -> Models:
        return self._models

    def ping(self) -> str:
        self.requests.append(("ping", None))
        return "pong"


MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]


def test_a_nested_method_is_cached_and_keyed_by_value() -> None:
    sdk = Sdk()
    proxy = CachedProxy(sdk, include=["chat.completions.create"])
    first = proxy.chat.completions.create(model="m", messages=MESSAGES)
    # Equal (not identical) messages: the same entry.
    again = proxy.chat.completions.create(model="m", messages=[dict(m) for m in MESSAGES])
    assert first == again == {"model": "m", "echo": "hi", "n": 1}
    assert sdk.requests == [("create", "m")]
    proxy.chat.completions.create(model="m", messages=[*MESSAGES, {"role": "user", "content": "more"}])
    proxy.chat.completions.create(model="m", messages=MESSAGES, temperature=0.5)
    assert len(sdk.requests) == 3
    proxy.chat.completions.create(model="m", messages=MESSAGES, temperature=1.0)  # the default: same key
    assert len(sdk.requests) == 3


def test_cache_info_and_clear_use_the_dotted_name() -> None:
    proxy = CachedProxy(Sdk(), include=["chat.completions.create", "ping"])
    proxy.chat.completions.create(model="m", messages=MESSAGES)
    proxy.chat.completions.create(model="m", messages=MESSAGES)
    proxy.ping()
    info = cache_info(proxy)
    assert set(info) == {"chat.completions.create", "ping"}
    assert (info["chat.completions.create"].hits, info["chat.completions.create"].misses) == (1, 1)
    cache_clear(proxy, "chat.completions.create")
    assert cache_info(proxy)["chat.completions.create"].currsize == 0
    assert cache_info(proxy)["ping"].currsize == 1
    with pytest.raises(KeyError, match=r"chat\.completions\.parse"):
        cache_clear(proxy, "chat.completions.parse")
    # The intermediate proxies report their part too.
    assert set(cache_info(proxy.chat)) == {"chat.completions.create"}


def test_only_the_named_paths_are_cached() -> None:
    sdk = Sdk()
    proxy = CachedProxy(sdk, include=["chat.completions.create"])
    for _ in range(2):
        proxy.chat.completions.parse(model="m", messages=MESSAGES)
        proxy.ping()
    assert [r[0] for r in sdk.requests] == ["parse", "ping", "parse", "ping"]
    assert set(cache_info(proxy)) == set()


def test_several_paths_and_globs() -> None:
    sdk = Sdk()
    proxy = CachedProxy(sdk, include=["chat.completions.*", "embeddings.create", "models.list"])
    for _ in range(2):
        proxy.chat.completions.create(model="m", messages=MESSAGES)
        proxy.chat.completions.parse(model="m", messages=MESSAGES)
        proxy.embeddings.create(input=["ab", "c"])
        proxy.models.list()
    assert len(sdk.requests) == 4
    assert set(cache_info(proxy)) == {
        "chat.completions.create", "chat.completions.parse", "embeddings.create", "models.list",
    }  # methods are wrapped when first looked up: with_options was not


def test_intermediate_objects_stay_faithful() -> None:
    sdk = Sdk()
    proxy = CachedProxy(sdk, include=["chat.completions.create"])
    assert isinstance(proxy.chat, Chat)
    assert isinstance(proxy.chat.completions, Completions)
    assert proxy.chat.kind == "chat"
    assert proxy.chat.completions.path == "/chat/completions"
    assert proxy.chat == sdk.chat
    assert proxy.api_key == "k"
    assert proxy.chat is proxy.chat  # one child proxy per attribute, kept
    assert proxy.chat.completions is proxy.chat.completions
    proxy.chat.kind = "changed"  # writes reach the real resource object
    assert sdk.chat.kind == "changed"
    assert proxy.chat.completions.with_options(timeout=1) is sdk.chat.completions


def test_the_wrapped_client_is_untouched() -> None:
    sdk = Sdk()
    proxy = CachedProxy(sdk, include=["chat.completions.create"])
    proxy.chat.completions.create(model="m", messages=MESSAGES)
    assert type(sdk.chat) is Chat
    assert "create" not in vars(sdk.chat.completions)
    sdk.chat.completions.create(model="m", messages=MESSAGES)  # the real client is not cached
    assert len(sdk.requests) == 2


def test_two_proxies_of_one_client_have_separate_caches() -> None:
    sdk = Sdk()
    one = CachedProxy(sdk, include=["chat.completions.create"])
    two = CachedProxy(sdk, include=["chat.completions.create"])
    one.chat.completions.create(model="m", messages=MESSAGES)
    two.chat.completions.create(model="m", messages=MESSAGES)
    assert len(sdk.requests) == 2


def test_resources_behind_a_property_are_cached_too() -> None:
    sdk = Sdk()
    proxy = CachedProxy(sdk, include=["models.list"])
    assert proxy.models.list() == proxy.models.list() == ["a", "b"]
    assert sdk.requests == [("models", None)]
    # A property can return another object later: the proxy follows it.
    sdk._models = Models(sdk)
    proxy.models.list()
    assert len(sdk.requests) == 2


def test_replacing_an_intermediate_object_through_the_proxy() -> None:
    sdk = Sdk()
    proxy = CachedProxy(sdk, include=["chat.completions.create"])
    proxy.chat.completions.create(model="m", messages=MESSAGES)
    proxy.chat = Chat(sdk)
    assert sdk.chat is proxy.chat.__wrapped__
    proxy.chat.completions.create(model="m", messages=MESSAGES)
    assert len(sdk.requests) == 2  # a new resource object, a new cache


def test_options_apply_to_nested_methods() -> None:
    sdk = Sdk()
    proxy = CachedProxy(sdk, include=["chat.completions.create"], maxsize=1, ignore=["temperature"])
    create = proxy.chat.completions.create
    create(model="m", messages=MESSAGES, temperature=0.1)
    create(model="m", messages=MESSAGES, temperature=0.9)
    assert len(sdk.requests) == 1
    create(model="other", messages=MESSAGES)
    create(model="m", messages=MESSAGES)
    assert len(sdk.requests) == 3
    assert create.cache_info().maxsize == 1


def test_key_attrs_of_nested_methods_are_read_from_the_wrapped_client() -> None:
    sdk = Sdk(api_key="one")
    proxy = CachedProxy(sdk, include=["chat.completions.create"], key_attrs=["api_key"])
    proxy.chat.completions.create(model="m", messages=MESSAGES)
    sdk.api_key = "two"
    proxy.chat.completions.create(model="m", messages=MESSAGES)
    sdk.api_key = "one"
    proxy.chat.completions.create(model="m", messages=MESSAGES)
    assert len(sdk.requests) == 2


def test_pickled_nested_proxy_keeps_its_include() -> None:
    proxy = CachedProxy(Sdk(), include=["chat.completions.create"])
    proxy.chat.completions.create(model="m", messages=MESSAGES)
    twin = pickle.loads(pickle.dumps(proxy))
    assert cache_info(twin) == {}
    twin.chat.completions.create(model="m", messages=MESSAGES)
    twin.chat.completions.create(model="m", messages=MESSAGES)
    assert cache_info(twin)["chat.completions.create"].hits == 1


def test_nested_proxies_keep_nothing_alive() -> None:
    # Sdk's resources refer back to the client (as real SDKs do): a cycle of
    # the client's own, which only the collector frees, proxy or not.
    def scenario() -> list[weakref.ref[Any]]:
        sdk = Sdk()
        proxy = CachedProxy(sdk, include=["chat.completions.create", "models.list"])
        proxy.chat.completions.create(model="m", messages=MESSAGES)
        proxy.models.list()
        return [weakref.ref(x) for x in (sdk, sdk.chat, proxy, proxy.chat, proxy.chat.completions, proxy.models)]

    refs = scenario()
    gc.collect()
    assert [r() for r in refs] == [None] * 6


def test_nested_proxies_add_no_reference_cycle() -> None:
    # With a client that has no cycle of its own, reference counting alone frees everything.
    def scenario() -> list[weakref.ref[Any]]:
        sdk = AsyncSdk()
        proxy = CachedProxy(sdk, include=["chat.completions.create"])
        asyncio.run(proxy.chat.completions.create(model="m", messages=MESSAGES))
        return [weakref.ref(x) for x in (sdk, sdk.chat, proxy, proxy.chat, proxy.chat.completions)]

    gc.collect()
    gc.disable()
    try:
        refs = scenario()
        assert [r() for r in refs] == [None] * 5
    finally:
        gc.enable()


# -- async SDKs -----------------------------------------------------------------------


class AsyncCompletions:
    def __init__(self) -> None:
        self.calls = 0

    async def create(self, *, model: str, messages: list[dict[str, Any]]) -> str:
        self.calls += 1
        await asyncio.sleep(0)
        return f"{model}:{messages[-1]['content']}"


class AsyncSdk:
    def __init__(self) -> None:
        self.chat = type("AsyncChat", (), {})()
        self.chat.completions = AsyncCompletions()


def test_async_nested_method() -> None:
    sdk = AsyncSdk()
    proxy = CachedProxy(sdk, include=["chat.completions.create"])

    async def main() -> list[str]:
        create = proxy.chat.completions.create
        return [
            await create(model="m", messages=MESSAGES),
            *await asyncio.gather(*(create(model="m", messages=MESSAGES) for _ in range(5))),
        ]

    assert asyncio.run(main()) == ["m:hi"] * 6
    assert sdk.chat.completions.calls == 1


# -- dynamic clients: methods made by __getattr__ ---------------------------------------


class Dynamic:
    """Every attribute is a remote procedure, and dotted names reach namespaces (like xmlrpc)."""

    def __init__(self, prefix: str = "") -> None:
        self._prefix = prefix
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return _Remote(self, f"{self._prefix}{name}")


class _Remote:
    def __init__(self, owner: Dynamic, name: str) -> None:
        self._owner = owner
        self._name = name

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return _Remote(self._owner, f"{self._name}.{name}")

    def __call__(self, *args: Any) -> Any:
        self._owner.calls.append((self._name, args))
        return [self._name, *args]


def test_dynamic_methods_are_cached() -> None:
    client = Dynamic()
    proxy = CachedProxy(client)
    assert proxy.add(1, 2) == proxy.add(1, 2) == ["add", 1, 2]
    proxy.mul(2, 3)
    assert client.calls == [("add", (1, 2)), ("mul", (2, 3))]
    assert set(cache_info(proxy)) == {"add", "mul"}
    # The attribute stays what it was (a callable object), with the cached callable's API.
    assert isinstance(proxy.add, _Remote)
    assert proxy.add is proxy.add
    with events("hit") as seen:
        proxy.add(1, 2)
    assert [e.method for e in seen] == ["Dynamic.add"]  # the name events and logs use
    assert proxy.add.cache_info().hits == 2
    assert proxy.add.cache_parameters()["maxsize"] == 128
    assert proxy.add.cache_invalidate(1, 2) is True
    proxy.add.cache_clear()
    assert len(client.calls) == 2  # none of that reached the remote side


def test_dynamic_dotted_methods_by_default() -> None:
    client = Dynamic()
    proxy = CachedProxy(client)
    assert proxy.system.listMethods() == proxy.system.listMethods() == ["system.listMethods"]
    assert proxy.system("x") == proxy.system("x") == ["system", "x"]
    assert [c[0] for c in client.calls] == ["system.listMethods", "system"]
    assert set(cache_info(proxy)) == {"system", "system.listMethods"}
    cache_clear(proxy, "system.listMethods")
    proxy.system.listMethods()
    assert len(client.calls) == 3


def test_dynamic_methods_chosen_by_include() -> None:
    client = Dynamic()
    proxy = CachedProxy(client, include=["get_*"])
    proxy.get_user(1)
    proxy.get_user(1)
    proxy.delete_user(1)
    proxy.delete_user(1)
    assert [c[0] for c in client.calls] == ["get_user", "delete_user", "delete_user"]


def test_a_dotted_path_below_a_callable_leaves_its_calls_uncached() -> None:
    client = Dynamic()
    proxy = CachedProxy(client, include=["system.listMethods"])
    proxy.system("x")
    proxy.system("x")
    assert len(client.calls) == 2
    with pytest.raises(TypeError, match="calls of system are not cached"):
        proxy.system.cache_info()
    proxy = CachedProxy(client, include=["system", "system.listMethods"])
    proxy.system("y")
    proxy.system("y")
    assert len(client.calls) == 3
    assert set(cache_info(proxy)) == {"system"}


def test_a_callable_attribute_that_is_a_partial() -> None:
    class Holder:
        def __init__(self) -> None:
            self.calls = 0
            self.fetch = functools.partial(self._fetch, "base")

        def _fetch(self, base: str, x: Any) -> Any:
            self.calls += 1
            return (base, x)

    holder = Holder()
    proxy = CachedProxy(holder)
    assert proxy.fetch(1) == proxy.fetch(1) == ("base", 1)
    assert holder.calls == 1
    assert proxy.fetch.args == ("base",)  # the partial's own attributes are still there
    assert isinstance(proxy.fetch, functools.partial)


def test_dynamic_dotted_methods() -> None:
    client = Dynamic()
    proxy = CachedProxy(client, include=["system.listMethods", "math.add"])
    assert proxy.system.listMethods() == proxy.system.listMethods() == ["system.listMethods"]
    proxy.math.add(1, 2)
    proxy.math.add(1, 2)
    proxy.system.other()
    proxy.system.other()
    assert [c[0] for c in client.calls] == ["system.listMethods", "math.add", "system.other", "system.other"]
    assert set(cache_info(proxy)) == {"system.listMethods", "math.add"}


# -- names: after the object the user wrapped ---------------------------------------------


def test_nested_methods_are_named_after_the_wrapped_client(tmp_path: Any) -> None:
    proxy = CachedProxy(Sdk(), include=["chat.completions.create", "embeddings.create", "models.list"])
    assert proxy.chat.completions.create.__qualname__ == "Sdk.chat.completions.create"
    assert proxy.embeddings.create.__qualname__ == "Sdk.embeddings.create"
    assert proxy.models.list.__qualname__ == "Sdk.models.list"
    with events("miss") as seen:
        proxy.models.list()
    assert [e.method for e in seen] == ["Sdk.models.list"]  # the name events and logs use


def test_nested_names_reach_messages_and_store_namespaces(tmp_path: Any) -> None:
    from proxycache import DiskStore

    store = DiskStore(tmp_path)
    proxy = CachedProxy(Sdk(), include=["chat.completions.create"], store=store, key_attrs=())
    proxy.chat.completions.create(model="m", messages=MESSAGES)
    (namespace,) = {key.rpartition(":")[0] for key in store.keys(None)}
    assert namespace.endswith("Sdk.chat.completions.create"), namespace
    with pytest.raises(TypeError, match=r"Sdk\.chat\.completions\.create\(\)"):
        proxy.chat.completions.create(model="m", messages=MESSAGES, temperature=object())  # type: ignore[arg-type]


