"""The cycle collector's thresholds for a runtime process (`pushcast run`, `pushcast worker`).

Each event allocates many short-lived objects (its decoded state, its effects), all freed
by reference counting. At Python's default thresholds (700, 10, 10) the cycle collector
made ~2,000 passes per 100,000 events in `pushcast run`, 16 of them full, for ~20% of its
CPU (bench/RESULTS.md, "Against the core alone"). The states a runtime keeps are bytes,
which the collector never visits, so rarer passes cost little memory.
"""

from __future__ import annotations

import gc

GC_THRESHOLDS = (20_000, 10, 10)


def tune_collector() -> None:
    """Set the runtime's thresholds; called once at process start, never by library code."""
    gc.set_threshold(*GC_THRESHOLDS)
