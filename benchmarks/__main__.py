"""``python -m benchmarks`` (from the repository root)."""

from .bench import main

main()
