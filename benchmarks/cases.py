"""What the benchmark times: one-argument method hits through proxycache and its peers.

Each :class:`Case` builds its objects once (``make``), warms the cache with one
call, and is then timed as a ``timeit`` statement. A case names a reference
case (``ref``): its result is the median over rounds of the per-round ratio to
that reference, so the slow drift of a busy machine cancels out. A case may
also name a ``base`` whose time is taken off first, in the same round (a miss
over the bare call; the first access of a method over making the instance):
the ratio is then of what is left, on both sides.
"""

from __future__ import annotations

import functools
import itertools
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import proxycache

#: The floor every hit is compared with.
FLOOR = "hit/lru_cache(obj.get)"


@dataclass
class Case:
    """One timed statement."""

    id: str
    group: str
    label: str
    make: Callable[[], dict[str, Any]]
    stmt: str = "o.get(1)"
    ref: str | None = FLOOR
    target: float | None = None
    #: A case whose time is taken off this one's, round by round, before the ratio.
    base: str | None = None
    #: Calls made before timing (1: the cache is warm; more: an evicting cache is full).
    warm: int = 1
    note: str = ""
    #: Filled by the runner: ns per call in each round, less the base's, and ratios to the reference's.
    samples: list[float] = field(default_factory=list)
    net: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)


class Unavailable(Exception):
    """A case that cannot run here (a missing peer or feature); the table says why."""


# -- the method everyone caches -------------------------------------------------


class Service:
    """The client being cached: a method with one argument that returns it."""

    def __init__(self) -> None:
        self.user = "alice"  # what key_attrs=["user"] reads

    def get(self, x: Any) -> Any:
        return x

    def get3(self, a: Any, b: Any, c: Any) -> Any:
        return a

    def query(self, *args: Any, **kwargs: Any) -> Any:
        """An SDK's method as openai's ``create`` and boto3's ``query`` are: everything by keyword, in ``**kwargs``."""
        return kwargs.get("model")


def _entry(name: str) -> Any:
    """A public proxycache name, or None while it does not exist yet."""
    return getattr(proxycache, name, None)


def _warm(ns: dict[str, Any], stmt: str, times: int = 1) -> dict[str, Any]:
    """Run the statement (once: the timed runs are hits; more: a bounded cache is full)."""
    code = compile(stmt, "<warm>", "exec")
    local = dict(ns)
    for _ in range(times):
        exec(code, {}, local)
    return ns


# -- our four entry points, with any options ------------------------------------


def proxy(**options: Any) -> Any:
    return proxycache.CachedProxy(Service(), **options)


def in_place(**options: Any) -> Any:
    return _entry("cache_methods")(Service(), **options)


# Classes are built once per set of options and then live on, as classes
# defined at module level do: whether a dropped instance is freed depends on it.
Options = tuple[tuple[str, Any], ...]


def _frozen(options: dict[str, Any]) -> Options:
    return tuple(sorted(options.items()))


@functools.cache
def _mixin_class(options: Options) -> type:
    class MixinService(_entry("CachingMixin"), Service, **dict(options)):  # type: ignore[misc]
        pass

    return MixinService


def mixin(**options: Any) -> Any:
    return _mixin_class(_frozen(options))()


@functools.cache
def _decorated_class(options: Options) -> type:
    class DecoratedService:
        def __init__(self) -> None:
            self.user = "alice"

        @_entry("cached_method")(**dict(options))  # type: ignore[misc]
        def get(self, x: Any) -> Any:
            return x

        @_entry("cached_method")(**dict(options))  # type: ignore[misc]
        def get3(self, a: Any, b: Any, c: Any) -> Any:
            return a

        @_entry("cached_method")(**dict(options))  # type: ignore[misc]
        def query(self, *args: Any, **kwargs: Any) -> Any:
            return kwargs.get("model")

    return DecoratedService


def decorated(**options: Any) -> Any:
    return _decorated_class(_frozen(options))()


