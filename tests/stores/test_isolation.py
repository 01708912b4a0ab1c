"""Entries of a shared store never answer for another call: keys by value, by every field, by schema.

Each test runs against every store (the key of a shared store is the same
stable digest whatever holds the bytes); the cross-process ones against the
stores that cross processes, in a spawned interpreter with another hash seed.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import http.server
import multiprocessing
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import pytest
from pydantic import BaseModel, Field, PrivateAttr

from proxycache import CachedProxy, cached_method

from .test_cross_process import spec_of, store_of


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1


PARIS_WINTER = datetime.timezone(datetime.timedelta(hours=1))


def value_args() -> list[Any]:
    """Values that are keyed by value, each unequal to every other (built alike in every process)."""
    return [
        10**5000,  # str() of it raises ValueError past 4,300 digits
        -(10**5000),
        10**5000 + 1,
        Decimal("1.10"),
        Decimal("2.5"),
        datetime.date(2024, 1, 1),
        datetime.datetime(2024, 1, 1, 12, 0),  # naive
        datetime.datetime(2024, 1, 1, 12, 0, tzinfo=datetime.timezone.utc),  # the same wall time, aware
        datetime.datetime(2024, 1, 1, 12, 0, tzinfo=PARIS_WINTER),  # another instant
        datetime.time(8, 30),
        datetime.timedelta(hours=1),
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        uuid.UUID("87654321-4321-8765-4321-876543218765"),
        Color.RED,
        Color.BLUE,
        Level.LOW,
        Path("/srv/data/a.csv"),
        Path("/srv/data/b.csv"),
        PureWindowsPath("C:/data/a.csv"),
    ]


def show(value: Any) -> str:
    # repr() of an int past 4,300 digits raises ValueError too.
    return f"int {value.bit_length()} bits {value % 997}" if type(value) is int else repr(value)


class Values:
    def __init__(self) -> None:
        self.computed: list[Any] = []

    def echo(self, value: Any) -> str:
        self.computed.append(value)
        return show(value)


def test_value_types_are_keyed_by_value(store: Any) -> None:
    values = Values()
    proxy = CachedProxy(values, store=store, key_attrs=())
    args = value_args()
    assert [proxy.echo(a) for a in args] == [show(a) for a in args]
    assert len(values.computed) == len(args)  # all distinct, none refused, none raised
    # Equal values made anew are hits.
    assert [proxy.echo(a) for a in value_args()] == [show(a) for a in args]
    assert proxy.echo(Path("/srv/data/a.csv")) == repr(args[16])
    assert proxy.echo(PurePosixPath("/srv/data/a.csv")) == repr(args[16])  # equal to the Path: one entry
    assert len(values.computed) == len(args)


def _echo_values_in_child(spec: str) -> tuple[int, list[Any]]:
    values = Values()
    proxy = CachedProxy(values, store=store_of(spec), key_attrs=(), namespace="isolation.values")
    for arg in value_args():
        proxy.echo(arg)
    return hash("a str hashes differently per seed"), values.computed


def test_value_types_are_keyed_alike_in_another_process(
    bytes_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = Values()
    proxy = CachedProxy(values, store=bytes_store, key_attrs=(), namespace="isolation.values")
    for arg in value_args():
        proxy.echo(arg)
    monkeypatch.setenv("PYTHONHASHSEED", "12345")
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        seeded_hash, computed = pool.apply_async(_echo_values_in_child, (spec_of(bytes_store),)).get(timeout=120)
    assert seeded_hash != hash("a str hashes differently per seed")  # really another hash seed
    assert computed == []  # every value was a hit in the other process


# -- Pydantic models by every field ----------------------------------------------


class Request(BaseModel):
    prompt: str
    api_key: str = Field(exclude=True)
    _session: str = PrivateAttr(default="")


class Gateway:
    def __init__(self) -> None:
        self.calls = 0

    def ask(self, request: Request) -> str:
        self.calls += 1
        return f"answer for {request.api_key}"


@pytest.mark.parametrize("where", ["memory", "store"])
def test_pydantic_argument_is_keyed_by_excluded_fields_and_private_attributes(where: str, make_store: Any) -> None:
    gateway = Gateway()
    options: dict[str, Any] = {"store": make_store("memory"), "key_attrs": ()} if where == "store" else {}
    proxy = CachedProxy(gateway, **options)
    alice = Request(prompt="hi", api_key="alice")
    bob = Request(prompt="hi", api_key="bob")
    assert alice.model_dump() == bob.model_dump()  # what the key used to be made of
    assert proxy.ask(alice) == "answer for alice"
    assert proxy.ask(bob) == "answer for bob"  # not Alice's answer
    other_session = Request(prompt="hi", api_key="alice")
    other_session._session = "s2"
    proxy.ask(other_session)
    assert gateway.calls == 3
    assert proxy.ask(Request(prompt="hi", api_key="alice")) == "answer for alice"
    assert gateway.calls == 3


def test_pydantic_argument_is_keyed_by_every_field_in_every_store(store: Any) -> None:
    gateway = Gateway()
    proxy = CachedProxy(gateway, store=store, key_attrs=())
    assert proxy.ask(Request(prompt="hi", api_key="alice")) == "answer for alice"
    assert proxy.ask(Request(prompt="hi", api_key="bob")) == "answer for bob"
    assert proxy.ask(Request(prompt="hi", api_key="alice")) == "answer for alice"
    assert gateway.calls == 2


# -- booleans and key_attrs -------------------------------------------------------


class Flags:
    region = "eu"

    def __init__(self) -> None:
        self.calls = 0

    def one(self, x: Any) -> str:
        self.calls += 1
        return repr(x)

    def two(self, x: Any, y: Any = 0) -> str:
        self.calls += 1
        return repr((x, y))

    def star(self, *args: Any, **kwargs: Any) -> str:
        self.calls += 1
        return repr((args, kwargs))


@pytest.mark.parametrize("typed", [False, True])
@pytest.mark.parametrize("where", ["memory", "store"])
def test_true_and_one_stay_apart_with_key_attrs(where: str, typed: bool, make_store: Any) -> None:
    options: dict[str, Any] = {"store": make_store("memory")} if where == "store" else {}
    proxy = CachedProxy(Flags(), key_attrs=("region",), typed=typed, **options)
    assert proxy.one(1) == "1"
    assert proxy.one(True) == "True"
    assert proxy.one(False) == "False"
    assert proxy.one(0) == "0"
    assert proxy.two(1, True) == "(1, True)"
    assert proxy.two(1, 1) == "(1, 1)"
    assert proxy.two(x=True) == "(True, 0)"
    assert proxy.star(True, k=1) == "((True,), {'k': 1})"
    assert proxy.star(1, k=True) == "((1,), {'k': True})"
    assert proxy.star(1, k=1) == "((1,), {'k': 1})"


def test_true_and_one_stay_apart_with_key_attrs_in_every_store(store: Any) -> None:
    flags = Flags()
    proxy = CachedProxy(flags, store=store, key_attrs=("region",))
    assert [proxy.one(v) for v in (1, True, 0, False, 1, True)] == ["1", "True", "0", "False", "1", "True"]
    assert flags.calls == 4


# -- classes as arguments: by qualified name, models and dataclasses by their fields --


def make_user_detail(with_age: bool) -> type[BaseModel]:
    """Two versions of one model, as two deployments of one program would define it."""
    if with_age:

        class UserDetail(BaseModel):
            name: str
            age: int

    else:

        class UserDetail(BaseModel):  # type: ignore[no-redef]
            name: str

    return UserDetail


def make_point(with_z: bool) -> type:
    if with_z:

        @dataclasses.dataclass
        class Point:
            x: int
            z: int

    else:

        @dataclasses.dataclass
        class Point:  # type: ignore[no-redef]
            x: int

    return Point


class Extractor:
    def __init__(self) -> None:
        self.calls = 0

    def extract(self, text: str, response_model: type) -> str:
        self.calls += 1
        return f"{response_model.__qualname__} with {sorted(getattr(response_model, '__annotations__', {}))}"


def test_a_changed_response_model_misses(store: Any) -> None:
    extractor = Extractor()
    proxy = CachedProxy(extractor, store=store, key_attrs=())
    old, new = make_user_detail(False), make_user_detail(True)
    assert old.__qualname__ == new.__qualname__
    assert old.__module__ == new.__module__
    assert proxy.extract("Jason is 25", old) == "make_user_detail.<locals>.UserDetail with ['name']"
    assert proxy.extract("Jason is 25", new) == "make_user_detail.<locals>.UserDetail with ['age', 'name']"
    # The same fields under another class object: a hit (another process defines it anew).
    assert proxy.extract("Jason is 25", make_user_detail(True)).endswith("['age', 'name']")
    assert extractor.calls == 2
    assert proxy.extract("Jason is 25", make_point(False)).endswith("['x']")
    assert proxy.extract("Jason is 25", make_point(True)).endswith("['x', 'z']")
    assert proxy.extract("Jason is 25", make_point(True)).endswith("['x', 'z']")
    assert extractor.calls == 4
    # Other classes by their qualified name.
    assert proxy.extract("x", dict) == "dict with []"
    assert proxy.extract("x", list) == "list with []"
    assert extractor.calls == 6


# -- real httpx signatures: sentinel defaults, every unkeyable parameter at once --------
# (httpx is imported in each test: the run at the dependency floors installs no SDKs and
# leaves these tests out, the rest of this module still runs there)


class _Counted(http.server.BaseHTTPRequestHandler):
    requests = 0

    def do_GET(self) -> None:
        type(self).requests += 1
        body = f'{{"path": "{self.path}", "n": {type(self).requests}}}'.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Counted]]]:
    handler = type("Handler", (_Counted,), {"requests": 0})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_httpx_sentinel_defaults_key_as_the_default(store: Any, server: tuple[str, Any]) -> None:
    import httpx

    url, handler = server
    with httpx.Client(base_url=url) as client:
        proxy = CachedProxy(client, include=["get"], store=store, key_attrs=("base_url.host", "base_url.port"))
        first = proxy.get("/a", params={"q": 1})
        again = proxy.get("/a", params={"q": 1}, timeout=httpx.USE_CLIENT_DEFAULT)  # the same default object
        assert handler.requests == 1
        assert again.json() == first.json() == {"path": "/a?q=1", "n": 1}
        assert proxy.get.cache_invalidate("/a", params={"q": 1}) is True
        proxy.get("/a", params={"q": 1})
        assert handler.requests == 2


def test_one_error_names_every_unkeyable_parameter(store: Any, server: tuple[str, Any]) -> None:
    import httpx

    url, handler = server

    def auth(request: httpx.Request) -> httpx.Request:  # a function: keyed by identity
        return request

    with httpx.Client(base_url=url) as client:
        proxy = CachedProxy(client, include=["request"], store=store, key_attrs=())
        with pytest.raises(TypeError) as info:
            proxy.request("GET", "/a", auth=auth, timeout=httpx.Timeout(5.0))  # Timeout: unhashable
        message = str(info.value)
        assert message.startswith("Client.request(): arguments 'auth' (function objects")
        assert "'timeout' (Timeout objects" in message
        assert "follow_redirects" not in message  # left at its sentinel default
        assert "ignore=['auth', 'timeout']" in message
        assert handler.requests == 0
        fixed = CachedProxy(client, include=["request"], store=store, key_attrs=(), ignore=["auth", "timeout"])
        fixed.request("GET", "/a", auth=auth, timeout=httpx.Timeout(5.0))
        fixed.request("GET", "/a", auth=auth, timeout=httpx.Timeout(5.0))
        assert handler.requests == 1


def test_dotted_key_attrs_tell_clients_apart(store: Any, server: tuple[str, Any]) -> None:
    import httpx

    url, handler = server
    port = url.rsplit(":", 1)[1]
    with httpx.Client(base_url=url) as one, httpx.Client(base_url=f"http://localhost:{port}") as two:
        options: dict[str, Any] = {"include": ["get"], "store": store, "key_attrs": ("base_url.host",)}
        CachedProxy(one, **options).get("/a")
        CachedProxy(two, **options).get("/a")
        assert handler.requests == 2
        CachedProxy(one, **options).get("/a")
        assert handler.requests == 2


def test_a_missing_dotted_key_attr_names_the_missing_part() -> None:
    class Meta:
        pass

    class Boto:
        meta = Meta()

        @cached_method(key_attrs=("meta.region_name",))
        def describe(self) -> str:
            return "x"

    with pytest.raises(AttributeError, match=r"'meta.region_name'.*meta \(.*Meta\) has no attribute 'region_name'"):
        Boto().describe()
    Boto.meta.region_name = "eu-west-1"  # type: ignore[attr-defined]
    assert Boto().describe() == "x"


# -- namespaces: one per method of a class ------------------------------------------


def no_wraps(func: Any) -> Any:
    """A decorator as many are written: without functools.wraps, every method it wraps is 'wrapper'."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper


