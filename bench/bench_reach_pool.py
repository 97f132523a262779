"""The Kafka worker's reach count in its thread against its reach processes, no Kafka.

N stored states (bench_schedule.py's, its campaign) are written into one RocksDB
database per partition as Faust opens them (`RocksDBOptions().open`; left in the
memtable and write-ahead log, as after a worker's recovery, unless `--flush`), with the
internal keys a partition holds. One reach question a partition is then answered by
`reach.answer_table` as the worker does: in this process's thread (`--reach-processes
0`), and by a `ReachPool` of 1 and of 2 processes, each reading the databases as a
secondary instance. The ways are alternated, `--rounds` times; each pool's first
answer (its processes spawned, the databases opened and their logs replayed) is timed
apart. This process sets the worker's collector thresholds, as `pushcast worker` does
(the pools' processes set them too). Printed per way: wall seconds, CPU seconds (this process, plus its pool's
processes read from /proc), and the wall against the thread's of the same round.

    .venv/bin/python bench/bench_reach_pool.py [--users 200000] [--partitions 8] [--rounds 3] [--flush]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_kafka_schedule import stored_records  # noqa: E402
from bench_schedule import CAMPAIGN, NOW, generate  # noqa: E402
from worker_process import cpu_seconds, tree_seconds  # noqa: E402

from engine.agents.reach import ReachRequest, answer_table  # noqa: E402
from engine.agents.reach_pool import ReachPool  # noqa: E402
from engine.agents.table import APPLIED_PREFIX, scan_users, user_db, user_values  # noqa: E402
from engine.core.campaigns import CampaignSet  # noqa: E402
from engine.rules.loader import parse_campaign  # noqa: E402
from engine.shell.collector import tune_collector  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--flush", action="store_true", help="flush each database to table files first")
    args = parser.parse_args()
    tune_collector()  # as `pushcast worker` does: its thread's count runs at these thresholds

    from faust.stores.rocksdb import RocksDBOptions, Store as RocksDBStore
    from rocksdict import WriteBatch

    class Store(RocksDBStore):  # Faust's RocksDB store over these databases, not started
        use_rocksdict = True

        def __init__(self, root: Path, dbs):
            self.root, self._dbs = root, dbs

        def partition_path(self, partition: int) -> Path:
            return self.root / str(partition)

    class Table:
        def __init__(self, store):
            self.data = store

    campaigns = CampaignSet([parse_campaign(CAMPAIGN)])
    records = stored_records(generate(args.users, campaigns), args.partitions)
    requests = [ReachRequest("bench", "xmas", NOW, p) for p in range(args.partitions)]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; "
          f"{args.users:,} users, {args.partitions} partitions, {'flushed' if args.flush else 'in the memtable'}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dbs = {p: RocksDBOptions().open(root / str(p)) for p in range(args.partitions)}
        pools = {1: ReachPool(1), 2: ReachPool(2)}
        try:
            batches = {p: WriteBatch(raw_mode=True) for p in range(args.partitions)}
            for key, value, partition in records:
                batches[partition].put(key, value)
            for p, batch in batches.items():
                batch.put(APPLIED_PREFIX + b"%d" % p, b"12345")
                batch.put(RocksDBStore.offset_key, b"67890")
                dbs[p].write(batch)
                if args.flush:
                    dbs[p].flush()
            table = Table(Store(root, dbs))

            def ask(pool):
                return asyncio.run(answer_table(requests, lambda p: user_values(table, p),
                                                lambda p: scan_users(table, {p}), campaigns, pool,
                                                lambda p: user_db(table, p)))

            def timed(pool):
                own, children = process_cpu()
                started = time.perf_counter()
                replies = ask(pool)
                wall = time.perf_counter() - started
                own_after, children_after = process_cpu()
                counts = tuple(sum(r[name] for r in replies) for name in ("users", "qualified", "reachable"))
                return wall, own_after - own + children_after - children, counts

            for size, pool in pools.items():
                wall, cpu, _ = timed(pool)
                print(f"  {size} process(es), first answer (spawned, databases opened, logs replayed): "
                      f"{wall:.2f} s wall, {cpu:.2f} CPU s")
            ways = {"thread": None, "1 process": pools[1], "2 processes": pools[2]}
            walls: dict[str, list[float]] = {label: [] for label in ways}
            cpus: dict[str, list[float]] = {label: [] for label in ways}
            answers = set()
            for round_ in range(args.rounds):
                line = []
                for label, pool in ways.items():
                    wall, cpu, counts = timed(pool)
                    walls[label].append(wall)
                    cpus[label].append(cpu)
                    answers.add(counts)
                    line.append(f"{label} {wall:.2f} s ({cpu:.2f} CPU s, x{wall / walls['thread'][-1]:.2f})")
                print(f"  round {round_ + 1}, load {os.getloadavg()[0]:.1f}: " + "; ".join(line))
            assert len(answers) == 1, f"different answers: {answers}"
            n = args.users
            print(f"same answers {answers.pop()}; median wall / CPU µs a user: " + "; ".join(
                f"{label} {statistics.median(walls[label]) / n * 1e6:.2f} / "
                f"{statistics.median(cpus[label]) / n * 1e6:.2f}"
                f" (wall x{statistics.median(walls[label]) / statistics.median(walls['thread']):.2f})"
                for label in ways))
        finally:
            for pool in pools.values():
                pool.close()
            for db in dbs.values():
                db.close()
    return 0


def process_cpu() -> tuple[float, float]:
    """(this process's CPU seconds, its running children's: the pools' processes)."""
    return tree_seconds(os.getpid(), cpu_seconds)


if __name__ == "__main__":
    sys.exit(main())
