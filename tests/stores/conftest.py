"""Fixtures for the store tests: real disk directories and a real redis-server.

``redis_server`` starts ``redis-server`` on a free port of 127.0.0.1 (no
persistence, a temporary directory). Without the binary the Redis tests skip,
unless ``PROXYCACHE_REQUIRE_REDIS=1`` (CI), where they fail instead.
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

from proxycache._stores import DiskStore, MemoryStore, RedisStore

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        reason = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("PROXYCACHE_REQUIRE_REDIS") == "1":
            pytest.fail(f"{reason}, and PROXYCACHE_REQUIRE_REDIS=1 says the Redis tests must run")
        pytest.skip(f"{reason}; set PROXYCACHE_REQUIRE_REDIS=1 to make this a failure")
    return binary


class RedisServer:
    """A redis-server process on 127.0.0.1 that tests may stop and start again (same port)."""

    def __init__(self, binary: str, directory: str, *args: str) -> None:
        self.binary = binary
        self.directory = directory
        self.args = args
        self.port = _free_port()
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


STORE_KINDS = ["memory", "disk", pytest.param("redis", marks=pytest.mark.redis)]


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
        raise AssertionError(kind)

    return make


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, make_store: Any) -> Any:
    """Every kind of store, empty."""
    return make_store(request.param)


@pytest.fixture(params=["disk", pytest.param("redis", marks=pytest.mark.redis)])
def bytes_store(request: pytest.FixtureRequest, make_store: Any) -> Any:
    """The stores that hold bytes and are shared between processes."""
    return make_store(request.param)


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