#: label, maker, the public name it needs.
ENTRY_POINTS: list[tuple[str, Callable[..., Any], str]] = [
    ("CachedProxy", proxy, "CachedProxy"),
    ("cache_methods", in_place, "cache_methods"),
    ("CachingMixin", mixin, "CachingMixin"),
    ("cached_method", decorated, "cached_method"),
]


# -- peers --------------------------------------------------------------------


def lru_bound() -> Any:
    """The floor: ``functools.lru_cache`` on a bound method, as people write it."""
    obj = Service()
    obj.get = functools.lru_cache(maxsize=128)(obj.get)  # type: ignore[method-assign]
    obj.get3 = functools.lru_cache(maxsize=128)(obj.get3)  # type: ignore[method-assign]
    obj.query = functools.lru_cache(maxsize=128)(obj.query)  # type: ignore[method-assign]
    return obj


@functools.cache
def _lru_class() -> type:
    class LruService:
        @functools.lru_cache(maxsize=128)  # noqa: B019 - the pattern under test
        def get(self, x: Any) -> Any:
            return x

    return LruService


def lru_class() -> Any:
    return _lru_class()()


@functools.cache
def _cachetools_class(cache_class: str, kw: Options) -> type:
    import cachetools

    factory = getattr(cachetools, cache_class)

    class CachetoolsService:
        def __init__(self) -> None:
            self.cache = factory(**{"maxsize": 128, **dict(kw)})

        @cachetools.cachedmethod(lambda self: self.cache)
        def get(self, x: Any) -> Any:
            return x

    return CachetoolsService


def cachetools_method(cache_class: str = "LRUCache", **kw: Any) -> Any:
    return _cachetools_class(cache_class, _frozen(kw))()


@functools.cache
def _methodtools_class() -> type:
    import methodtools

    class MethodtoolsService:
        @methodtools.lru_cache(maxsize=128)
        def get(self, x: Any) -> Any:
            return x

    return MethodtoolsService


def methodtools_lru() -> Any:
    return _methodtools_class()()


@functools.cache
def _wrapt_class() -> type:
    import wrapt

    lru = getattr(wrapt, "lru_cache", None)
    if lru is None:
        raise Unavailable(f"wrapt {wrapt.__version__} has no lru_cache")

    class WraptService:
        @lru(maxsize=128)
        def get(self, x: Any) -> Any:
            return x

    return WraptService


def wrapt_lru() -> Any:
    return _wrapt_class()()


@functools.cache
def _cachebox_class() -> type:
    import cachebox

    class CacheboxService:
        def __init__(self) -> None:
            self.cache = cachebox.LRUCache(128)

        # The per-instance form from cachebox's documentation.
        @cachebox.cached(lambda self: self.cache)
        def get(self, x: Any) -> Any:
            return x

    return CacheboxService


def cachebox_method() -> Any:
    return _cachebox_class()()


def wrapt_hand_proxy() -> Any:
    """What people hand-write: a wrapt proxy whose __getattr__ wraps methods in lru_cache."""
    import wrapt

    class LruProxy(wrapt.ObjectProxy):  # type: ignore[misc]
        def __init__(self, wrapped: Any) -> None:
            super().__init__(wrapped)
            self._self_cached: dict[str, Any] = {}

        def __getattr__(self, name: str) -> Any:
            try:
                return self._self_cached[name]
            except KeyError:
                pass
            attr = getattr(self.__wrapped__, name)
            if callable(attr) and not name.startswith("_"):
                attr = self._self_cached[name] = functools.lru_cache(maxsize=128)(attr)
            return attr

    return LruProxy(Service())


def _needs(name: str) -> None:
    if _entry(name) is None:
        raise Unavailable(f"proxycache.{name} does not exist yet")