def test_methods_decorated_without_wraps_do_not_share(store: Any) -> None:
    class Client:
        @cached_method(store=store, key_attrs=())
        @no_wraps
        def price(self, item: str) -> str:
            return f"price of {item}"

        @cached_method(store=store, key_attrs=())
        @no_wraps
        def stock(self, item: str) -> str:
            return f"stock of {item}"

    client = Client()
    assert client.price("apple") == "price of apple"
    assert client.stock("apple") == "stock of apple"  # not the price
    assert Client().stock("apple") == "stock of apple"


def test_two_lambdas_in_one_class_body_do_not_share(store: Any) -> None:
    class Client:
        double = cached_method(store=store, key_attrs=())(lambda self, x: x * 2)
        square = cached_method(store=store, key_attrs=())(lambda self, x: x * x)

    client = Client()
    assert client.double(3) == 6
    assert client.square(3) == 9


class SharedBase:
    def __init__(self) -> None:
        self.calls = 0

    def whoami(self) -> str:
        self.calls += 1
        return type(self).__module__


def test_same_named_classes_of_two_modules_do_not_share_an_inherited_method(store: Any) -> None:
    first = type("Client", (SharedBase,), {"__module__": "shop.billing"})
    second = type("Client", (SharedBase,), {"__module__": "shop.shipping"})
    assert first.__qualname__ == second.__qualname__
    assert CachedProxy(first(), store=store, key_attrs=()).whoami() == "shop.billing"
    assert CachedProxy(second(), store=store, key_attrs=()).whoami() == "shop.shipping"
    assert sorted(store.keys("shop.billing.Client.whoami")) != []
    assert sorted(store.keys("shop.shipping.Client.whoami")) != []


