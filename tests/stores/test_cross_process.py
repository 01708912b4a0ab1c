"""Entries written by one process are read by others, for every store that crosses processes."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from proxycache import CachedProxy, DiskStore, RedisStore

from .conftest import REPO, run_python

# A child process: caches Service.compute in the store given as argv[1] and
# prints which arguments it really had to compute.
CHILD = """
import json, sys
from proxycache import CachedProxy
from proxycache import DiskStore, RedisStore

class Service:
    def __init__(self):
        self.computed = []
        self.region = "eu"

    def compute(self, n, *, scale=1):
        self.computed.append(n)
        return {"n": n, "square": n * n * scale}

spec = sys.argv[1]
store = DiskStore(spec[len("disk:"):]) if spec.startswith("disk:") else RedisStore(spec)
service = Service()
proxy = CachedProxy(service, store=store, key_attrs=("region",), namespace="xproc.compute")
results = [proxy.compute(int(n)) for n in sys.argv[2].split(",")]
print(json.dumps({"computed": service.computed, "results": results}))
"""


def spec_of(store: Any) -> str:
    return f"disk:{store.path}" if store.kind == "disk" else str(store.url)


def store_of(spec: str) -> Any:
    """The store *spec* (from :func:`spec_of`) names, opened anew (in another process)."""
    return DiskStore(spec[len("disk:"):]) if spec.startswith("disk:") else RedisStore(spec)


def child(store: Any, numbers: str) -> dict[str, Any]:
    done = run_python(CHILD, spec_of(store), numbers)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


class Service:
    region = "eu"

    def compute(self, n: int, *, scale: int = 1) -> dict[str, int]:
        raise AssertionError("everything asked here was computed by the child processes")


def test_one_process_writes_another_reads(bytes_store: Any) -> None:
    first = child(bytes_store, "1,2,3")
    second = child(bytes_store, "1,2,3,4")
    assert first["computed"] == [1, 2, 3]
    assert second["computed"] == [4]
    assert second["results"][:3] == first["results"]
    # This process, with its own class but the same namespace and key, reads them too.
    proxy = CachedProxy(Service(), store=bytes_store, key_attrs=("region",), namespace="xproc.compute")
    assert proxy.compute(2) == {"n": 2, "square": 4}
    assert proxy.compute(n=4, scale=1) == {"n": 4, "square": 16}


def test_keys_do_not_depend_on_hash_seed(bytes_store: Any) -> None:
    # str hashes are salted per process; keys must not be.
    for seed in ("1", "2"):
        subprocess.run(
            [sys.executable, "-c", CHILD, spec_of(bytes_store), "7"],
            check=True,
            capture_output=True,
            cwd=REPO,
            env={"PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        )
    assert len(list(bytes_store.keys("xproc.compute"))) == 1


def test_many_processes_write_one_disk_store_at_once(tmp_path: Path) -> None:
    store = DiskStore(tmp_path / "shared")
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, spec_of(store), ",".join(str(w * 100 + i) for i in range(40))],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        )
        for w in range(4)
    ]
    for writer in writers:
        out, err = writer.communicate(timeout=60)
        assert writer.returncode == 0, err
        assert len(json.loads(out)["computed"]) == 40
    names = list(store.keys("xproc.compute"))
    assert len(names) == 160
    assert all(isinstance(pickle.loads(store.get(name)), dict) for name in names)


@pytest.mark.parametrize("reader_secret", ["s3cret", "other"])
def test_signed_entries_cross_processes_with_the_same_secret(bytes_store: Any, reader_secret: str) -> None:
    code = CHILD.replace(
        'namespace="xproc.compute")',
        'namespace="xproc.compute", serializer=PickleSerializer(secret=sys.argv[3]))',
    ).replace("from proxycache import CachedProxy", "from proxycache import CachedProxy\n"
              "from proxycache.serializers import PickleSerializer")
    first = json.loads(run_python(code, spec_of(bytes_store), "5", "s3cret").stdout)
    second = json.loads(run_python(code, spec_of(bytes_store), "5", reader_secret).stdout)
    assert first["computed"] == [5]
    # Another secret: the entry fails its check, so it is recomputed, never unpickled.
    assert second["computed"] == ([] if reader_secret == "s3cret" else [5])
    assert second["results"] == first["results"]


def test_processes_sharing_proxycache_secret_read_each_other_and_others_do_not(
    bytes_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROXYCACHE_SECRET", "shared by the writers")
    assert child(bytes_store, "1,2")["computed"] == [1, 2]
    assert child(bytes_store, "1,2")["computed"] == []  # same secret: hits
    (name, *_) = bytes_store.keys("xproc.compute")
    assert bytes_store.get(name).startswith(b"pcs2")  # signed
    monkeypatch.setenv("PROXYCACHE_SECRET", "another")
    assert child(bytes_store, "1,2")["computed"] == [1, 2]  # another secret: nothing read
    monkeypatch.delenv("PROXYCACHE_SECRET")
    assert child(bytes_store, "1,2")["computed"] == [1, 2]  # no secret: signed entries are not pickles
