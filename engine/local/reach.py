"""Reach of a campaign over the embedded store: how many stored users qualify now, and
how many of them can be reached (a live subscription, not a test profile).

Exact: every stored user is read once, from one read snapshot (SQLite WAL), in a
connection of its own, so it runs in a thread beside the runtime's writer and never
waits for it. What is read is each user's reach snapshot (`users.snap`: profile,
counters, subscription presence), not the whole state; a row without one, or a file
from before snapshots (not opened by a `Store` since), is read from its states, with
the same answer. The counting is the shell's (`engine.shell.reach`), shared with the
Kafka workers.
"""

from __future__ import annotations

import sqlite3
import time
from operator import itemgetter
from pathlib import Path
from typing import Iterator

from engine.core.campaigns import CampaignSet, CompiledCampaign
from engine.local.store import SNAPSHOT_OR_STATE
from engine.shell.reach import Reach, count_reach_raw


def open_reader(db_path: Path | str) -> sqlite3.Connection:
    """A read-only connection: safe beside a running `pushcast run` (WAL readers do not
    block its writer, and see committed batches only)."""
    db = sqlite3.connect(f"file:{Path(db_path).resolve()}?mode=ro", uri=True, check_same_thread=False)
    db.execute("PRAGMA busy_timeout=5000")
    return db


def stored_states(db: sqlite3.Connection) -> Iterator[bytes]:
    """Every stored user state, as stored (one statement: one consistent snapshot); the
    rows are unpacked in C (`map`), not by a Python generator."""
    return map(itemgetter(0), db.execute("SELECT state FROM users"))


def stored_snapshots(db: sqlite3.Connection) -> Iterator[bytes]:
    """Every stored user's reach snapshot, or state where it has none (as `stored_states`)."""
    return map(itemgetter(0), db.execute(f"SELECT {SNAPSHOT_OR_STATE} FROM users"))


def has_snapshots(db: sqlite3.Connection) -> bool:
    """Does the file keep reach snapshots (every `Store` since they exist adds them)?"""
    return "snap" in {row[1] for row in db.execute("PRAGMA table_info(users)")}


def reach_of_store(db_path: Path | str, compiled: CompiledCampaign, now: int, campaigns: CampaignSet) -> Reach:
    """Reach over every user state in the store file (blocking: run it in a thread)."""
    started = time.perf_counter()
    db = open_reader(db_path)
    try:
        db.execute("BEGIN")  # one snapshot for the whole scan
        rows = stored_snapshots(db) if has_snapshots(db) else stored_states(db)
        result = count_reach_raw(rows, compiled, now, campaigns)
        db.execute("COMMIT")
    finally:
        db.close()
    return Reach(**{**result.to_dict(), "seconds": round(time.perf_counter() - started, 3)})
