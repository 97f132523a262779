"""What writing user states costs SQLite, per state, in the ways the embedded writer can
write them: the upsert at SQLite's default page cache and checkpoint interval (the
baseline), the upsert with the store's settings (`WRITER_CACHE_KIB`,
`WAL_CHECKPOINT_PAGES`), and the state alone (`Batch.update_states`, for users whose
next due time did not change). Batches of random users, like the runtime's, each one
transaction committed with `synchronous=FULL`; CPU per state for the statement and for
the COMMIT, and each variant's ratio to the baseline measured in the same run.

`--layouts` measures instead the state alone (`UPDATE`) in other table layouts than the
store's (`WITHOUT ROWID`, 4 KB pages): a rowid table, and smaller pages (1 and 2 KB), to
see whether SQLite's cost per state follows the bytes written or the pages.

    .venv/bin/python bench/bench_store_writes.py [--users 50000] [--batch 580] [--batches 200] [--rounds 2]
        [--layouts]
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.local.store import WAL_CHECKPOINT_PAGES, WRITER_CACHE_KIB, Store  # noqa: E402
from engine.shell.reach import encode_snapshot  # noqa: E402

T0 = 1_800_000_000_000


def state(rng: random.Random, user: int, version: int) -> bytes:
    """~210 bytes, the bench_runtime mix's mean: a profile, a counter, decisions."""
    stamps = [T0 + k for k in range(rng.randrange(1, 12))]
    return orjson.dumps({"u": f"u{user}", "p": {"plan": "gold", "country": "DE", "v": version},
                         "c": {"a1": stamps}, "d": [[1, "x", 2, "c"]] * 2})


def with_snapshot(user: str, blob: bytes, next_due: int | None) -> tuple:
    """A row as the runtime writes it: with the state's reach snapshot."""
    return user, blob, next_due, encode_snapshot(orjson.loads(blob))


def due(user: int) -> int | None:
    return T0 + user if user % 5 == 0 else None  # a fifth of the users wait for something


def run(variant: str, args) -> tuple[float, float]:
    """(CPU µs per state in the statements, in the COMMITs)."""
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open_dir(tmp)  # synchronous=FULL, as `pushcast run`
        if variant == "upsert, SQLite defaults":
            store.db.execute("PRAGMA cache_size=-2000")
            store.db.execute("PRAGMA wal_autocheckpoint=1000")
        with store.batch() as batch:
            batch.save_states([with_snapshot(f"u{i}", state(rng, i, 0), due(i)) for i in range(args.users)])
        writes = commits = 0.0
        for n in range(args.batches):
            users = rng.sample(range(args.users), args.batch)
            rows = [with_snapshot(f"u{i}", state(rng, i, n + 1), due(i)) for i in users]
            batch = store.begin()
            started = time.process_time()
            if variant == "state alone (UPDATE)":
                batch.update_states([(blob, snap, user) for user, blob, _, snap in rows])
            else:
                batch.save_states(rows)
            middle = time.process_time()
            store.commit()
            writes += middle - started
            commits += time.process_time() - middle
        store.close()
    states = args.batches * args.batch
    return writes * 1e6 / states, commits * 1e6 / states


LAYOUTS = [("WITHOUT ROWID", 4096), ("rowid", 4096), ("rowid", 2048), ("rowid", 1024)]


def run_layout(layout: str, page_size: int, args) -> tuple[float, float, int]:
    """(CPU µs per state in the UPDATEs, in the COMMITs, file bytes) for one table layout,
    otherwise as the store: WAL, synchronous=FULL, its page cache and checkpoint interval
    (the same bytes of WAL between checkpoints)."""
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "layout.db")
        db = sqlite3.connect(path, isolation_level=None)
        db.execute(f"PRAGMA page_size={page_size}")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute(f"PRAGMA cache_size={-WRITER_CACHE_KIB}")
        db.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES * 4096 // page_size}")
        rowid = "" if layout == "rowid" else " WITHOUT ROWID"
        db.execute(f"CREATE TABLE users (user TEXT PRIMARY KEY, state BLOB NOT NULL, next_due INTEGER, snap BLOB){rowid}")
        db.execute("CREATE INDEX users_next_due ON users(next_due) WHERE next_due IS NOT NULL")
        db.execute("BEGIN")
        db.executemany("INSERT INTO users VALUES (?, ?, ?, ?)",
                       [with_snapshot(f"u{i}", state(rng, i, 0), due(i)) for i in range(args.users)])
        db.execute("COMMIT")
        writes = commits = 0.0
        for n in range(args.batches):
            rows = [with_snapshot(f"u{i}", state(rng, i, n + 1), due(i)) for i in rng.sample(range(args.users), args.batch)]
            db.execute("BEGIN IMMEDIATE")
            started = time.process_time()
            db.executemany("UPDATE users SET state = ?, snap = ? WHERE user = ?", [(b, s, u) for u, b, _, s in rows])
            middle = time.process_time()
            db.execute("COMMIT")
            writes += middle - started
            commits += time.process_time() - middle
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = os.path.getsize(path)
        db.close()
    states = args.batches * args.batch
    return writes * 1e6 / states, commits * 1e6 / states, size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=580)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each variant (alternated)")
    parser.add_argument("--layouts", action="store_true", help="the state alone in other table layouts and page sizes")
    args = parser.parse_args()
    if args.layouts:
        for _ in range(args.rounds):
            for layout, page_size in LAYOUTS:
                writes, commits, size = run_layout(layout, page_size, args)
                print(f"  {layout:<14} {page_size:>5}-byte pages: {writes:5.2f} µs + COMMIT {commits:5.2f} µs a state = "
                      f"{writes + commits:5.2f} µs ({size / 1e6:.1f} MB file)")
        return
    print(f"{args.users:,} users, {args.batches} batches of {args.batch} random users; the store's settings: "
          f"page cache {WRITER_CACHE_KIB // 1024} MB, checkpoint every {WAL_CHECKPOINT_PAGES:,} WAL pages")
    variants = ["upsert, SQLite defaults", "upsert, the store's settings", "state alone (UPDATE)"]
    for _ in range(args.rounds):
        baseline = None
        for variant in variants:
            writes, commits = run(variant, args)
            total = writes + commits
            baseline = baseline or total
            print(f"  {variant:<30} {writes:5.2f} µs + COMMIT {commits:5.2f} µs a state = {total:5.2f} µs "
                  f"(x{total / baseline:.2f} of the baseline)")


if __name__ == "__main__":
    main()
