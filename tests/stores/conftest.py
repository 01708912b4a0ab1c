"""Fixtures for the store tests: real disk directories and a real redis-server.

``redis_server`` starts ``redis-server`` on a free port of 127.0.0.1 (no
persistence, a temporary directory); ``redis_cluster`` starts three of them
with ``--cluster-enabled yes`` and joins them with ``redis-cli --cluster
create``. Without the binaries the Redis tests skip, unless
``PROXYCACHE_REQUIRE_REDIS=1`` (CI), where they fail instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from proxycache import DiskStore, MemoryStore, RedisStore

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cluster_port() -> int:
    # A cluster node also listens on its port + 10000 (the cluster bus).
    for _ in range(100):
        port = _free_port()
        if port + 10000 < 65536:
            try:
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port pair for a cluster node")


def _redis_binary(name: str = "redis-server") -> str:
    binary = shutil.which(name)
    if binary is None:
        package = "redis-tools" if name == "redis-cli" else "redis-server"
        reason = f"{name} is not installed (apt-get install {package})"
        if os.environ.get("PROXYCACHE_REQUIRE_REDIS") == "1":
            pytest.fail(f"{reason}, and PROXYCACHE_REQUIRE_REDIS=1 says the Redis tests must run")
        pytest.skip(f"{reason}; set PROXYCACHE_REQUIRE_REDIS=1 to make this a failure")
    return binary


class RedisServer:
    """A redis-server process on 127.0.0.1 that tests may stop and start again (same port)."""

    def __init__(self, binary: str, directory: str, *args: str, port: int | None = None) -> None:
        self.binary = binary
        self.directory = directory
        self.args = args
        self.port = port or _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.process is None, "already running"
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", self.directory,
                "--protected-mode", "no",
                *self.args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self.ping():
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode} (port {self.port} taken?)")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("redis-server did not answer PING within 10s")
            time.sleep(0.01)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.kill()
        self.process.wait(10)
        self.process = None

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                # A server that wants a password answers too, with NOAUTH.
                return sock.recv(16).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def flush(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            assert sock.recv(16).startswith(b"+OK")


@pytest.fixture(scope="session")
def _redis_session() -> Iterator[RedisServer]:
    binary = _redis_binary()
    with tempfile.TemporaryDirectory(prefix="proxycache-redis-") as directory:
        server = RedisServer(binary, directory)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def redis_server(_redis_session: RedisServer) -> str:
    """The URL of a running redis-server, emptied for this test."""
    _redis_session.flush()
    return _redis_session.url


@pytest.fixture
def redis_process(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, which the test may kill and restart."""
    server = RedisServer(_redis_binary(), str(tmp_path))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_with_password(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own that requires the password ``sesame``."""
    server = RedisServer(_redis_binary(), str(tmp_path), "--requirepass", "sesame")
    server.start()
    try:
        yield server
    finally:
        server.stop()


class RedisCluster:
    """Three redis-server processes on 127.0.0.1 joined into one Redis Cluster (no replicas)."""

    def __init__(self, directory: str) -> None:
        self.nodes: list[RedisServer] = []
        binary = _redis_binary()
        self.cli = _redis_binary("redis-cli")
        for i in range(3):
            port = _cluster_port()
            node_dir = os.path.join(directory, f"node{i}")
            os.makedirs(node_dir)
            self.nodes.append(RedisServer(
                binary, node_dir, "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
                "--cluster-node-timeout", "5000", port=port,
            ))
        self.url = f"redis://127.0.0.1:{self.nodes[0].port}/0"

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [self.cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )
        deadline = time.monotonic() + 30
        while not all(self._ok(node.port) for node in self.nodes):
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis Cluster did not reach cluster_state:ok within 30s")
            time.sleep(0.05)

    def _ok(self, port: int) -> bool:
        done = subprocess.run(
            [self.cli, "-p", str(port), "cluster", "info"], capture_output=True, text=True, timeout=10
        )
        return "cluster_state:ok" in done.stdout

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def flush(self) -> None:
        for node in self.nodes:
            node.flush()


@pytest.fixture(scope="session")
def _cluster_session() -> Iterator[RedisCluster]:
    with tempfile.TemporaryDirectory(prefix="proxycache-cluster-") as directory:
        cluster = RedisCluster(directory)
        try:
            cluster.start()
            yield cluster
        finally:
            cluster.stop()


@pytest.fixture
def redis_cluster(_cluster_session: RedisCluster) -> RedisCluster:
    """A running three-node Redis Cluster, emptied for this test (``.url`` names its first node)."""
    _cluster_session.flush()
    return _cluster_session


STORE_KINDS = ["memory", "disk", pytest.param("redis", marks=pytest.mark.redis)]
#: Every store, a Redis Cluster too: for the checks that do not go through the whole cache.
ALL_KINDS = [*STORE_KINDS, pytest.param("cluster", marks=pytest.mark.redis)]


@pytest.fixture
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A factory ``make_store(kind, **settings)`` for stores that start empty."""

    def make(kind: str, **settings: Any) -> Any:
        if kind == "memory":
            return MemoryStore(**settings)
        if kind == "disk":
            return DiskStore(tmp_path / "disk", **settings)
        if kind == "redis":
            return RedisStore(request.getfixturevalue("redis_server"), **settings)
        if kind == "cluster":
            return RedisStore(request.getfixturevalue("redis_cluster").url, cluster=True, **settings)
        raise AssertionError(kind)

    return make


@pytest.fixture(params=ALL_KINDS)
def store(request: pytest.FixtureRequest, make_store: Any) -> Any:
    """Every kind of store, a Redis Cluster too, empty."""
    return make_store(request.param)


@pytest.fixture(params=ALL_KINDS)
def any_store(request: pytest.FixtureRequest, make_store: Any) -> Any:
    """Every kind of store, a Redis Cluster too, empty."""
    return make_store(request.param)


@pytest.fixture(params=["disk", pytest.param("redis", marks=pytest.mark.redis)])
def bytes_store(request: pytest.FixtureRequest, make_store: Any) -> Any:
    """The stores that hold bytes and are shared between processes."""
    return make_store(request.param)


def run_processes(target: Any, args: tuple[Any, ...], count: int, results: Any, ready: Any = None) -> list[Any]:
    """Start *count* spawned processes of *target* (*args*), set *ready* if given, and take one result from each.

    Bounded in time: a process that hangs fails the test, and none outlives it.
    """
    import multiprocessing

    # The fleet tests are about what the processes share, not about several of them creating one
    # SQLite database at the same moment (where one may wait past a DiskStore's 1 s timeout on a
    # loaded machine, a fault that leaves its call uncached): a disk store's database is made first.
    for arg in args:
        if isinstance(arg, DiskStore):
            _ = arg.cache  # opened here, in the parent
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=target, args=args) for _ in range(count)]
    for p in procs:
        p.start()
    try:
        if ready is not None:
            ready.set()
        got = [results.get(timeout=90) for _ in procs]
        for p in procs:
            p.join(30)
            assert p.exitcode == 0
        return got
    finally:
        for p in procs:
            p.kill()
            p.join(10)


def run_python(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run *code* in a fresh interpreter with the repository importable; fail with its stderr."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO
    )
    assert done.returncode == 0, f"subprocess failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # These tests break stores on purpose; the tests that check the StoreWarning record it themselves.
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.filterwarnings("ignore::proxycache.StoreWarning"))


# -- the raw Redis names, by the layout RedisStore documents ----------------------------------


def redis_name(store: Any, key: str) -> str:
    """The Redis key holding entry *key* of *store*: ``<prefix>{<namespace>:<digest>}``."""
    return f"{store.prefix}{{{key}}}"


def redis_lease_name(store: Any, key: str) -> str:
    """The Redis key of the lease on entry *key*: ``<prefix>lease:{<namespace>:<digest>}``."""
    return f"{store.prefix}lease:{{{key}}}"


def redis_stats_name(store: Any, namespace: str) -> str:
    """The Redis hash counting the hits of *namespace* (``stats=True``): ``<prefix>stats:{<namespace>}``."""
    return f"{store.prefix}stats:{{{namespace}}}"
