"""What ``single_flight="store"`` adds to a miss: the lease taken, looked under and given back.

``python -m benchmarks.leases`` (from the repository root) times misses of a
cached method whose call costs nothing, through a ``DiskStore`` and a
``RedisStore`` (a private ``redis-server`` on 127.0.0.1), with
``single_flight="process"`` and with ``single_flight="store"``, in
interleaved rounds; the difference of the medians is the lease's cost per
miss. A miss with the lease makes three more store calls than one without
(take the lease, look once more under it, give it back); one thread per
process renews the leases of calls that run long.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from typing import Any

from proxycache import CachedProxy, DiskStore, RedisStore

from .servers import redis_server


class Service:
    def get(self, n: int) -> int:
        return n


def _per_miss(proxy: Any, counter: itertools.count[int], misses: int) -> float:
    get = proxy.get
    started = time.perf_counter()
    for _ in range(misses):
        get(next(counter))  # a new argument: every call misses
    return (time.perf_counter() - started) / misses


def measure(store: Any, rounds: int, misses: int) -> dict[str, float]:
    """Median seconds per miss for each mode, and the lease's added cost."""
    proxies = {
        mode: CachedProxy(
            Service(), store=store, key_attrs=(), serializer="json", single_flight=mode,
            namespace=f"bench.leases.{mode}",
        )
        for mode in ("process", "store")
    }
    counter = itertools.count()
    for proxy in proxies.values():
        _per_miss(proxy, counter, 20)  # connections open, tables made
    samples: dict[str, list[float]] = {mode: [] for mode in proxies}
    for _ in range(rounds):
        for mode, proxy in proxies.items():
            samples[mode].append(_per_miss(proxy, counter, misses))
    store.clear("bench.leases.process")
    store.clear("bench.leases.store")
    result = {f"{mode}_us": statistics.median(values) * 1e6 for mode, values in samples.items()}
    result["added_us"] = result["store_us"] - result["process_us"]
    return result


def collect(rounds: int, misses: int, redis: bool = True) -> dict[str, Any]:
    """:func:`measure` through a ``DiskStore`` and (unless not *redis*) a ``RedisStore`` of a private redis-server."""
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="proxycache-bench-leases-") as directory:
        disk = DiskStore(directory)
        results["disk"] = measure(disk, rounds, misses)
        disk.close()
    if not redis:
        results["redis"] = "not run: --no-redis"
        return results
    with redis_server() as url:
        if url is None:
            results["redis"] = "not run: no redis-server or redis package"
        else:
            store = RedisStore(url)
            results["redis"] = measure(store, rounds, misses)
            store.close()
    return results


def text(results: dict[str, Any]) -> str:
    """The results as a small table."""
    out = ["lease cost per miss, microseconds (median of rounds)"]
    out.append(f"{'store':<8}{'process':>12}{'store lease':>14}{'added':>10}")
    for name, row in results.items():
        if isinstance(row, str):
            out.append(f"{name:<8}{row}")
        else:
            out.append(f"{name:<8}{row['process_us']:>12.1f}{row['store_us']:>14.1f}{row['added_us']:>10.1f}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.leases", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--misses", type=int, default=200, help="misses per timed sample")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 30 misses: rough numbers")
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args(argv)
    rounds, misses = (3, 30) if args.quick else (args.rounds, args.misses)
    results = collect(rounds, misses)
    print(text(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
