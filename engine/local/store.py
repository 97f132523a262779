"""The embedded runtime's disk: one SQLite file (WAL) holding every user's state, the
outbox of decided notifications, exact per-campaign counters and a few settings.

Everything one batch changes is written in one transaction (`Store.batch()`), so a crash
leaves either the whole batch or none of it: states, timers (`users.next_due`), queued
sends and counters never disagree, and nothing is counted twice.

The outbox keeps a row per (message id, endpoint) after sending (`done` set) for
`DEDUPE_HORIZON_MS`: a message decided again (an event file replayed, a clock set back)
finds its row and is not sent or counted twice within that horizon.

Beside each state, in the same row, `users.snap` keeps its reach snapshot
(`engine.shell.reach.snapshot_of`: profile, counters, subscription presence), so reach
and a scheduled run's segment check parse a small blob instead of the whole state. A
file from before snapshots gets the column and every state's snapshot when it is first
opened, and a file whose snapshots are of an older format gets them rewritten
(`Store._ensure_snapshots`); a row without one (NULL) is read from its state.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import orjson

from engine.shell.reach import SNAPSHOT_FORMAT, encode_snapshot

log = logging.getLogger("pushcast.store")

DB_NAME = "pushcast.db"
DEDUPE_HORIZON_MS = 7 * 24 * 3600 * 1000
WRITER_CACHE_KIB = 64 * 1024  # the writer connection's page cache (SQLite's default: 2 MB)
WAL_CHECKPOINT_PAGES = 10_000  # ~40 MB of WAL between checkpoints (SQLite's default: 1,000)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    user TEXT PRIMARY KEY,
    state BLOB NOT NULL,
    next_due INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS users_next_due ON users(next_due) WHERE next_due IS NOT NULL;
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    user TEXT NOT NULL,
    campaign TEXT NOT NULL,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    payload BLOB NOT NULL,
    ttl INTEGER NOT NULL,
    urgency TEXT NOT NULL,
    test INTEGER NOT NULL,
    created INTEGER NOT NULL,
    done INTEGER,
    outcome TEXT,
    UNIQUE (message_id, endpoint)
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(seq) WHERE done IS NULL;
CREATE INDEX IF NOT EXISTS outbox_done ON outbox(done) WHERE done IS NOT NULL;
CREATE TABLE IF NOT EXISTS stats (
    campaign TEXT NOT NULL,
    metric TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (campaign, metric)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reports (
    message_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (message_id, kind)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
"""
_ENQUEUE = ("INSERT OR IGNORE INTO outbox(message_id, endpoint, user, campaign, p256dh, auth, payload, ttl, urgency,"
            " test, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
# The snapshots' format (`SNAPSHOT_FORMAT`), once every stored state has its snapshot in
# it (a new file, or an older one migrated).
SNAPSHOTS_META = "store:snapshots"
# What reach reads of a user: the snapshot, or the state where a row has none.
SNAPSHOT_OR_STATE = "coalesce(snap, state)"
_MIGRATE_CHUNK = 5000


@dataclass(frozen=True)
class OutboxRow:
    seq: int
    message_id: str
    endpoint: str
    user: str
    campaign: str
    p256dh: str
    auth: str
    payload: bytes
    ttl: int
    urgency: str
    test: bool
    created: int


class Store:
    """The SQLite file, through two connections: `db` for the runtime's single writer
    (its transactions, and the reads that must see them), `reader` for everyone else,
    who see committed data only. Both are used from the event loop's thread, except the
    writer's COMMIT, which the runtime runs in a thread of its own while it waits."""

    def __init__(self, path: Path | str, synchronous: str = "FULL"):
        self.path = Path(path)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed batch survives power loss too, not only a killed process.
        self.db.execute(f"PRAGMA synchronous={synchronous}")
        self.db.execute("PRAGMA busy_timeout=5000")
        # Each state written dirties a page of its own (users are random): a page cache
        # holding the hot part of the file spares re-reading it, and a longer WAL
        # between checkpoints writes a page changed by many batches to the file once.
        self.db.execute(f"PRAGMA cache_size={-WRITER_CACHE_KIB}")
        self.db.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        self.db.executescript(_SCHEMA)
        self._ensure_snapshots()
        self.reader = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.reader.execute("PRAGMA busy_timeout=5000")

    def _ensure_snapshots(self) -> None:
        """Give every stored state its snapshot in the current format, once: a file
        written before snapshots existed gets the column (last in `users`, so no table
        rebuild), and one with snapshots of an older format gets them rewritten, in one
        transaction when first opened; a new file only gets the column."""
        current = "SELECT 1 FROM meta WHERE key = ? AND value = ?"
        if self.db.execute(current, (SNAPSHOTS_META, SNAPSHOT_FORMAT)).fetchone():
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            if not self.db.execute(current, (SNAPSHOTS_META, SNAPSHOT_FORMAT)).fetchone():  # nobody did it meanwhile
                older = self.db.execute("SELECT value FROM meta WHERE key = ?", (SNAPSHOTS_META,)).fetchone()
                if "snap" not in {row[1] for row in self.db.execute("PRAGMA table_info(users)")}:
                    self.db.execute("ALTER TABLE users ADD COLUMN snap BLOB")
                started, after, filled = time.perf_counter(), "", 0
                while True:
                    rows = self.db.execute("SELECT user, state FROM users WHERE user > ? ORDER BY user LIMIT ?",
                                           (after, _MIGRATE_CHUNK)).fetchall()
                    if not rows:
                        break
                    after = rows[-1][0]
                    filled += len(rows)
                    self.db.executemany("UPDATE users SET snap = ? WHERE user = ?",
                                        [(encode_snapshot(orjson.loads(state)), user) for user, state in rows])
                Batch(self.db).set_meta(SNAPSHOTS_META, SNAPSHOT_FORMAT)
                if filled:
                    was = f" (format {older[0]} before)" if older else ""
                    log.info("%s: added the reach snapshots of %d stored user state(s) in %.1f s%s (once)",
                             self.path, filled, time.perf_counter() - started, was)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    @classmethod
    def open_dir(cls, state_dir: Path | str, **kwargs) -> "Store":
        state_dir = Path(state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        return cls(state_dir / DB_NAME, **kwargs)

    def close(self) -> None:
        self.reader.close()
        self.db.close()

    def begin(self) -> "Batch":
        """Open the writer's transaction; finish it with `commit()` or `rollback()`."""
        self.db.execute("BEGIN IMMEDIATE")
        return Batch(self.db)

    def commit(self) -> None:
        self.db.execute("COMMIT")

    def rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    @contextmanager
    def batch(self) -> Iterator["Batch"]:
        """One transaction: committed when the block ends, rolled back on an exception."""
        batch = self.begin()
        try:
            yield batch
        except BaseException:
            self.rollback()
            raise
        self.commit()

    # --- the writer's reads (inside its transaction) -----------------------------------

    def load_states(self, users: list[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for start in range(0, len(users), 500):
            chunk = users[start:start + 500]
            marks = ",".join("?" * len(chunk))
            out.update(self.db.execute(f"SELECT user, state FROM users WHERE user IN ({marks})", chunk))
        return out

    def message(self, message_id: str) -> tuple[str, str, bool, str | None] | None:
        """(campaign, user, test, variant) of a message still remembered in the outbox."""
        row = self.db.execute("SELECT campaign, user, test, payload FROM outbox WHERE message_id = ? LIMIT 1",
                              (message_id,)).fetchone()
        if not row:
            return None
        return row[0], row[1], bool(row[2]), payload_variant(row[3])

    # --- committed reads -----------------------------------------------------------------

    def load_state(self, user: str) -> bytes | None:
        row = self.reader.execute("SELECT state FROM users WHERE user = ?", (user,)).fetchone()
        return row[0] if row else None

    def timers(self) -> Iterator[tuple[int, str]]:
        yield from self.reader.execute("SELECT next_due, user FROM users WHERE next_due IS NOT NULL")

    def pending(self, limit: int, after_seq: int = 0) -> list[OutboxRow]:
        rows = self.reader.execute(
            "SELECT seq, message_id, endpoint, user, campaign, p256dh, auth, payload, ttl, urgency, test, created"
            " FROM outbox WHERE done IS NULL AND seq > ? ORDER BY seq LIMIT ?", (after_seq, limit))
        return [OutboxRow(*row[:10], bool(row[10]), row[11]) for row in rows]

    def pending_count(self) -> int:
        return self.reader.execute("SELECT count(*) FROM outbox WHERE done IS NULL").fetchone()[0]

    def stats(self, campaign: str | None = None) -> dict[str, dict[str, float]]:
        """{campaign: {metric: value}}."""
        if campaign is None:
            rows = self.reader.execute("SELECT campaign, metric, value FROM stats")
        else:
            rows = self.reader.execute("SELECT campaign, metric, value FROM stats WHERE campaign = ?", (campaign,))
        out: dict[str, dict[str, float]] = {}
        for name, metric, value in rows:
            out.setdefault(name, {})[metric] = value
        return out

    def metas(self, prefix: str) -> list[tuple[str, str]]:
        """Every (key, value) of the settings whose key starts with `prefix`."""
        rows = self.reader.execute("SELECT key, value FROM meta WHERE substr(key, 1, ?) = ?", (len(prefix), prefix))
        return list(rows)

    def get_meta(self, key: str) -> str | None:
        row = self.reader.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def prune(self, now: int) -> int:
        """Forget sent outbox rows and reports past the de-duplication horizon (its own
        transaction: not while the runtime's writer runs; it uses `Batch.prune`)."""
        with self.batch() as batch:
            return batch.prune(now)


class Batch:
    """The writes of one transaction. Counters are summed in memory and written once."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db
        self.counts: dict[tuple[str, str], float] = {}

    def count(self, campaign: str, metric: str, amount: float = 1) -> None:
        key = (campaign, metric)
        self.counts[key] = self.counts.get(key, 0) + amount

    def enqueue(self, message_id: str, endpoint: str, user: str, campaign: str, p256dh: str, auth: str,
                payload: bytes, ttl: int, urgency: str, test: bool, created: int) -> bool:
        """Queue one send; False when this (message, endpoint) was queued before."""
        cursor = self.db.execute(_ENQUEUE, (message_id, endpoint, user, campaign, p256dh, auth, payload, ttl, urgency,
                                            int(test), created))
        return cursor.rowcount == 1

    def enqueue_many(self, rows: list[tuple]) -> list[bool]:
        """Queue sends (the arguments of `enqueue`, `test` as 0/1) in one statement; for
        each, whether it is new: a (message, endpoint) queued before, or earlier in
        `rows`, is not. A row the table refuses fails alone (logged), as with `enqueue`."""
        last = self.db.execute("SELECT max(seq) FROM outbox").fetchone()[0] or 0
        self.db.execute("SAVEPOINT sends")
        try:
            inserted = self.db.executemany(_ENQUEUE, rows).rowcount
        except sqlite3.Error:
            self.db.execute("ROLLBACK TO sends")
            self.db.execute("RELEASE sends")
            return [self._enqueue_alone(row) for row in rows]
        self.db.execute("RELEASE sends")
        if inserted == len(rows):
            return [True] * len(rows)
        # Some were there already: the new ones are those numbered after `last`.
        new = set(self.db.execute("SELECT message_id, endpoint FROM outbox WHERE seq > ?", (last,)))
        out = []
        for row in rows:
            key = (row[0], row[1])
            out.append(key in new)
            new.discard(key)  # the same pair again in `rows` was ignored
        return out

    def _enqueue_alone(self, row: tuple) -> bool:
        try:
            return self.db.execute(_ENQUEUE, row).rowcount == 1
        except sqlite3.Error:
            log.exception("message %s to %s cannot be queued", row[0], row[1])
            return False

    def complete(self, seq: int, outcome: str, at: int) -> bool:
        """Mark a send done; False when it already was (a result seen twice)."""
        cursor = self.db.execute("UPDATE outbox SET done = ?, outcome = ? WHERE seq = ? AND done IS NULL", (at, outcome, seq))
        return cursor.rowcount == 1

    def report(self, message_id: str, kind: str, at: int) -> bool:
        """Record a shown/clicked report; False when this message already had one."""
        cursor = self.db.execute("INSERT OR IGNORE INTO reports(message_id, kind, at) VALUES (?, ?, ?)", (message_id, kind, at))
        return cursor.rowcount == 1

    def save_states(self, rows: list[tuple[str, bytes, int | None, bytes]]) -> None:
        """Save (user, state, next due, reach snapshot) rows (`engine.shell.reach.stored_forms`)."""
        self.db.executemany(
            "INSERT INTO users(user, state, next_due, snap) VALUES (?, ?, ?, ?) ON CONFLICT(user) DO UPDATE"
            " SET state = excluded.state, next_due = excluded.next_due, snap = excluded.snap", rows)

    def update_states(self, rows: list[tuple[bytes, bytes, str]]) -> None:
        """(state, reach snapshot, user) of stored users whose next due time is unchanged:
        the row's state and snapshot alone, so the `next_due` index is not touched."""
        self.db.executemany("UPDATE users SET state = ?, snap = ? WHERE user = ?", rows)

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        (key, value))

    def prune(self, now: int) -> int:
        cutoff = now - DEDUPE_HORIZON_MS
        removed = self.db.execute("DELETE FROM outbox WHERE done IS NOT NULL AND done < ?", (cutoff,)).rowcount
        self.db.execute("DELETE FROM reports WHERE at < ?", (cutoff,))
        return removed

    def flush_counts(self) -> None:
        if self.counts:
            self.db.executemany(
                "INSERT INTO stats(campaign, metric, value) VALUES (?, ?, ?) ON CONFLICT(campaign, metric)"
                " DO UPDATE SET value = value + excluded.value",
                [(campaign, metric, amount) for (campaign, metric), amount in self.counts.items()])


def payload_variant(payload: bytes) -> str | None:
    """The A/B variant a queued message was sent as (its payload says, signed)."""
    if b'"variant"' not in payload:  # most messages: no decode
        return None
    variant = orjson.loads(payload).get("variant")
    return variant if isinstance(variant, str) else None
