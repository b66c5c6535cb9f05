"""``python -m benchmarks``: run the benchmarks and write ``BENCHMARKS.md``."""

from benchmarks.runner import main

raise SystemExit(main())
