"""How long after a write in process A does process B's front cache see the new value?

Run: ``python tests/stores/measure_front_staleness.py [--url redis://...] [--rounds N]``.
Without ``--url`` it starts a redis-server of its own on a free port. Process A
(this one) refreshes an entry; process B (spawned) reads it in a loop through
a ``RedisStore(front_maxsize=..., front_ttl=1.0)`` and notes when it sees each
new value. Printed: the delay, with client tracking and without it (where
``front_ttl`` bounds it). No timing is asserted anywhere; this only reports.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from typing import Any

from proxycache import CachedProxy, RedisStore

FRONT_TTL = 1.0


class Source:
    def __init__(self, version: int = 0) -> None:
        self.version = version

    def get(self, n: int) -> int:
        return self.version


def _reader(url: str, tracking: bool, seen: Any, ready: Any, stop: Any) -> None:
    store = RedisStore(url, front_maxsize=64, front_ttl=FRONT_TTL, tracking=tracking)
    if tracking:
        assert store._tracker is not None
        assert store._tracker.ready.wait(10)
    proxy = CachedProxy(Source(), store=store, key_attrs=(), namespace="measure.staleness")
    last = proxy.get(1)
    ready.set()
    while not stop.is_set():
        time.sleep(0.0005)  # a busy application, not a loop that holds the GIL for the listening thread
        value = proxy.get(1)
        if value != last:
            seen.put((value, time.time()))
            last = value


def measure(url: str, tracking: bool, rounds: int) -> list[float]:
    writer = CachedProxy(Source(), store=RedisStore(url), key_attrs=(), namespace="measure.staleness")
    writer.get.cache_refresh(1)
    ctx = multiprocessing.get_context("spawn")
    seen, ready, stop = ctx.Queue(), ctx.Event(), ctx.Event()
    reader = ctx.Process(target=_reader, args=(url, tracking, seen, ready, stop), daemon=True)
    reader.start()
    try:
        if not ready.wait(60):
            raise RuntimeError("the reader did not start")
        delays = []
        for version in range(1, rounds + 1):
            time.sleep(random.uniform(0.05, FRONT_TTL))  # the front entry's age at the write varies
            writer.__wrapped__.version = version
            written = time.time()
            writer.get.cache_refresh(1)
            value, at = seen.get(timeout=30)
            assert value == version, (value, version)
            delays.append(at - written)
        return delays
    finally:
        stop.set()
        reader.join(10)
        reader.kill()


def _start_redis(directory: str) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    binary = shutil.which("redis-server") or "redis-server"
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", directory],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError("redis-server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a Redis URL (default: start a redis-server)")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        proc, url = (None, args.url) if args.url else _start_redis(directory)
        try:
            for label, tracking in (("tracking", True), ("front_ttl", False)):
                delays = sorted(measure(url, tracking, args.rounds))
                print(
                    f"{label:<10} rounds={len(delays)}  median={statistics.median(delays) * 1000:.1f} ms  "
                    f"max={delays[-1] * 1000:.1f} ms  (front_ttl={FRONT_TTL:g}s)"
                )
        finally:
            if proc is not None:
                proc.kill()
                proc.wait(10)


if __name__ == "__main__":
    main()
