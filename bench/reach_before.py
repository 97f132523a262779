"""Reach over the embedded store as it was before the segment's byte needles (commit
996fb8a, 2026-12-01, issue 13): every row's snapshot (format 2) handed to Python,
parsed and checked, by the same `count_reach_raw` (which, given every row, is the count
as it was). For bench_schedule.py to measure against in the same run, over the same
store. (The format-1 baseline of the round before is in git history at 996fb8a.) Bench
code only."""

from __future__ import annotations

import time
from operator import itemgetter
from pathlib import Path

from engine.local.reach import open_reader
from engine.shell.reach import Reach, count_reach_raw


def reach_before(db_path: Path, compiled, now: int, campaigns) -> Reach:
    """`reach_of_store` as it was: no needles, every row read and parsed."""
    started = time.perf_counter()
    db = open_reader(db_path)
    try:
        db.execute("BEGIN")
        rows = map(itemgetter(0), db.execute("SELECT coalesce(snap, state) FROM users"))
        result = count_reach_raw(rows, compiled, now, campaigns)
        db.execute("COMMIT")
    finally:
        db.close()
    return Reach(**{**result.to_dict(), "seconds": round(time.perf_counter() - started, 3)})