def test_default_namespace_is_the_class_looked_up_on_and_the_attribute(store: Any) -> None:
    class Base:
        @cached_method(store=store, key_attrs=())
        def get(self, x: int) -> tuple[str, int]:
            return (type(self).__name__, x)

    class Child(Base):
        pass

    assert Base().get(1) == ("Base", 1)
    assert Child().get(1) == ("Child", 1)
    prefix = f"{__name__}.test_default_namespace_is_the_class_looked_up_on_and_the_attribute.<locals>"
    assert len(list(store.keys(f"{prefix}.Base.get"))) == 1
    assert len(list(store.keys(f"{prefix}.Child.get"))) == 1


def make_client(answer: int) -> type:
    """Classes of one qualname whose methods differ: only namespace= can tell them apart in a store."""
    if answer == 1:

        class Client:
            def get(self) -> int:
                return 1

    else:

        class Client:  # type: ignore[no-redef]
            def get(self) -> int:
                return 2

    return Client


def test_two_functions_claiming_one_namespace_fail_at_wrap_time(store: Any) -> None:
    one, two = make_client(1)(), make_client(2)()
    assert CachedProxy(one, store=store, key_attrs=()).get() == 1
    with pytest.raises(TypeError, match=r"namespace 'tests\.stores\.test_isolation\.make_client\.<locals>\.Client\.get'"
                                        r" is already used by another function.*Pass namespace="):
        CachedProxy(two, store=store, key_attrs=()).get()
    assert CachedProxy(two, store=store, key_attrs=(), namespace="clients.two.get").get() == 2
    # The same function again (another instance, another proxy) is no clash.
    assert CachedProxy(make_client(1)(), store=store, key_attrs=()).get() == 1


