"""Kafka runtime: campaign stats (`request_stats`, what `pushcast stats --kafka` and the
worker API ask) over N stored users and C campaigns, one worker.

1. Load: N stored user states and, for each of the P partitions and C campaigns, the
   running totals a worker would have counted (stats.py's table keys), written straight
   into the table's changelog as bench_kafka_schedule.py does. One `pushcast worker`
   (RocksDB store, dry-run sender) starts on an empty data dir and recovers them.
2. Live counts: E events, each triggering one of the C campaigns (no delay) for a
   stored user, are produced and applied (qualified, sent; the dry sends reported back
   as delivered), until the group is idle.
3. Stats: `request_stats` for every campaign, repeated; each answer must equal the
   loaded totals plus what the live events moved, campaign by campaign. The answer
   reads the partitions' running totals, never the users, so its time should not grow
   with N. Then the same while the worker applies another E events.

    .venv/bin/python bench/bench_kafka_stats.py [--users 1000000] [--campaigns 100]
        [--events 20000] [--repeat 5]

Needs `scripts/services start` (Kafka, Redis).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_kafka import services  # noqa: E402
from bench_kafka_schedule import _load_changelog, partition_of, wait_ready  # noqa: E402

from engine.agents.records import StoredState  # noqa: E402
from engine.agents.stats import index_key, request_stats, totals_key  # noqa: E402
from engine.core import UserState  # noqa: E402
from tests.fixtures.kafka_runtime import KafkaRuntimeHarness, _run, make_config  # noqa: E402

NOW = 1_795_600_800_000  # 2026-11-25T10:00:00Z
KEYS = ["BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
        "BTBZMqHH6r4Tts7J_aSIgg"]


def campaign_file(k: int) -> str:
    return f"campaign: c{k:03d}\nwho: {{on: Ping {k}}}\nwhat: {{title: \"Ping {k}\"}}\n"


def loaded_totals(partition: int, k: int) -> dict[str, float]:
    """What the bench pretends partition `partition` counted for campaign `k` before."""
    base = 1000 + 37 * partition + k
    return {"qualified": base, "sent": base - 10, "delivered": base - 20, "failed": 10, "shown": base // 2,
            "clicked": base // 5, "suppressed.limit": 10, "conversions.click": base // 20,
            "conversions.view": base // 30, "revenue": 12.5 * (base // 20), "test.sent": 2}


def changelog_records(n: int, campaigns: int, partitions: int) -> list[tuple[bytes, bytes, int]]:
    """(key, value, partition): every user's stored state, then every partition's totals."""
    out = []
    for i in range(n):
        user = f"user-{i:07d}"
        key = user.encode()
        partition = partition_of(key, partitions)
        state = UserState(user, profile={"name": f"N{i}"},
                          subscriptions={f"https://fcm.googleapis.com/fcm/send/{user}": KEYS})
        out.append((key, StoredState(state, partition, -1).dumps(), partition))
    names = [f"c{k:03d}" for k in range(campaigns)]
    for partition in range(partitions):
        out.append((index_key(partition), orjson.dumps(names), partition))
        for k, name in enumerate(names):
            value = {"through": -1, "stats": loaded_totals(partition, k)}
            out.append((totals_key(partition, name), orjson.dumps(value), partition))
    return out


def expected_totals(campaigns: int, partitions: int, live: dict[str, int]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for k in range(campaigns):
        name = f"c{k:03d}"
        row: dict[str, float] = {}
        for partition in range(partitions):
            for stat, amount in loaded_totals(partition, k).items():
                row[stat] = row.get(stat, 0) + amount
        for stat in ("qualified", "sent", "delivered"):
            row[stat] += live.get(name, 0)
        out[name] = row
    return out


def live_events(n: int, campaigns: int, count: int, start: int) -> tuple[list[dict], dict[str, int]]:
    events, moved = [], {}
    for j in range(start, start + count):
        k = j % campaigns
        events.append({"user": f"user-{(j * 7919) % n:07d}", "event": f"Ping {k}", "ts": NOW + j})
        moved[f"c{k:03d}"] = moved.get(f"c{k:03d}", 0) + 1
    return events, moved


def ask(harness: KafkaRuntimeHarness, timeout: float) -> tuple[float, dict]:
    started = time.perf_counter()
    found = _run(request_stats(harness.bootstrap, harness.events_topic, harness.prefix + "reach-replies",
                               timeout=timeout), timeout=timeout + 10)
    return time.perf_counter() - started, found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--campaigns", type=int, default=100)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--events", type=int, default=20_000, help="live events (each phase)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds for each phase")
    args = parser.parse_args()
    n, c, p = args.users, args.campaigns, args.partitions
    bootstrap, redis = services()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {n:,} users, {c} campaigns, {p} partitions")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "campaigns").mkdir()
        for k in range(c):
            (tmp / "campaigns" / f"c{k:03d}.yaml").write_text(campaign_file(k))
        config = make_config(tmp, None)
        harness = KafkaRuntimeHarness(bootstrap, redis, tmp, [tmp / "campaigns"], config, partitions=p,
                                      sends_partitions=p)
        changelog = f"{harness.app_id}-users-changelog"
        try:
            harness.create_topics()
            started = time.perf_counter()
            records = changelog_records(n, c, p)
            _run(_load_changelog(bootstrap, changelog, p, records), timeout=args.timeout)
            del records
            print(f"changelog: {n:,} states and {c * p} running totals loaded in {time.perf_counter() - started:.1f} s")
            harness.set_clock(NOW)
            started = time.perf_counter()
            worker = harness.start_worker("bench", dry_run=True, store="rocksdb", session_timeout=60, commit_interval=1.0)
            print(f"recovery: {wait_ready(worker, harness, args.timeout) - started:.1f} s")

            events, live = live_events(n, c, args.events, 0)
            started = time.perf_counter()
            harness.produce(events)
            harness.wait_idle(timeout=args.timeout, settle=2.0)
            print(f"{len(events):,} live events applied, sends reported, idle in {time.perf_counter() - started:.1f} s")

            expected = expected_totals(c, p, live)
            times = []
            for _ in range(args.repeat):
                seconds, found = ask(harness, args.timeout)
                times.append(seconds)
                assert found == expected, "the stats over Kafka differ from the loaded totals plus the live counts"
            print(f"stats over Kafka (idle worker) x{len(times)}: min {min(times):.3f} s, median "
                  f"{statistics.median(times):.3f} s, max {max(times):.3f} s (target under 1 s); {c} campaigns = "
                  f"the loaded totals + the live counts")

            more, _ = live_events(n, c, args.events, args.events)
            harness.produce(more)
            busy = [ask(harness, args.timeout)[0] for _ in range(args.repeat)]
            print(f"stats over Kafka while {len(more):,} more events are applied x{len(busy)}: min {min(busy):.3f} s, "
                  f"median {statistics.median(busy):.3f} s, max {max(busy):.3f} s")
            harness.wait_idle(timeout=args.timeout, settle=2.0)
        finally:
            harness.stop()
            try:
                harness.delete_topics()
            except Exception as exc:
                print(f"could not delete the topics of {harness.prefix}: {exc!r}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
