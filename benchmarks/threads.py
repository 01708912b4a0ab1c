"""Hits from several threads at once: how each policy's hit scales, with the GIL or without it.

``python -m benchmarks.threads`` (from the repository root) runs hits of one
cached method of one instance from 1, then 2 (then more, ``--threads``)
threads at once, for ``functools.lru_cache`` and for proxycache's policies,
in interleaved rounds, and reports the hits per second of all threads
together and the scaling (hits per second over the one-thread figure).

Run it with a free-threaded interpreter (3.13+, built with
``--disable-gil``; ``PYTHON_GIL=0``) to see the hit path without the GIL:
there an LRU or LFU hit takes the method's lock, since its storage's
bookkeeping is not safe against another thread's miss, and the other
policies' hits take no lock of proxycache's. With the GIL, one thread runs
Python code at a time, so no case scales.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import threading
import time
import types
from collections.abc import Callable
from typing import Any

import proxycache
from proxycache._flags import NO_GIL

#: Keys the threads cycle through: all cached (hits only), each thread from its own offset.
KEYS = 64


class Service:
    def get(self, n: int) -> int:
        return n


def _cases() -> dict[str, Callable[[], Any]]:
    """Makers of an object whose ``get`` is the cached method (cached methods hold their instance weakly)."""

    def lru_cache() -> Any:
        return types.SimpleNamespace(get=functools.lru_cache(maxsize=128)(Service().get))

    def policy(name: str, **options: Any) -> Callable[[], Any]:
        def make() -> Any:
            return proxycache.cache_methods(Service(), "get", policy=name, **options)

        return make

    return {
        "functools.lru_cache": lru_cache,
        "proxycache lru (default)": policy("lru"),
        "proxycache lfu": policy("lfu"),
        "proxycache fifo": policy("fifo"),
        "proxycache rr": policy("rr"),
        "proxycache unbounded": policy("lru", maxsize=None),
    }


def _hits_per_second(obj: Any, threads: int, seconds: float) -> float:
    """Hits per second of *threads* threads calling ``obj.get`` together for about *seconds*."""
    get = obj.get
    for key in range(KEYS):
        get(key)  # all hits from here on
    start = threading.Barrier(threads + 1)
    stop = threading.Event()
    counts = [0] * threads

    def work(index: int) -> None:
        n = 0
        key = index * 7
        start.wait()
        while not stop.is_set():
            for _ in range(1000):
                get(key % KEYS)
                key += 1
            n += 1000
        counts[index] = n

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    start.wait()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in pool:
        thread.join()
    return sum(counts) / (time.perf_counter() - began)


def run(*, threads: list[int], rounds: int, seconds: float) -> dict[str, Any]:
    """Median hits per second by case and number of threads, in *rounds* interleaved rounds."""
    cases = _cases()
    samples: dict[str, dict[int, list[float]]] = {name: {n: [] for n in threads} for name in cases}
    for _ in range(rounds):
        for name, make in cases.items():
            for n in threads:
                samples[name][n].append(_hits_per_second(make(), n, seconds))
    results: dict[str, Any] = {}
    for name, by_threads in samples.items():
        medians = {n: statistics.median(values) for n, values in by_threads.items()}
        one = medians[threads[0]]
        results[name] = {str(n): {"hits_per_s": rate, "scaling": rate / one} for n, rate in medians.items()}
    return results


def interpreter() -> str:
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    return f"Python {sys.version.split()[0]}, the GIL {'on' if gil else 'off'}"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m benchmarks.threads", description=__doc__.split("\n")[0])
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument("--seconds", type=float, default=0.5, help="seconds per sample (default 0.5)")
    p.add_argument("--quick", action="store_true", help="one short round (for CI: the numbers are rough)")
    p.add_argument("--json", help="write the results as JSON here")
    args = p.parse_args(argv)
    threads = sorted({int(n) for n in args.threads.split(",")})
    rounds, seconds = (1, 0.05) if args.quick else (args.rounds, args.seconds)
    results = run(threads=threads, rounds=rounds, seconds=seconds)
    print(f"{interpreter()}; proxycache sees the GIL {'off' if NO_GIL else 'on'}")
    print(f"{'case':28}" + "".join(f"{f'{n} thread(s)':>22}" for n in threads))
    for name, row in results.items():
        cells = "".join(f"{row[str(n)]['hits_per_s'] / 1e6:>12.2f}M/s {row[str(n)]['scaling']:>5.2f}x" for n in threads)
        print(f"{name:28}{cells}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