def _case(id: str, group: str, label: str, factory: Callable[[], Any], needs: str | None = None, *,
          stmt: str = "o.get(1)", extra: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
          warm: int = 1, **kw: Any) -> Case:
    def make() -> dict[str, Any]:
        if needs:
            _needs(needs)
        more = extra() if callable(extra) else extra
        ns = {"o": factory(), **(more or {})}
        return _warm(ns, stmt, warm)

    return Case(id=id, group=group, label=label, make=make, stmt=stmt, warm=warm, **kw)


# -- the groups ---------------------------------------------------------------

HIT_TARGET = 2.0
POLICY_TARGET = 0.35
KEYWORD_TARGET = 1.2
STORE_TARGET = 1.2
#: The first access of a method on a new instance, to ``lru_cache(maxsize=128)(obj.get)`` (aim 2x).
FIRST_ACCESS_TARGET = 5.0
#: ``CachedProxy(obj)`` to ``wrapt.ObjectProxy(obj)`` (aim 3x).
CONSTRUCT_TARGET = 10.0
#: A miss, over the bare call, to ``cachetools.cachedmethod``'s (aim 0.5x).
MISS_TARGET = 1.0
KEY_ATTRS_TARGET = 2.0


def hit_cases() -> list[Case]:
    cases = [
        _case(FLOOR, "hit", "functools.lru_cache(obj.get)  [floor]", lru_bound, ref=None),
        _case("hit/lru_cache class", "hit", "@functools.lru_cache on the class (reference)", lru_class),
    ]
    for label, maker, needs in ENTRY_POINTS:
        cases.append(_case(f"hit/{label}", "hit", label, maker, needs, target=HIT_TARGET))
    cases += [
        _case("hit/cachetools", "hit", "cachetools.cachedmethod(LRUCache)", cachetools_method),
        _case("hit/methodtools", "hit", "methodtools.lru_cache", methodtools_lru),
        _case("hit/wrapt.lru_cache", "hit", "wrapt.lru_cache", wrapt_lru),
        _case("hit/cachebox", "hit", "cachebox.cached(LRUCache)", cachebox_method),
        _case("hit/wrapt proxy", "hit", "wrapt.ObjectProxy + __getattr__ + lru_cache", wrapt_hand_proxy),
        Case(id="loop", group="hit", label="(the empty timing loop, included in every number)",
             make=dict, stmt="pass"),
    ]
    return cases


def keyword_cases() -> list[Case]:
    # functools keys get(x=1) apart from get(1): shown against the floor, for reference.
    cases = [_case("kw/lru_cache(obj.get)", "keyword", "functools.lru_cache(obj.get)  get(x=1) vs floor", lru_bound,
                   stmt="o.get(x=1)")]
    for label, maker, needs in ENTRY_POINTS:
        cases.append(_case(f"kw/{label}", "keyword", f"{label}  get(x=1) vs get(1)", maker, needs,
                           stmt="o.get(x=1)", ref=f"hit/{label}", target=KEYWORD_TARGET))
    return cases


def unhashable_cases() -> list[Case]:
    # A chat request's messages, built anew for every call as a client would: equal, never the same objects.
    extra = {"d": {"a": 1, "b": [2, 3]},
             "messages": lambda: [{"role": "system", "content": "Answer in one word."},
                                  {"role": "user", "content": "Capital of Norway?"}]}
    cases = []
    for label, maker, needs in ENTRY_POINTS:
        cases.append(_case(f"unhashable/{label}", "unhashable", f"{label}  get({{'a': 1, 'b': [2, 3]}}) vs get(1)",
                           maker, needs, stmt="o.get(d)", extra=extra, ref=f"hit/{label}",
                           note="peers raise TypeError for a dict argument"))
    for label, maker, needs in ENTRY_POINTS:
        cases.append(_case(f"messages/{label}", "unhashable", f"{label}  get(messages()) vs get(1)",
                           maker, needs, stmt="o.get(messages())", extra=extra, ref=f"hit/{label}",
                           note="two chat messages, built for each call"))
    for label, maker, needs in ENTRY_POINTS:
        cases.append(_case(f"sdk-messages/{label}", "unhashable",
                           f"{label}  query(model=, messages=messages()) vs get(1)", maker, needs,
                           stmt="o.query(model='m', messages=messages())", extra=extra, ref=f"hit/{label}",
                           note="query(*args, **kwargs), as SDK methods are"))
    return cases


