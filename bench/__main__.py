"""Run the benchmark suite: `python -m bench [--quick] [--only NAME]`."""

from __future__ import annotations

from bench.run import main

raise SystemExit(main())
