"""What bench_kafka_schedule.py measures in its own process, no Kafka: the worker's reach
count from RocksDB (as it was and as it is), and the scheduled run's ceilings (the core
alone, `UserProcessor` over run records, the worker's in-place steps over RocksDB).
Bench code only. Run alone, the reach count only (no Kafka, no worker):

    .venv/bin/python bench/kafka_schedule_ceilings.py [--users 200000] [--repeat 3]
"""

from __future__ import annotations

import tempfile
import time

import engine.agents.reach as agents_reach
from bench_schedule import NOW, SLOT, run_baseline, run_segment_first
from engine.agents import faust_private
from engine.agents.reach import ReachRequest
from engine.agents.records import StoredState, encode_run
from engine.agents.table import user_values
from engine.agents.users import Record, UserProcessor
from engine.core import CampaignSet, UserState
from engine.shell.metrics import worker_metrics


def user_of(i: int) -> str:
    return f"user-{i:07d}"  # bench_schedule.generate's ids


def reach_cpu(records: list[tuple[bytes, bytes, int]], campaigns: CampaignSet, partitions: int,
              repeat: int = 3) -> None:
    """The worker's reach count in this process, no Kafka, from RocksDB databases as Faust
    opens them (one a partition, with its internal and changelog-position keys): as it
    was (`reach_before`: every (key, value) read with the key tests of `table.scan_users`,
    then split by partition) and as it is (`table.user_values`, `reach.answer_partition`),
    alternated, one request a partition; CPU per user and the same answers."""
    from pathlib import Path

    from faust.stores.rocksdb import RocksDBOptions, Store as RocksDBStore
    from rocksdict import WriteBatch

    from engine.agents.table import APPLIED_PREFIX, STATS_PREFIX

    class Store(RocksDBStore):  # Faust's RocksDB store over these databases, not started
        use_rocksdict = True

        def __init__(self, dbs):
            self._dbs = dbs

    class Table:
        def __init__(self, store):
            self.data = store

    requests = [ReachRequest("bench", "xmas", NOW, p) for p in range(partitions)]
    n = len(records)
    with tempfile.TemporaryDirectory() as tmp:
        dbs = {p: RocksDBOptions().open(Path(tmp) / str(p)) for p in range(partitions)}
        try:
            batches = {p: WriteBatch(raw_mode=True) for p in range(partitions)}
            for key, value, partition in records:
                batches[partition].put(key, value)
            for p, batch in batches.items():
                batch.put(APPLIED_PREFIX + b"%d" % p, b"12345")
                batch.put(STATS_PREFIX + b"%d/xmas" % p, b'{"sent":1}')
                batch.put(RocksDBStore.offset_key, b"67890")
                dbs[p].write(batch)
                dbs[p].flush()
            table = Table(Store(dbs))
            ways = {"as it was": lambda: reach_before(table, requests, campaigns),
                    "as it is": lambda: [agents_reach.answer_partition(r, user_values(table, r.partition), campaigns)
                                         for r in requests]}
            cpu: dict[str, list[float]] = {label: [] for label in ways}
            counts = set()
            for _ in range(repeat):
                for label, way in ways.items():
                    started = time.process_time()
                    replies = way()
                    cpu[label].append(time.process_time() - started)
                    counts.add(tuple(sum(r[name] for r in replies) for name in ("users", "qualified", "reachable")))
        finally:
            for db in dbs.values():
                db.close()
    assert len(counts) == 1, f"different answers: {counts}"
    print("reach in this process from RocksDB, no Kafka, CPU per user: " + "; ".join(
        f"{label} {min(times) / n * 1e6:.2f}-{max(times) / n * 1e6:.2f} µs" for label, times in cpu.items())
        + f" (best x{min(cpu['as it is']) / min(cpu['as it was']):.2f}); {counts.pop()}")


def reach_before(table, requests: list[ReachRequest], campaigns: CampaignSet) -> list[dict]:
    """The worker's reach count as it was (2a03678): `table.scan_users` (every key and
    value, key tests, a user name each) and `reach.answer` splitting the values by
    partition, then the segment's needles over the bodies. Bench code only."""
    from engine.agents.table import INTERNAL_KEY
    from engine.shell.reach import count_reach_raw, having_needles, needles_of

    stored = []
    skip = table.data.offset_key
    for db in faust_private.partition_dbs(table.data, {r.partition for r in requests}):
        for key, value in db.items():
            if value is not None and key != skip and not key.startswith(INTERNAL_KEY):
                stored.append((key.decode(), value))
    bodies: dict[int, list[bytes]] = {r.partition: [] for r in requests}
    by_head = {b"%d" % p: found for p, found in bodies.items()}
    for _key, value in stored:
        head, _, body = value.partition(b"\n")
        found = by_head.get(head[:head.index(b" ")])
        if found is not None:
            found.append(body)
    replies = []
    for request in requests:
        compiled = campaigns.get(request.campaign)
        states = bodies[request.partition]
        found = count_reach_raw(having_needles(states, needles_of(compiled.campaign.segment)), compiled,
                                request.at, campaigns, users=len(states))
        replies.append({name: getattr(found, name) for name in ("users", "qualified", "reachable")})
    return replies


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


if __name__ == "__main__":
    import argparse
    from pathlib import Path

    from bench_kafka_schedule import TEST_USER, stored_records
    from bench_schedule import CAMPAIGN, generate
    from engine.rules.config import load_config
    from engine.rules.loader import parse_campaign
    from tests.fixtures.kafka_runtime import make_config

    parser = argparse.ArgumentParser(description="the Kafka worker's reach count in this process, no Kafka")
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:  # bench_kafka_schedule's campaign and config
        config = make_config(Path(folder), None, extra_test_users=[TEST_USER], limits=[{"max": 3, "per": "1d"}])
        bench = CampaignSet([parse_campaign(CAMPAIGN)], load_config(config))
        reach_cpu(stored_records(generate(args.users, bench), args.partitions), bench, args.partitions, args.repeat)
