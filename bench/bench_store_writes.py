"""What writing user states costs SQLite, per state, in the ways the embedded writer can
write them: the upsert at SQLite's default page cache and checkpoint interval (the
baseline), the upsert with the store's settings (`WRITER_CACHE_KIB`,
`WAL_CHECKPOINT_PAGES`), and the state alone (`Batch.update_states`, for users whose
next due time did not change). Batches of random users, like the runtime's, each one
transaction committed with `synchronous=FULL`; CPU per state for the statement and for
the COMMIT, and each variant's ratio to the baseline measured in the same run.

    .venv/bin/python bench/bench_store_writes.py [--users 50000] [--batch 580] [--batches 200] [--rounds 2]
"""

from __future__ import annotations

import argparse
import random
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=580)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each variant (alternated)")
    args = parser.parse_args()
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