# -- clear and invalidate win over a miss in flight, in every store ---------------


@pytest.mark.parametrize("how", ["clear", "invalidate", "refresh"])
def test_clear_wins_over_a_miss_in_flight_in_every_store(store: Any, how: str) -> None:
    from ..test_single_flight import Source, drop

    source = Source()
    proxy = CachedProxy(source, store=store, key_attrs=())
    first: list[str] = []
    computing = threading.Thread(target=lambda: first.append(proxy.read("k")))
    computing.start()
    assert source.inside.wait(10)
    source.data = "new"
    drop(proxy, how)
    assert proxy.read("k") == "new"  # not the flight that read "old"
    source.gate.set()
    computing.join(10)
    assert first == ["old"]
    assert proxy.read("k") == "new"  # "old" never reached the store
    assert CachedProxy(Source(), store=store, key_attrs=()).read("k") == "new"  # nor another reader
    assert source.calls == 2


# -- store I/O outside the method's lock ------------------------------------------------


class GatedStore:
    """A real store whose writes of *prefix* keys first pass *gate* (a barrier or an event)."""

    def __init__(self, inner: Any, prefix: str, gate: Any) -> None:
        self.inner = inner
        self.prefix = prefix
        self.gate = gate
        self.entered = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        if key.startswith(self.prefix):
            self.entered.set()
            self.gate.wait()
        self.inner.set(key, value, ttl)

    def get(self, key: str) -> Any:
        return self.inner.get(key)

    def delete(self, key: str) -> bool:
        return bool(self.inner.delete(key))

    def clear(self, namespace: str | None = None) -> int:
        return int(self.inner.clear(namespace))


