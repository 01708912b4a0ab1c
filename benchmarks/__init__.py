"""proxycache's benchmark: cache hits against functools.lru_cache and peers. Run ``python -m benchmarks``."""
