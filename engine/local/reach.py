"""Reach of a campaign over the embedded store: how many stored users qualify now, and
how many of them can be reached (a live subscription, not a test profile).

Exact: every stored user state is read once, from one read snapshot (SQLite WAL), in
a connection of its own, so it runs in a thread beside the runtime's writer and never
waits for it. The counting is the shell's (`engine.shell.reach`), shared with the Kafka
workers.
"""

from __future__ import annotations

import sqlite3
import time
from operator import itemgetter
from pathlib import Path
from typing import Iterator

from engine.core.campaigns import CampaignSet, CompiledCampaign
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


def reach_of_store(db_path: Path | str, compiled: CompiledCampaign, now: int, campaigns: CampaignSet) -> Reach:
    """Reach over every user state in the store file (blocking: run it in a thread)."""
    started = time.perf_counter()
    db = open_reader(db_path)
    try:
        db.execute("BEGIN")  # one snapshot for the whole scan
        result = count_reach_raw(stored_states(db), compiled, now, campaigns)
        db.execute("COMMIT")
    finally:
        db.close()
    return Reach(**{**result.to_dict(), "seconds": round(time.perf_counter() - started, 3)})