def sdk_cases() -> list[Case]:
    # query(*args, **kwargs) called by keyword, as SDK methods (openai, boto3) are: lru_cache keys the call as it is.
    return _against_lru("sdk", "query", "o.query(model='m', prompt='hi')")


def _counter() -> dict[str, Any]:
    return {"n": itertools.count(10**9).__next__}


def miss_cases() -> list[Case]:
    # Every call a new argument: with maxsize=128 each miss also evicts one entry.
    # The ratio is of what each adds over the bare call, to what cachetools adds.
    stmt = "o.get(n())"
    ref = "miss/cachetools"
    cases = [
        _case("miss/bare", "miss", "uncached Service().get (base)", Service, stmt=stmt, extra=_counter, ref=None),
        _case(ref, "miss", "cachetools.cachedmethod(LRUCache)", cachetools_method,
              stmt=stmt, extra=_counter, ref=None, base="miss/bare", warm=200),
        _case("miss/lru_cache(obj.get)", "miss", "functools.lru_cache(obj.get)", lru_bound,
              stmt=stmt, extra=_counter, ref=ref, base="miss/bare", warm=200),
    ]
    for label, maker, needs in ENTRY_POINTS:
        cases.append(_case(f"miss/{label}", "miss", label, maker, needs, stmt=stmt, extra=_counter,
                           ref=ref, base="miss/bare", target=MISS_TARGET, warm=200))
    return cases


def evict_cases() -> list[Case]:
    # maxsize=1000, warmed past full: every timed call misses and evicts by the policy.
    stmt = "o.get(n())"
    cases = [_case("evict/bare", "evict", "uncached Service().get (base)", Service, stmt=stmt, extra=_counter,
                   ref=None)]
    for policy in ("lru", "lfu", "fifo", "rr"):
        cls = POLICIES[policy][0]
        ref = f"evict/{policy}/cachetools"
        cases.append(_case(ref, "evict", f"{policy}: cachetools.cachedmethod({cls}(1000))",
                           functools.partial(cachetools_method, cls, maxsize=1000), stmt=stmt, extra=_counter,
                           ref=None, base="evict/bare", warm=1100))
        for label, maker, needs in (ENTRY_POINTS[3], ENTRY_POINTS[0]):
            options = {"policy": policy, "maxsize": 1000}
            cases.append(_case(f"evict/{policy}/{label}", "evict", f"{policy}: {label}",
                               functools.partial(maker, **options), needs, stmt=stmt, extra=_counter,
                               ref=ref, base="evict/bare", target=MISS_TARGET, warm=1100))
    return cases


def _user_changed(maker: Callable[..., Any], **options: Any) -> Any:
    """An instance whose ``user`` changed after the method's first access and first call (as "alice")."""
    obj = maker(**options)
    obj.get(0)
    obj.user = "bob"
    return obj


def key_attrs_cases() -> list[Case]:
    cases = []
    for label, maker, needs in ENTRY_POINTS:
        cases.append(_case(f"key_attrs/{label}", "key_attrs", f"{label}(key_attrs=['user']) vs default",
                           functools.partial(maker, key_attrs=("user",)), needs,
                           ref=f"hit/{label}", target=KEY_ATTRS_TARGET))
    # The same hit after the attribute has changed since the method's first access (its entries are keyed
    # alike whatever the value; the row keeps that shown).
    for label, maker, needs in ENTRY_POINTS:
        cases.append(_case(f"key_attrs/{label}/changed", "key_attrs",
                           f"{label}(key_attrs=['user']), user changed since first access",
                           functools.partial(_user_changed, maker, key_attrs=("user",)), needs,
                           ref=f"hit/{label}", target=KEY_ATTRS_TARGET))
    return cases


