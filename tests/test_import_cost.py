"""``import proxycache`` loads only the core: stores and serializers load on first use.

Checked in a fresh interpreter, by the modules it leaves in ``sys.modules``
(never by time: benchmarks/ times the import).
"""

from __future__ import annotations

import os
import subprocess
import sys
import typing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Modules only the stores and serializers (and error messages) need.
LAZY = ("json", "pickle", "hashlib", "hmac", "difflib", "proxycache.serializers", "diskcache", "redis")
#: Modules only stores and ``single_flight="store"`` need (the store protocols among them), and the error for
#: arguments that cannot join a key.
LAZY_PARTS = ("proxycache._flight_store", "proxycache._lease_keeper", "proxycache._lease", "proxycache._store_base",
              "proxycache._keyerror", "proxycache._contract")

#: A mention of a store or serializer loads these (checked below).
USE_STORES = (
    "import proxycache\n"
    "from proxycache import DiskStore, MemoryStore, RedisStore, serializers\n"
    "assert serializers.PickleSerializer\n"
)


def store_modules() -> set[str]:
    """The modules the store classes live in, wherever the package keeps them."""
    import proxycache

    return {proxycache.DiskStore.__module__, proxycache.MemoryStore.__module__, proxycache.RedisStore.__module__}


def _modules_after(code: str) -> set[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run(
        [sys.executable, "-c", f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )
    return set(out.stdout.strip().splitlines()[-1].split())


def test_import_loads_no_store_or_serializer_code() -> None:
    loaded = _modules_after("import proxycache")
    # What the dependencies load is theirs (wrapt loads json through importlib.metadata on 3.13).
    theirs = _modules_after("import wrapt, cachetools, typing_extensions")
    leaked = sorted((set(LAZY) | store_modules()) & (loaded - theirs))
    assert not leaked, f"import proxycache loaded {leaked}"
    # Nor any other module of the package that only the stores need.
    only_stores = {m for m in _modules_after(USE_STORES) - loaded if m.startswith("proxycache.")}
    assert store_modules() | {"proxycache.serializers"} <= only_stores
    assert not (only_stores & loaded)


def test_an_in_memory_cache_needs_none_of_them() -> None:
    loaded = _modules_after(
        "import proxycache\n"
        "class C:\n"
        "    def get(self, x): return x\n"
        "p = proxycache.CachedProxy(C(), key_attrs=())\n"
        "assert p.get(1) == p.get(1) == 1\n"
        "c = proxycache.cache_methods(C(), 'get')\n"
        "assert c.get(2) == 2\n"
        "try:\n"
        "    proxycache.CachedProxy(C(), maxsze=1)\n"
        "except TypeError:\n"
        "    pass\n"
    )
    assert not ({"pickle", "hashlib", "hmac", "proxycache.serializers"} & loaded)
    assert not (store_modules() & loaded)


#: What the hit and miss paths are made of: loaded by the first method made cached, not by the import or a proxy.
MACHINERY = ("proxycache._method", "proxycache._blueprint", "proxycache._codegen", "proxycache._drive_sync",
             "proxycache._getorcompute", "proxycache._storage", "proxycache._plan", "proxycache._keys")


def test_the_cached_method_machinery_loads_with_the_first_cached_method() -> None:
    proxy = (
        "import proxycache\n"
        "class C:\n"
        "    def get(self, x): return [x]\n"
        "p = proxycache.CachedProxy(C())\n"
        "assert p.__wrapped__.get(1) == [1] and not proxycache.cache_info(p)\n"
    )
    assert not set(MACHINERY) & _modules_after(proxy)
    loaded = _modules_after(
        f"{proxy}"
        "assert p.get(1) is p.get(1)\n"
        "assert proxycache.cache_info(p, 'get').hits == 1\n"
        "assert proxycache.cache_of(p.get).__wrapped__ is not None\n"
    )
    assert set(MACHINERY) <= loaded
    # Whichever entry point comes first.
    for first in (
        "c = proxycache.cache_methods(C(), 'get')\nassert c.get(1) is c.get(1)\n",
        "class M(proxycache.CachingMixin, C): pass\nm = M()\nassert m.get(1) is m.get(1)\n",
        "class D:\n    @proxycache.cached_method\n    def get(self, x): return [x]\n"
        "d = D()\nassert d.get(1) is d.get(1)\n",
    ):
        assert set(MACHINERY) <= _modules_after(f"{proxy}{first}")


def test_threads_that_make_the_first_cached_methods_at_once_each_get_a_working_one() -> None:
    # Each thread's first access may be the one that loads the machinery: all wait at a barrier, then go.
    _modules_after(
        "import threading\n"
        "import proxycache\n"
        "class C:\n"
        "    calls = 0\n"
        "    def get(self, x):\n"
        "        C.calls += 1\n"
        "        return [x]\n"
        "proxies = [proxycache.CachedProxy(C()) for _ in range(8)]\n"
        "barrier = threading.Barrier(8)\n"
        "seen = []\n"
        "def first(p):\n"
        "    barrier.wait()\n"
        "    get = p.get\n"
        "    seen.append((get(1) is get(1), proxycache.cache_info(p, 'get').hits))\n"
        "threads = [threading.Thread(target=first, args=(p,)) for p in proxies]\n"
        "for t in threads: t.start()\n"
        "for t in threads: t.join()\n"
        "assert seen == [(True, 1)] * 8 and C.calls == 8, (seen, C.calls)\n"
    )


#: The entry points beside CachedProxy, and the cache controls: loaded on first use.
LAZY_NAMES = {
    "cached_method": "proxycache._decorator",
    "cache_methods": "proxycache._inplace",
    "uncache_methods": "proxycache._inplace",
    "CachingMixin": "proxycache._mixin",
    "cache_of": "proxycache._api",
    "cache_info": "proxycache._api",
    "cache_stats": "proxycache._api",
    "cache_clear": "proxycache._api",
    "bypass": "proxycache._bypass",
    "add_listener": "proxycache._events",
    "Event": "proxycache._events",
    "MissType": "proxycache._miss",
    "StoreWarning": "proxycache._miss",
}


def test_entry_points_and_controls_load_on_first_use() -> None:
    assert not set(LAZY_NAMES.values()) & _modules_after("import proxycache")
    for name, module in LAZY_NAMES.items():
        loaded = _modules_after(
            f"import proxycache\nfrom proxycache import {name}\nassert {name} is proxycache.{name}\n"
            f"assert {name}.__module__ == {module!r}\nassert {name!r} in dir(proxycache)\n"
        )
        assert module in loaded
    # And they work as ever, reached either way.
    _modules_after(
        "import proxycache\n"
        "from proxycache import CachingMixin, cache_info, cache_methods\n"
        "class C:\n"
        "    def get(self, x): return [x]\n"
        "class M(CachingMixin, C):\n"
        "    pass\n"
        "c, m = cache_methods(C(), 'get'), M()\n"
        "assert c.get(1) is c.get(1) and m.get(2) is m.get(2)\n"
        "assert cache_info(c, 'get').hits == proxycache.cache_info(m, 'get').hits == 1\n"
        "assert proxycache.cache_of(c.get).cache_stats()['hits'] == 1\n"
        "proxycache.cache_clear(c)\n"
        "assert proxycache.cache_stats(c, 'get')['hits'] == 0\n"
        "assert proxycache.uncache_methods(c) is c\n"
        "ns = {}\n"
        "exec('from proxycache import *', ns)\n"
        "assert set(proxycache.__all__) <= set(ns)\n"
    )


def test_bypass_listeners_and_miss_reached_after_the_first_cached_method_act_on_it() -> None:
    # The hit path (loaded first here) and the names reached later share one flag and one MISS.
    _modules_after(
        "import proxycache\n"
        "class C:\n"
        "    calls = 0\n"
        "    def get(self, x):\n"
        "        C.calls += 1\n"
        "        return x\n"
        "p = proxycache.CachedProxy(C())\n"
        "assert p.get(1) == p.get(1) and C.calls == 1\n"
        "assert 'proxycache._bypass' in __import__('sys').modules\n"
        "with proxycache.bypass():\n"
        "    p.get(1)\n"
        "assert C.calls == 2, C.calls\n"
        "seen = []\n"
        "remove = proxycache.add_listener(seen.append)\n"
        "p.get(1)\n"
        "remove()\n"
        "assert [e.kind for e in seen] == ['hit'], seen\n"
        "from proxycache._miss import MISS\n"
        "assert proxycache.MISS is MISS and isinstance(MISS, proxycache.MissType) and not MISS\n"
    )


def test_lazy_names_load_on_first_use() -> None:
    loaded = _modules_after(
        "import proxycache\n"
        "assert proxycache.DiskStore.__name__ == 'DiskStore'\n"
        "assert proxycache.MemoryStore.__name__ == 'MemoryStore'\n"
        "assert proxycache.RedisStore.__name__ == 'RedisStore'\n"
        "assert proxycache.serializers.PickleSerializer\n"
        "from proxycache import DiskStore, serializers\n"
        "assert 'DiskStore' in dir(proxycache) and 'serializers' in dir(proxycache)\n"
        "try:\n"
        "    proxycache.NoSuchName\n"
        "except AttributeError as e:\n"
        "    assert 'NoSuchName' in str(e)\n"
        "else:\n"
        "    raise AssertionError('no AttributeError')\n"
    )
    assert {*store_modules(), "proxycache.serializers"} <= loaded


def test_store_flight_and_key_errors_load_on_first_use() -> None:
    assert not (set(LAZY_PARTS) & _modules_after("import proxycache"))
    loaded = _modules_after(
        "import tempfile\n"
        "import proxycache\n"
        "class C:\n"
        "    def get(self, x): return x\n"
        "class Unhashable:\n"
        "    __hash__ = None\n"
        "c = proxycache.cache_methods(C(), 'get')\n"
        "try:\n"
        "    c.get(Unhashable())\n"
        "except TypeError:\n"
        "    pass\n"
        "else:\n"
        "    raise AssertionError('no TypeError')\n"
        "with tempfile.TemporaryDirectory() as d:\n"
        "    store = proxycache.DiskStore(d)\n"
        "    s = proxycache.cache_methods(C(), 'get', store=store, single_flight='store', key_attrs=())\n"
        "    assert s.get(1) == s.get(1) == 1\n"
        "    store.close()\n"
    )
    assert set(LAZY_PARTS) <= loaded


#: Modules only some options need, loaded by the first method that uses them (and working).
LAZY_OPTIONS = {
    # Not an option: the coroutine driver, loaded by the first coroutine method (or the first awaitable
    # a method that looks synchronous returns).
    "proxycache._drive_async": (
        "import asyncio\n"
        "class C:\n"
        "    calls = 0\n"
        "    async def get(self, x):\n"
        "        C.calls += 1\n"
        "        return [x]\n"
        "    def wrapped(self, x): return self.get(x)\n"
        "async def main():\n"
        "    c = proxycache.cache_methods(C(), 'get', 'wrapped')\n"
        "    assert await c.get(1) is await c.get(1)\n"
        "    assert await c.wrapped(2) is await c.wrapped(2)\n"
        "    assert await c.get.cache_refresh(1) == [1]\n"
        "asyncio.run(main())\n"
        "assert C.calls == 3\n"
    ),
    "proxycache._storage_wrapped": (
        "class C:\n"
        "    def get(self, x): return [x]\n"
        "c = proxycache.cache_methods(C(), 'get', ttl=60)\n"
        "assert c.get(1) is c.get(1)\n"
        "d = proxycache.cache_methods(C(), 'get', cache=dict)\n"
        "assert d.get(2) is d.get(2)\n"
    ),
    "proxycache._storage_index": (
        "class C:\n"
        "    user = 'u'\n"
        "    def get(self, x): return [x, self.user]\n"
        "c = proxycache.cache_methods(C(), 'get', key_attrs=['user'])\n"
        "assert c.get(1) is c.get(1)\n"
    ),
    "proxycache._stale": (
        "class C:\n"
        "    fail = False\n"
        "    def get(self, x):\n"
        "        if C.fail: raise RuntimeError\n"
        "        return [x]\n"
        "clock = __import__('proxycache.testing').testing.FakeClock()\n"
        "with proxycache.testing.use_clock(clock):\n"
        "    c = proxycache.cache_methods(C(), 'get', ttl=1, stale_if_error=10)\n"
        "    first = c.get(1)\n"
        "    clock.advance(5)\n"
        "    C.fail = True\n"
        "    assert c.get(1) is first  # served stale in place of the error\n"
    ),
    "proxycache._streams": (
        "class C:\n"
        "    calls = 0\n"
        "    def items(self, n):\n"
        "        C.calls += 1\n"
        "        yield from range(n)\n"
        "c = proxycache.cache_methods(C(), 'items', streams='replay')\n"
        "assert list(c.items(3)) == list(c.items(3)) == [0, 1, 2] and C.calls == 1\n"
    ),
}


def test_option_parts_load_with_the_first_method_that_uses_them() -> None:
    plain = _modules_after("import proxycache")
    assert not (set(LAZY_OPTIONS) | {"proxycache._replay", "proxycache._recording", "proxycache._entry"}) & plain
    for module, use in LAZY_OPTIONS.items():
        loaded = _modules_after(f"import proxycache\n{use}")
        assert module in loaded, f"{module} was not loaded by:\n{use}"


def test_the_coroutine_driver_loads_for_a_method_that_turns_out_async() -> None:
    # No coroutine method: the first awaitable a plain method returns loads the driver (its misses take it).
    loaded = _modules_after(
        "import asyncio\n"
        "import proxycache\n"
        "async def fetch(x):\n"
        "    C.calls += 1\n"
        "    return [x]\n"
        "class C:\n"
        "    calls = 0\n"
        "    def get(self, x): return fetch(x)\n"
        "c = proxycache.cache_methods(C(), 'get')\n"
        "async def main():\n"
        "    assert await c.get(1) is await c.get(1)\n"
        "asyncio.run(main())\n"
        "assert C.calls == 1\n"
    )
    assert "proxycache._drive_async" in loaded


def _declared_docstring(module: str, name: str) -> str | None:
    """The docstring of the class *name* as the source declares it (for type checkers)."""
    import ast
    import inspect

    path = ROOT / "proxycache" / f"{module}.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ClassDef) and node.name == name:
            doc = ast.get_docstring(node)
            return None if doc is None else inspect.cleandoc(doc)
    return None


def test_the_public_named_tuples_are_what_typing_named_tuple_makes() -> None:
    # CacheInfo and Event are made by collections.namedtuple (half the import cost of a NamedTuple class
    # statement): everything a user reads of them is as the NamedTuple class declared for type checkers.
    import inspect
    import pickle

    from proxycache import CacheInfo, Event

    class RefInfo(typing.NamedTuple):
        hits: int
        misses: int
        maxsize: int | None
        currsize: int

    class RefEvent(typing.NamedTuple):
        kind: str
        method: str
        detail: typing.Any = None

    for cls, ref, module, made in [
        (CacheInfo, RefInfo, "_stats", CacheInfo(1, 2, None, 3)),
        (Event, RefEvent, "_events", Event("miss", "C.get")),
    ]:
        assert cls.__qualname__ == cls.__name__
        assert cls.__module__ == f"proxycache.{module}"
        assert cls.__bases__ == (tuple,)
        assert cls.__orig_bases__ == ref.__orig_bases__
        assert cls._fields == ref._fields
        assert cls._field_defaults == ref._field_defaults
        assert cls.__match_args__ == ref.__match_args__
        assert cls.__slots__ == ()
        assert typing.get_type_hints(cls) == typing.get_type_hints(ref)
        assert inspect.cleandoc(cls.__doc__ or "") == _declared_docstring(module, cls.__name__)
        # Python 3.13 gives every class statement these two; collections.namedtuple makes none.
        # copyreg caches __slotnames__ on a class the first time one is copied or pickled (an earlier test may have).
        made_here = {"__firstlineno__", "__static_attributes__", "__slotnames__"}
        assert set(vars(cls)) - made_here == set(vars(ref)) - made_here
        assert isinstance(made, tuple)
        assert pickle.loads(pickle.dumps(made)) == made
        assert type(pickle.loads(pickle.dumps(made))) is cls
        assert repr(made) == repr(ref(*made)).replace(ref.__name__, cls.__name__, 1)
        assert made._asdict() == ref(*made)._asdict()
        assert made._replace(**{cls._fields[1]: "x"}) == (made[0], "x", *made[2:])
        assert cls._make(list(made)) == made
    assert Event("miss", "C.get").detail is None


def test_the_cache_info_class_is_made_on_first_use() -> None:
    # By the first cache_info(), or a read of the name (pickle's too).
    _modules_after(
        "import typing\n"
        "import proxycache, proxycache._stats as stats\n"
        "assert 'CacheInfo' not in vars(stats)\n"
        "class C:\n"
        "    def get(self, x): return x\n"
        "c = proxycache.CachedProxy(C())\n"
        "c.get(1); c.get(1)\n"
        "hints = typing.get_type_hints(proxycache.cache_of(c.get).cache_info)\n"
        "info = proxycache.cache_info(c, 'get')\n"
        "assert type(info) is proxycache.CacheInfo is stats.CacheInfo is hints['return'] and info[:2] == (1, 1)\n"
    )
    _modules_after(
        "import pickle\n"
        "import proxycache, proxycache._stats as stats\n"
        "data = pickle.dumps(proxycache.CacheInfo(1, 2, None, 3))\n"
        "del stats.CacheInfo\n"
        "info = pickle.loads(data)\n"
        "assert type(info) is stats.CacheInfo and info == (1, 2, None, 3)\n"
    )
