"""Reach over the embedded store as it was before the segment's byte needles (commit
996fb8a, 2026-12-01, issue 13): every row's snapshot (format 2) handed to Python,
parsed and checked. Kept verbatim for bench_schedule.py to measure against in the same
run, over the same store. (The format-1 baseline of the round before is in git history
at 996fb8a.) Bench code only."""

from __future__ import annotations

import time
from operator import itemgetter
from pathlib import Path

import orjson

from engine.core.best_time import peak_hour
from engine.local.reach import open_reader
from engine.shell.reach import Reach

_EMPTY: dict = {}


def reach_before(db_path: Path, compiled, now: int, campaigns) -> Reach:
    """`reach_of_store` as it was, with `count_reach_raw` as it was."""
    started = time.perf_counter()
    db = open_reader(db_path)
    try:
        db.execute("BEGIN")
        rows = map(itemgetter(0), db.execute("SELECT coalesce(snap, state) FROM users"))
        result = _count_reach_raw(rows, compiled, now, campaigns)
        db.execute("COMMIT")
    finally:
        db.close()
    return Reach(**{**result.to_dict(), "seconds": round(time.perf_counter() - started, 3)})


def _count_reach_raw(blobs, compiled, now: int, campaigns) -> Reach:
    segment = compiled.segment
    test_users = frozenset(campaigns.config.test_users)
    users = qualified = reachable = no_subscription = tests = 0
    best_hours: dict | None = {} if compiled.campaign.when.best_time is not None else None
    for data in map(orjson.loads, blobs):  # parsed in C, one call per user less
        users += 1
        if data.__class__ is list:  # a snapshot
            profile, counters, subscribed, hours, user = data
        else:  # a state, or a snapshot of format 1
            profile, counters, subscribed = data.get("p", _EMPTY), data.get("c", _EMPTY), data.get("s")
            hours, user = data.get("t"), data.get("u")
        if not segment(profile, counters, now):
            continue
        qualified += 1
        if not subscribed:
            no_subscription += 1
        elif profile.get("test") is True or user in test_users:
            tests += 1
        else:
            reachable += 1
            if best_hours is not None:
                hour = peak_hour(hours)
                label = "fallback" if hour is None else f"{hour:02d}:00"
                best_hours[label] = best_hours.get(label, 0) + 1
    return Reach(compiled.id, now, users, qualified, reachable, no_subscription, tests, best_hours=best_hours)
