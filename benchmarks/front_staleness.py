"""The front cache's staleness window: how long after a write in one process another process sees it.

``python -m benchmarks.front_staleness`` (from the repository root) starts a
private ``redis-server`` on 127.0.0.1 (or uses ``--url``). This process, the
writer, stores a new value of an entry through a ``RedisStore``; a spawned
reader process reads the entry in a loop through a ``RedisStore`` with a
front cache (``front_maxsize=64``, ``front_ttl``) and notes when it sees each
new value. The delay from the write until the reader sees it is reported
(median, 90th percentile, maximum), with Redis client tracking (the server
tells the reader of the write, which evicts its front entry) and without it
(the front entry lives out its ``front_ttl``). Each write comes a random
while after the one before, so the front entry's age at the write varies.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import statistics
import sys
import time
from typing import Any

from proxycache import CachedProxy, RedisStore

from .servers import redis_server

NAMESPACE = "bench.front_staleness"
#: Seconds a reader waits for each new value before the run is given up.
PATIENCE = 30.0


class Source:
    """The cached service: its answer is the version it is set to."""

    def __init__(self, version: int = 0) -> None:
        self.version = version

    def get(self, n: int) -> int:
        return self.version


def _reader(url: str, tracking: bool, front_ttl: float, seen: Any, ready: Any, stop: Any) -> None:
    store = RedisStore(url, front_maxsize=64, front_ttl=front_ttl, tracking=tracking)
    front = store.front
    assert front is not None
    deadline = time.monotonic() + PATIENCE
    while tracking and not front.tracking:  # the server's invalidations flow only once tracking is on
        if time.monotonic() > deadline:
            raise RuntimeError("Redis client tracking was not established")
        time.sleep(0.01)
    proxy = CachedProxy(Source(), store=store, key_attrs=(), serializer="json", namespace=NAMESPACE)
    last = proxy.get(1)
    ready.set()
    while not stop.is_set():
        time.sleep(0.0005)  # a busy application, not a loop that holds the GIL from the listening thread
        value = proxy.get(1)
        if value != last:
            seen.put((value, time.time()))
            last = value


def measure(url: str, *, tracking: bool, rounds: int, front_ttl: float, seed: int = 7) -> list[float]:
    """Seconds from each of *rounds* writes until the reader process saw the new value."""
    writer = CachedProxy(Source(), store=RedisStore(url), key_attrs=(), serializer="json", namespace=NAMESPACE)
    writer.get.cache_refresh(1)
    ctx = multiprocessing.get_context("spawn")
    seen, ready, stop = ctx.Queue(), ctx.Event(), ctx.Event()
    reader = ctx.Process(target=_reader, args=(url, tracking, front_ttl, seen, ready, stop), daemon=True)
    reader.start()
    pause = random.Random(seed)
    try:
        if not ready.wait(60):
            raise RuntimeError("the reader process did not start")
        delays = []
        for version in range(1, rounds + 1):
            time.sleep(pause.uniform(0.05, front_ttl))
            writer.__wrapped__.version = version
            written = time.time()
            writer.get.cache_refresh(1)
            value, at = seen.get(timeout=PATIENCE)
            if value != version:
                raise RuntimeError(f"the reader saw version {value}, expected {version}")
            delays.append(max(0.0, at - written))
        return delays
    finally:
        stop.set()
        reader.join(10)
        if reader.is_alive():
            reader.kill()
            reader.join(10)


def summary(delays: list[float], front_ttl: float) -> dict[str, float]:
    """Median, 90th percentile and maximum of *delays*, in milliseconds."""
    ordered = sorted(delays)
    p90 = ordered[min(len(ordered) - 1, max(0, round(0.9 * len(ordered)) - 1))]
    return {
        "rounds": len(ordered),
        "front_ttl_ms": front_ttl * 1000,
        "median_ms": statistics.median(ordered) * 1000,
        "p90_ms": p90 * 1000,
        "max_ms": ordered[-1] * 1000,
    }


MODES = {"tracking": True, "front_ttl": False}
#: ``--quick``: a few writes, and a short front_ttl so the runs without tracking end soon.
QUICK_ROUNDS, QUICK_FRONT_TTL = 3, 0.2


def run(url: str, rounds: int, front_ttl: float, seed: int = 7) -> dict[str, dict[str, float]]:
    """The summary with client tracking (``"tracking"``) and without (``"front_ttl"``)."""
    return {
        label: summary(measure(url, tracking=tracking, rounds=rounds, front_ttl=front_ttl, seed=seed), front_ttl)
        for label, tracking in MODES.items()
    }


def collect(rounds: int, front_ttl: float, redis: bool = True) -> dict[str, Any]:
    """:func:`run` against a private redis-server (each mode says "not run" when there is none, or not *redis*)."""
    if not redis:
        return dict.fromkeys(MODES, "not run: --no-redis")
    with redis_server() as url:
        if url is None:
            return dict.fromkeys(MODES, "not run: no redis-server or redis package")
        return run(url, rounds, front_ttl)


def text(results: dict[str, Any]) -> str:
    """The results as a small table."""
    out = ["front cache staleness: a write in one process until another sees it, ms"]
    out.append(f"{'mode':<11}{'rounds':>7}{'median':>9}{'p90':>9}{'max':>9}{'front_ttl':>11}")
    for label, row in results.items():
        if isinstance(row, str):
            out.append(f"{label:<11}{row}")
        else:
            out.append(
                f"{label:<11}{row['rounds']:>7}{row['median_ms']:>9.1f}{row['p90_ms']:>9.1f}{row['max_ms']:>9.1f}"
                f"{row['front_ttl_ms']:>11.0f}"
            )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.front_staleness", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--url", help="a Redis URL (default: start a private redis-server)")
    parser.add_argument("--rounds", type=int, default=20, help="writes per mode")
    parser.add_argument("--front-ttl", type=float, default=1.0, help="the reader's front_ttl, seconds")
    parser.add_argument(
        "--quick", action="store_true",
        help=f"{QUICK_ROUNDS} writes per mode, front_ttl {QUICK_FRONT_TTL:g}s: rough numbers",
    )
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args(argv)
    if args.rounds < 1 or not args.front_ttl > 0:
        parser.error("--rounds must be at least 1 and --front-ttl positive")
    rounds, front_ttl = (QUICK_ROUNDS, QUICK_FRONT_TTL) if args.quick else (args.rounds, args.front_ttl)
    results = run(args.url, rounds, front_ttl) if args.url else collect(rounds, front_ttl)
    print(text(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
