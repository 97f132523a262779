"""What bench_kafka_schedule.py measures in its own process, no Kafka: the worker's reach
count over the stored values (with and without the segment's byte needles), and the
scheduled run's ceilings (the core alone, `UserProcessor` over run records, the worker's
in-place steps over RocksDB). Bench code only."""

from __future__ import annotations

import tempfile
import time

import engine.agents.reach as agents_reach
from bench_schedule import NOW, SLOT, run_baseline, run_segment_first
from engine.agents.reach import ReachRequest
from engine.agents.records import StoredState, encode_run
from engine.agents.users import Record, UserProcessor
from engine.core import CampaignSet, UserState
from engine.shell.metrics import worker_metrics


def user_of(i: int) -> str:
    return f"user-{i:07d}"  # bench_schedule.generate's ids


def answer_cpu(records: list[tuple[bytes, bytes, int]], campaigns: CampaignSet, partitions: int,
               repeat: int = 3) -> None:
    """The worker's reach count over the stored values in this process (no Kafka, no
    RocksDB), with and without the segment's byte needles, alternated; CPU per user."""
    stored = [(key.decode(), value) for key, value, _ in records]
    requests = [ReachRequest("bench", "xmas", NOW, p) for p in range(partitions)]
    needles_of = agents_reach.needles_of
    cpu: dict[str, list[float]] = {"without needles (before)": [], "with needles": []}
    counts = set()
    try:
        for _ in range(repeat):
            for label, needles in (("without needles (before)", lambda segment: ()), ("with needles", needles_of)):
                agents_reach.needles_of = needles
                started = time.process_time()
                replies = agents_reach.answer(requests, stored, campaigns)
                cpu[label].append(time.process_time() - started)
                counts.add(tuple(sum(r[name] for r in replies) for name in ("users", "qualified", "reachable")))
    finally:
        agents_reach.needles_of = needles_of
    assert len(counts) == 1, f"different answers: {counts}"
    n = len(stored)
    print("reach.answer in this process, no Kafka, CPU per user: " + "; ".join(
        f"{label} {min(times) / n * 1e6:.2f}-{max(times) / n * 1e6:.2f} µs" for label, times in cpu.items())
        + f" (best x{min(cpu['with needles']) / min(cpu['without needles (before)']):.2f}); {counts.pop()}")


def ceilings(blobs: list[bytes], campaigns: CampaignSet, batch: int = 500, repeat: int = 3) -> dict:
    """Users/s of the scheduled run without Kafka: the core alone (bench_schedule), the
    user agent's batch logic over run records with a dict for the table, and its in-place
    steps over RocksDB (the core's segment-first scan and these: best of `repeat`)."""
    n = len(blobs)
    out = {}
    started = time.perf_counter()
    out["baseline_result"] = run_baseline(blobs, campaigns)
    out["baseline"] = n / (time.perf_counter() - started)

    table = {user_of(i): StoredState(UserState.loads(blob), 0, -1).dumps() for i, blob in enumerate(blobs)}
    processor = UserProcessor(lambda: campaigns, worker_metrics(), lambda: NOW)
    records = []
    for i in range(n):
        user = user_of(i)
        value, headers = encode_run(user, "xmas", SLOT, NOW)
        records.append(Record(user.encode(), value, headers, NOW, 0, i))
    sends = 0
    started = time.perf_counter()
    for i in range(0, n, batch):
        result = processor.process(records[i:i + batch], lambda user, record: table.get(user))
        sends += len(result.notifications)
        for user, (stored, _record) in result.states.items():
            table[user] = stored.dumps()
    out["processor"] = n / (time.perf_counter() - started)
    out["processor_sends"] = sends
    # The segment-first scan and the in-place steps, alternately, the best of each: on a
    # shared machine a burst of load otherwise lands on one of them only.
    # Also in CPU seconds of this process, which other processes' load barely moves.
    out["segment_first"] = out["in_place"] = out["segment_first_cpu"] = out["in_place_cpu"] = 0
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        out["segment_first_result"] = run_segment_first(blobs, campaigns)
        out["segment_first"] = max(out["segment_first"], n / (time.perf_counter() - started))
        out["segment_first_cpu"] = max(out["segment_first_cpu"], n / (time.process_time() - cpu))
        in_place, in_place_cpu, out["in_place_sends"] = in_place_ceiling(blobs, campaigns)
        out["in_place"] = max(out["in_place"], in_place)
        out["in_place_cpu"] = max(out["in_place_cpu"], in_place_cpu)
    return out


def in_place_ceiling(blobs: list[bytes], campaigns: CampaignSet) -> tuple[float, float, int]:
    """Users/s of the worker's in-place run without Kafka: its steps (partition_runs.py)
    over a RocksDB database holding the states, each step's run inputs applied by
    `UserProcessor` and its states written back; (users/s, users per CPU second, sends)."""
    from faust.stores.rocksdb import Store as RocksDBStore
    from rocksdict import Options, Rdict

    from engine.agents.partition_runs import STEP, expand_runs
    from engine.agents.records import encode_partition_run

    class Store(RocksDBStore):  # Faust's RocksDB store over one database, not started
        use_rocksdict = True

        def __init__(self, db):
            self._dbs = {0: db}

        def _db_for_partition(self, partition):
            return self._dbs[partition]

    class Table:
        def __init__(self, db):
            self.data = Store(db)

    with tempfile.TemporaryDirectory() as tmp:
        db = Rdict(tmp, Options(raw_mode=True))
        try:
            for i, blob in enumerate(blobs):
                db[user_of(i).encode()] = StoredState(UserState.loads(blob), 0, -1).dumps()
            table = Table(db)
            processor = UserProcessor(lambda: campaigns, worker_metrics(), lambda: NOW)
            value, headers = encode_partition_run("xmas", SLOT, NOW)
            pending, offset, sends = [Record(None, value, headers, NOW, 0, 0)], 0, 0
            started, cpu = time.perf_counter(), time.process_time()
            while pending:
                records, steps = expand_runs(table, campaigns, NOW, pending, STEP, ahead=1)  # one step a batch
                result = processor.process(records, lambda user, record: db.get(user.encode()))
                sends += len(result.notifications)
                for user, (stored, _record) in result.states.items():
                    db[user.encode()] = stored.dumps()
                for (_partition, key), entry in steps.entries.items():
                    if entry is not None:
                        db[key] = entry
                    elif key in db:
                        del db[key]
                offset += 1
                pending = [Record(None, v, h, NOW, 0, offset) for _p, v, h in steps.following]
            return len(blobs) / (time.perf_counter() - started), len(blobs) / (time.process_time() - cpu), sends
        finally:
            db.close()