def attrs_cases() -> list[Case]:
    # What caching costs the rest of the object: its own attribute read, after a method's first cached call.
    plain = "attrs/Service"
    cases = [_case(plain, "attrs", "Service().user, nothing cached (reference)", Service, stmt="o.user", ref=None)]
    makers = [
        ("cache_methods(obj, 'get')", _in_place_named, "cache_methods"),
        ("cache_methods(obj), every method", in_place, "cache_methods"),
        ("CachingMixin", mixin, "CachingMixin"),
        ("cached_method", decorated, "cached_method"),
    ]
    for label, maker, needs in makers:
        cases.append(_case(f"attrs/{label}", "attrs", f"{label}: obj.user after obj.get(1)",
                           functools.partial(_called, maker), needs, stmt="o.user", ref=plain))
    return cases


def _in_place_named() -> Any:
    return _entry("cache_methods")(Service(), "get")


def _called(maker: Callable[[], Any]) -> Any:
    obj = maker()
    obj.get(1)
    return obj


def _against_lru(group: str, method: str, stmt: str) -> list[Case]:
    """``lru_cache`` on *method* (the floor of *group*), then each entry point's hit of *stmt* against it."""
    floor = f"{group}/lru_cache(obj.{method})"
    cases = [_case(floor, group, f"functools.lru_cache(obj.{method})  [floor]", lru_bound, stmt=stmt, ref=None)]
    for label, maker, needs in ENTRY_POINTS:
        cases.append(_case(f"{group}/{label}", group, label, maker, needs, stmt=stmt, ref=floor))
    return cases


def args3_cases() -> list[Case]:
    stmt = "o.get3(1, 2, 3)"
    cases = _against_lru("args3", "get3", stmt)
    cases.append(_case("args3/cachetools", "args3", "cachetools.cachedmethod(LRUCache)",
                       _cachetools3, stmt=stmt, ref="args3/lru_cache(obj.get3)"))
    return cases


@functools.cache
def _cachetools3_class() -> type:
    import cachetools

    class Cachetools3Service:
        def __init__(self) -> None:
            self.cache = cachetools.LRUCache(maxsize=128)

        @cachetools.cachedmethod(lambda self: self.cache)
        def get3(self, a: Any, b: Any, c: Any) -> Any:
            return a

    return Cachetools3Service


def _cachetools3() -> Any:
    return _cachetools3_class()()


def setup_cases() -> list[Case]:
    """What a new instance pays before its first hit."""
    import wrapt

    def objects() -> dict[str, Any]:
        _needs("CachedProxy")
        _needs("cache_methods")
        return {
            "s": Service(), "S": Service, "CP": proxycache.CachedProxy, "OP": wrapt.ObjectProxy,
            "lru": functools.lru_cache, "cm": proxycache.cache_methods,
            "M": _mixin_class(()), "D": _decorated_class(()),
        }

    lru = "setup/lru_cache wrap"

    def case(id: str, label: str, stmt: str, **kw: Any) -> Case:
        return _case(id, "setup", label, object, stmt=stmt, extra=objects, **kw)

    return [
        case(lru, "functools.lru_cache(maxsize=128)(obj.get)", "lru(maxsize=128)(s.get)", ref=None),
        case("setup/ObjectProxy(obj)", "wrapt.ObjectProxy(obj)", "OP(s)", ref=None),
        case("setup/CachedProxy(obj)", "CachedProxy(obj)", "CP(s)", ref="setup/ObjectProxy(obj)",
             target=CONSTRUCT_TARGET),
        case("setup/CachedProxy first", "CachedProxy(obj).get, over CachedProxy(obj)", "CP(s).get",
             ref=lru, base="setup/CachedProxy(obj)", target=FIRST_ACCESS_TARGET),
        case("setup/new Service", "Service() (base)", "S()", ref=None),
        case("setup/cache_methods", "cache_methods(Service(), 'get'), over Service()", "cm(S(), 'get')",
             ref=lru, base="setup/new Service", target=FIRST_ACCESS_TARGET),
        case("setup/new mixin", "MixinService() (base)", "M()", ref=None),
        case("setup/CachingMixin first", "CachingMixin: MixinService().get, over MixinService()", "M().get",
             ref=lru, base="setup/new mixin", target=FIRST_ACCESS_TARGET),
        case("setup/new decorated", "DecoratedService() (base)", "D()", ref=None),
        case("setup/cached_method first", "cached_method: DecoratedService().get, over DecoratedService()",
             "D().get", ref=lru, base="setup/new decorated", target=FIRST_ACCESS_TARGET),
    ]


