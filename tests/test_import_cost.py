"""``import proxycache`` loads only the core: stores and serializers load on first use.

Checked in a fresh interpreter, by the modules it leaves in ``sys.modules``
(never by time: benchmarks/ times the import).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Modules only the stores and serializers need.
LAZY = ("json", "pickle", "hashlib", "hmac", "difflib", "proxycache.serializers", "proxycache._stores",
        "proxycache._store_disk", "proxycache._store_memory", "proxycache._store_redis",
        "proxycache._shared", "proxycache._namespace", "proxycache._faults", "proxycache._front",
        "proxycache._cli_stores", "diskcache", "redis")


def _modules_after(code: str) -> set[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run(
        [sys.executable, "-c", f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )
    return set(out.stdout.strip().splitlines()[-1].split())


def test_import_loads_no_store_or_serializer_code() -> None:
    loaded = _modules_after("import proxycache")
    leaked = sorted(set(LAZY) & loaded)
    assert not leaked, f"import proxycache loaded {leaked}"


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
    assert not ({"pickle", "hashlib", "hmac", "proxycache._stores", "proxycache.serializers"} & loaded)


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
    stores = {"proxycache._store_disk", "proxycache._store_memory", "proxycache._store_redis"}
    assert {*stores, "proxycache.serializers"} <= loaded