def test_slow_writes_of_six_keys_do_not_wait_for_each_other(store: Any) -> None:
    # Each write waits until all six are being written at once: writes made
    # one after another under a lock would break the barrier (and count faults).
    barrier = threading.Barrier(6, timeout=30)
    gated = GatedStore(store, "isolation.six:", barrier)
    values = Values()
    proxy = CachedProxy(values, store=gated, key_attrs=(), namespace="isolation.six")
    threads = [threading.Thread(target=proxy.echo, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not barrier.broken
    stats = proxy.echo.cache_stats()
    assert stats["faults"] == 0
    assert stats["misses"] == 6
    assert len(list(store.keys("isolation.six"))) == 6
    assert [proxy.echo(n) for n in range(6)] == [show(n) for n in range(6)]
    assert len(values.computed) == 6


def _in_a_fork(calls: Any) -> Any:
    """Run *calls* in a forked child; its answer, or None when it hung (killed after 20 s)."""
    import os
    import select

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.write(write, repr(calls()).encode())
        finally:
            os._exit(0)
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], 20)
        return os.read(read, 10_000).decode() if ready else None
    finally:
        if not ready:
            os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(read)


def test_a_fork_while_a_thread_is_inside_a_store_call(make_store: Any) -> None:
    release = threading.Event()
    gated = GatedStore(make_store("memory"), "isolation.fork:", release)
    values = Values()
    proxy = CachedProxy(values, store=gated, key_attrs=(), namespace="isolation.fork")
    writing = threading.Thread(target=proxy.echo, args=(1,), daemon=True)
    writing.start()
    assert gated.entered.wait(10)
    try:
        # The child's gate opens at once: only its own writes pass through it.
        answer = _in_a_fork(lambda: (release.set(), proxy.echo(2), proxy.echo(1), len(values.computed))[1:])
    finally:
        release.set()
        writing.join(10)
    assert answer == repr((show(2), show(1), 3))


def test_a_fork_while_a_thread_holds_the_method_lock() -> None:
    # getsizeof runs under the method's lock (memory storage): a thread held
    # there at fork time must not leave the lock taken in the child.
    inside, release = threading.Event(), threading.Event()

    def getsizeof(value: Any) -> int:
        if value == show(1):
            inside.set()
            release.wait(30)
        return 1

    values = Values()
    proxy = CachedProxy(values, maxsize=100, getsizeof=getsizeof)
    holding = threading.Thread(target=proxy.echo, args=(1,), daemon=True)
    holding.start()
    assert inside.wait(10)
    try:
        answer = _in_a_fork(lambda: (proxy.echo(2), proxy.echo(2), len(values.computed)))
    finally:
        release.set()
        holding.join(10)
    assert answer == repr((show(2), show(2), 2))


class Completions:
    def create(self, prompt: str) -> str:
        return f"completion of {prompt}"


class Chat:
    def __init__(self) -> None:
        self.completions = Completions()


class LLMClient:
    def __init__(self) -> None:
        self.chat = Chat()
        self.completions = Completions()  # the same method at another path


def test_nested_methods_are_namespaced_by_the_client_and_their_path(store: Any) -> None:
    proxy = CachedProxy(
        LLMClient(), include=["chat.completions.create", "completions.create"], store=store, key_attrs=()
    )
    proxy.chat.completions.create("hi")
    proxy.completions.create("hi")
    assert len(list(store.keys(f"{__name__}.LLMClient.chat.completions.create"))) == 1
    assert len(list(store.keys(f"{__name__}.LLMClient.completions.create"))) == 1