#: policy option -> (cachetools class, its extra arguments, our options)
POLICIES: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "lru": ("LRUCache", {}, {}),
    "lfu": ("LFUCache", {}, {"policy": "lfu"}),
    "fifo": ("FIFOCache", {}, {"policy": "fifo"}),
    "rr": ("RRCache", {}, {"policy": "rr"}),
    "ttl": ("TTLCache", {"ttl": 600}, {"ttl": 600}),
}


def _proxy_over(cache_class: str, **kw: Any) -> Any:
    """``CachedProxy`` keeping its entries in the named cachetools class (``policy=`` a class)."""
    import cachetools

    return proxy(policy=getattr(cachetools, cache_class), **kw)


def policy_cases() -> list[Case]:
    cases = []
    for policy, (cls, ct_kw, ours) in POLICIES.items():
        ref = f"policy/{policy}/cachetools"
        target = None if policy == "lru" else POLICY_TARGET
        cases.append(_case(ref, "policy", f"{policy}: cachetools.cachedmethod({cls})",
                           functools.partial(cachetools_method, cls, **ct_kw), ref=None))
        for label, maker, needs in (ENTRY_POINTS[3], ENTRY_POINTS[0]):
            cases.append(_case(f"policy/{policy}/{label}", "policy", f"{policy}: {label}",
                               functools.partial(maker, **ours), needs, ref=ref, target=target))
        # The same cachetools class kept by proxycache: its hits read it under the method's lock.
        cases.append(_case(f"policy/{policy}/CachedProxy-cachetools", "policy",
                           f"{policy}: CachedProxy(policy=cachetools.{cls})",
                           functools.partial(_proxy_over, cls, **ct_kw), "CachedProxy", ref=ref))
    return cases


# -- shared stores ------------------------------------------------------------


def _store_pair(kind: str, open_store: Callable[[], Any]) -> list[Case]:
    """A hit through a store, and the same store's raw get plus deserialization."""
    shared: dict[str, Any] = {}

    def cached() -> dict[str, Any]:
        for name in ("DiskStore", "RedisStore"):
            _needs(name)
        store = open_store()
        obj = proxycache.CachedProxy(Service(), store=store, key_attrs=(), namespace=f"bench-{kind}")
        obj.get.cache_clear()
        obj.get(1)
        storage = obj.get.__proxycache__.storage
        names = storage.keys()
        if len(names) != 1:
            raise Unavailable(f"{kind}: expected one entry in the store, found {len(names)}")
        shared.update(store=store, name=names[0], loads=storage.serializer.loads)
        return {"o": obj}

    def raw() -> dict[str, Any]:
        if not shared:
            raise Unavailable("the cached case did not run")
        ns = {"get": shared["store"].get, "name": shared["name"], "loads": shared["loads"]}
        return _warm(ns, "loads(get(name))")

    return [
        Case(id=f"store/{kind}/cached", group="store", label=f"{kind}: CachedProxy(store=...) hit",
             make=cached, ref=f"store/{kind}/raw", target=STORE_TARGET),
        Case(id=f"store/{kind}/raw", group="store", label=f"{kind}: store.get + serializer.loads",
             make=raw, stmt="loads(get(name))", ref=None),
    ]


#: Items per stream in the replay group: a reply of a few hundred tokens arrives in about as many chunks.
CHUNKS = 100


