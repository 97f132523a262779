"""Reach over the embedded store as it was with snapshots of format 1 (before
2026-12-02, issue 13): snapshots as JSON objects under the state's keys, counted by
the loop of then. Kept verbatim for bench_schedule.py to measure against in the same
run, over a copy of the same store with format-1 snapshots. Bench code only."""

from __future__ import annotations

import sqlite3
from operator import itemgetter
from pathlib import Path

import orjson

from engine.core.best_time import peak_hour
from engine.local.reach import open_reader

_EMPTY: dict = {}
_SNAPSHOT_KEYS = ("u", "p", "c", "t")


def snapshot_format_1(data: dict) -> dict:
    snapshot = {key: data[key] for key in _SNAPSHOT_KEYS if key in data}
    if data.get("s"):
        snapshot["s"] = 1
    return snapshot


def make_format_1(db_path: Path) -> None:
    """Rewrite a store's snapshots in format 1, as the previous version left them."""
    from engine.local.store import SNAPSHOTS_META
    db = sqlite3.connect(db_path)
    rows = db.execute("SELECT user, state FROM users").fetchall()
    db.executemany("UPDATE users SET snap = ? WHERE user = ?",
                   [(orjson.dumps(snapshot_format_1(orjson.loads(state))), user) for user, state in rows])
    db.execute("UPDATE meta SET value = '1' WHERE key = ?", (SNAPSHOTS_META,))
    db.commit()
    db.execute("VACUUM")
    db.close()


def reach_before(db_path: Path, compiled, now: int, campaigns) -> tuple[int, int]:
    """`reach_of_store` as it was: (qualified, reachable)."""
    db = open_reader(db_path)
    try:
        db.execute("BEGIN")
        blobs = map(itemgetter(0), db.execute("SELECT coalesce(snap, state) FROM users"))
        loads = orjson.loads
        segment = compiled.segment
        test_users = frozenset(campaigns.config.test_users)
        users = qualified = reachable = no_subscription = tests = 0
        best_hours: dict | None = {} if compiled.campaign.when.best_time is not None else None
        for blob in blobs:
            users += 1
            data = loads(blob)
            profile = data.get("p", _EMPTY)
            if not segment(profile, data.get("c", _EMPTY), now):
                continue
            qualified += 1
            if not data.get("s"):
                no_subscription += 1
            elif profile.get("test") is True or data["u"] in test_users:
                tests += 1
            else:
                reachable += 1
                if best_hours is not None:
                    hour = peak_hour(data.get("t"))
                    label = "fallback" if hour is None else f"{hour:02d}:00"
                    best_hours[label] = best_hours.get(label, 0) + 1
        db.execute("COMMIT")
    finally:
        db.close()
    return qualified, reachable
