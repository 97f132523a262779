"""Reach of a campaign over the embedded store: how many stored users qualify now, and
how many of them can be reached (a live subscription, not a test profile).

Exact: every stored user is counted once, from one read snapshot (SQLite WAL), in a
connection of its own, so it runs in a thread beside the runtime's writer and never
waits for it. What is read is each user's reach snapshot (`users.snap`: profile,
counters, subscription presence), not the whole state; a row without one, or a file
from before snapshots (not opened by a `Store` since), is read from its states, with
the same answer. The counting is the shell's (`engine.shell.reach`), shared with the
Kafka workers.

SQLite itself skips the users whose bytes lack the segment's needles
(`engine.shell.reach.needles_of`: `instr` in C, ~0.15 µs a user and clause, against
~1.5 µs to hand a row to Python, parse it and check the segment), and counts every
stored user with `count(*)` in the same read transaction.
"""

from __future__ import annotations

import sqlite3
import time
from operator import itemgetter
from pathlib import Path
from typing import Iterator

from engine.core.campaigns import CampaignSet, CompiledCampaign
from engine.local.store import SNAPSHOT_OR_STATE
from engine.shell.reach import Needles, Reach, count_reach_raw, needles_of


def open_reader(db_path: Path | str) -> sqlite3.Connection:
    """A read-only connection: safe beside a running `pushcast run` (WAL readers do not
    block its writer, and see committed batches only)."""
    db = sqlite3.connect(f"file:{Path(db_path).resolve()}?mode=ro", uri=True, check_same_thread=False)
    db.execute("PRAGMA busy_timeout=5000")
    return db


def stored_states(db: sqlite3.Connection, needles: Needles = ()) -> Iterator[bytes]:
    """Every stored user state that has `needles`, as stored (one statement: one
    consistent snapshot); the rows are unpacked in C (`map`), not by a Python generator."""
    having = has_needles_sql(needles, "state")
    where = f" WHERE {having}" if having else ""
    return map(itemgetter(0), db.execute(f"SELECT state FROM users{where}", needle_values(needles)))


def stored_snapshots(db: sqlite3.Connection, needles: Needles = ()) -> Iterator[bytes]:
    """Every stored user's reach snapshot, or state where it has none (as `stored_states`),
    that has `needles` (a row without a snapshot is handed over unsearched)."""
    having = snapshot_has_needles_sql(needles)
    where = f" WHERE {having}" if having else ""
    return map(itemgetter(0), db.execute(f"SELECT {SNAPSHOT_OR_STATE} FROM users{where}", needle_values(needles)))


def snapshot_has_needles_sql(needles: Needles) -> str:
    """SQL that holds for a `users` row whose reach snapshot has `needles`, or that has
    no snapshot (its state is then checked in Python); "" for no needles."""
    having = has_needles_sql(needles, "snap")
    return f"(snap IS NULL OR ({having}))" if having else ""


def has_needles_sql(needles: Needles, column: str) -> str:
    """SQL that holds when `column` has every clause of `needles` (a clause: any of its
    needles), as `engine.shell.reach.having_needles` keeps; "" for no needles. SQLite stops
    at the first clause a row fails."""
    clauses = ["(" + " OR ".join(f"instr({column}, ?)" for _ in clause) + ")" for clause in needles]
    return " AND ".join(clauses)


def needle_values(needles: Needles) -> list[bytes]:
    """The values of `has_needles_sql`'s parameters, in order."""
    return [needle for clause in needles for needle in clause]


def stored_users(db: sqlite3.Connection) -> int:
    """How many user states are stored (in C: no row leaves SQLite)."""
    return db.execute("SELECT count(*) FROM users").fetchone()[0]


def has_snapshots(db: sqlite3.Connection) -> bool:
    """Does the file keep reach snapshots (every `Store` since they exist adds them)?"""
    return "snap" in {row[1] for row in db.execute("PRAGMA table_info(users)")}


def reach_of_store(db_path: Path | str, compiled: CompiledCampaign, now: int, campaigns: CampaignSet) -> Reach:
    """Reach over every user state in the store file (blocking: run it in a thread)."""
    started = time.perf_counter()
    db = open_reader(db_path)
    try:
        db.execute("BEGIN")  # one snapshot for the whole scan: the count and the rows agree
        needles = needles_of(compiled.campaign.segment)
        rows = stored_snapshots(db, needles) if has_snapshots(db) else stored_states(db, needles)
        # the users skipped unread are counted by SQLite (every row is read without needles)
        result = count_reach_raw(rows, compiled, now, campaigns, users=stored_users(db) if needles else None)
        db.execute("COMMIT")
    finally:
        db.close()
    return Reach(**{**result.to_dict(), "seconds": round(time.perf_counter() - started, 3)})