class Streamer:
    """A client whose methods stream (as an LLM client's ``create(stream=True)`` does)."""

    def __init__(self) -> None:
        self.items = tuple(range(CHUNKS))

    def chunks(self, n: int) -> Any:
        yield from self.items[:n]

    async def achunks(self, n: int) -> Any:
        for item in self.items[:n]:
            yield item


async def _agen(items: Any) -> Any:
    for item in items:
        yield item


async def _adrain(stream: Any) -> None:
    async for _ in stream:
        pass


def _drive(coro: Any) -> None:
    """Run a coroutine that never suspends to its end, without an event loop (whose overhead would dominate)."""
    try:
        coro.send(None)
    except StopIteration:
        return
    raise RuntimeError("the coroutine suspended")


def _replaying() -> Any:
    o = proxycache.CachedProxy(Streamer(), streams="replay")
    for _ in o.chunks(CHUNKS):  # recorded while consumed, stored at its end
        pass
    _drive(_adrain(o.achunks(CHUNKS)))
    if type(o.chunks(CHUNKS)).__name__ != "Replay":
        raise Unavailable("streams='replay' does not replay streams in this version")
    return o


def replay_cases() -> list[Case]:
    # A replayed stream of CHUNKS items (the hit that hands it out included),
    # against iterating the same items in a list: (ns - list's ns) / CHUNKS is
    # the overhead per chunk.
    items = {"items": list(range(CHUNKS)), "drive": _drive, "adrain": _adrain, "agen": _agen}
    sync_ref, async_ref = "replay/list", "replay/async generator over a list"
    return [
        _case(sync_ref, "replay", f"for item in a list of {CHUNKS}", dict, stmt="for _ in items: pass",
              extra=items, ref=None),
        _case("replay/CachedProxy", "replay", f"for chunk in a replay of {CHUNKS} (CachedProxy)", _replaying,
              stmt=f"for _ in o.chunks({CHUNKS}): pass", extra=items, ref=sync_ref),
        _case(async_ref, "replay", f"async for over an async generator of a list of {CHUNKS}", dict,
              stmt="drive(adrain(agen(items)))", extra=items, ref=None),
        _case("replay/CachedProxy async", "replay", f"async for chunk in a replay of {CHUNKS} (CachedProxy)",
              _replaying, stmt=f"drive(adrain(o.achunks({CHUNKS})))", extra=items, ref=async_ref),
    ]


def store_cases(redis_url: str | None, tmpdir: str | None = None) -> list[Case]:
    directory = tmpdir or tempfile.mkdtemp(prefix="proxycache-bench-")
    cases = _store_pair("disk", lambda: _entry("DiskStore")(directory))
    if redis_url is not None:
        cases += _store_pair("redis", lambda: _entry("RedisStore")(redis_url))
    return cases


def all_cases(redis_url: str | None, groups: set[str] | None = None) -> list[Case]:
    """The cases of *groups* (all by default), plus the cases they are measured against."""
    makers: dict[str, Callable[[], list[Case]]] = {
        "hit": hit_cases,
        "keyword": keyword_cases,
        "unhashable": unhashable_cases,
        "key_attrs": key_attrs_cases,
        "attrs": attrs_cases,
        "args3": args3_cases,
        "sdk": sdk_cases,
        "miss": miss_cases,
        "evict": evict_cases,
        "policy": policy_cases,
        "setup": setup_cases,
        "replay": replay_cases,
        "store": lambda: store_cases(redis_url),
    }
    every: list[Case] = []
    for group, make in makers.items():
        if group != "store" or groups is None or "store" in groups:
            every += make()
    if groups is None:
        return every
    by_id = {case.id: case for case in every}
    wanted = {case.id for case in every if case.group in groups}
    todo = list(wanted)
    while todo:  # a reference or base in another group comes along
        case = by_id[todo.pop()]
        for dep in (case.ref, case.base):
            if dep and dep in by_id and dep not in wanted:
                wanted.add(dep)
                todo.append(dep)
    return [case for case in every if case.id in wanted]
