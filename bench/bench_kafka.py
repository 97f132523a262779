"""Kafka runtime: events/s per worker through Kafka, against the same code without Kafka;
trigger-to-send latency of a live campaign; wait lateness.

1. Ceiling: the user agent's batch logic (`UserProcessor`, the core behind it, state
   encoded as stored) over the pre-generated stream, no Kafka.
2. Through Kafka: the stream is produced first, then one `pushcast worker` (RocksDB store,
   dry-run sender) starts; measured from the group being ready to every record committed
   (state in the changelog, offsets committed).
3. Latency: a live campaign (no delay) under a steady event rate on the system clock:
   from the event's time to the sender's report (`$notification_sent` ts), and waits due
   at known times: from the due time to the wake-up record's Kafka timestamp.

    .venv/bin/python bench/bench_kafka.py [--users 100000] [--events 1000000]

Needs `scripts/services start` (Kafka, Redis).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.shell.metrics import worker_metrics  # noqa: E402
from engine.agents.users import Record, UserProcessor  # noqa: E402
from engine.core import CampaignSet  # noqa: E402
from engine.rules.config import load_config  # noqa: E402
from engine.rules.loader import load_campaigns  # noqa: E402
from tests.fixtures.kafka_runtime import KafkaRuntimeHarness, _run, make_config  # noqa: E402

T0 = 1_795_600_800_000
SUB_KEYS = {"p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
            "auth": "BTBZMqHH6r4Tts7J_aSIgg"}
COMMIT_INTERVAL = 1.0  # the worker's default
STORE = "memory"  # the worker default; --store rocksdb measured 3,224 events/s on 200k
EVENTS = ["Product Viewed", "Added To Cart", "Charged", "Session Started", "Searched", "Wishlist Price Dropped"]
WEIGHTS = [34, 8, 3, 20, 30, 2]


def services() -> tuple[str, str]:
    out = subprocess.run([str(ROOT / "scripts" / "services"), "env"], capture_output=True, text=True, check=True)
    env = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    return env["PUSHCAST_KAFKA"], env["PUSHCAST_REDIS"]


def stream(users: int, events: int, seed: int = 7) -> list[tuple[bytes, bytes]]:
    rng = random.Random(seed)
    out = []
    for u in range(users):  # every user subscribes first
        user = f"u{u}"
        out.append((user.encode(), orjson.dumps({"user": user, "event": "$push_subscribe", "ts": T0,
                                                 "props": {"endpoint": f"https://fcm.googleapis.com/fcm/send/{u}",
                                                           "keys": SUB_KEYS}})))
    ts = T0
    for _ in range(events - users):
        ts += rng.randint(0, 40)
        user = f"u{rng.randrange(users)}"
        name = rng.choices(EVENTS, WEIGHTS)[0]
        props = {"product_id": f"p{rng.randrange(500)}", "product": "Shoes", "price": rng.randint(5, 200),
                 "cart_id": f"c{rng.randrange(3)}", "drop_percent": rng.randint(1, 40), "amount": 20}
        out.append((user.encode(), orjson.dumps({"user": user, "event": name, "ts": ts, "props": props})))
    return out


def ceiling(records: list[tuple[bytes, bytes]], campaigns: CampaignSet, batch: int = 500) -> float:
    table: dict[str, bytes] = {}
    processor = UserProcessor(lambda: campaigns, worker_metrics(), lambda: T0 + 86_400_000)
    wrapped = [Record(k, v, [], T0, 0, i) for i, (k, v) in enumerate(records)]
    start = time.perf_counter()
    for i in range(0, len(wrapped), batch):
        result = processor.process(wrapped[i:i + batch], lambda user, record: table.get(user))
        for user, (stored, _record) in result.states.items():
            table[user] = stored.dumps()
    return len(records) / (time.perf_counter() - start)


def through_kafka(records, campaign_files, config, bootstrap, redis, directory: Path, partitions: int) -> dict:
    directory.mkdir(parents=True)
    harness = KafkaRuntimeHarness(bootstrap, redis, directory, campaign_files, config, partitions=partitions,
                                  sends_partitions=partitions)
    harness.create_topics()
    started = time.perf_counter()
    for i in range(0, len(records), 100_000):
        harness.produce(records[i:i + 100_000])
    produced = time.perf_counter() - started
    harness.set_clock(T0)
    worker = harness.start_worker("bench", dry_run=True, store=STORE, session_timeout=30, commit_interval=COMMIT_INTERVAL)
    try:
        harness.wait_members(1, timeout=120)
        t0 = time.perf_counter()
        while harness.lag() > 0:
            harness.check_alive()
            time.sleep(0.2)
        elapsed = time.perf_counter() - t0
    finally:
        worker.stop()
    return {"produced_per_s": len(records) / produced, "events_per_s": len(records) / elapsed, "seconds": elapsed}


def latency(bootstrap, redis, directory: Path, rate: int, seconds: float, waits: int) -> dict:
    (directory / "campaigns").mkdir(parents=True)
    (directory / "campaigns" / "live.yaml").write_text(
        "campaign: live\nname: live\nwho:\n  on: {event: Signed Up}\nwhat:\n  title: Hi\n  ttl: 1h\n")
    (directory / "campaigns" / "later.yaml").write_text(
        "campaign: later\nname: later\nwho:\n  on: {event: Remind Me}\nwhen:\n  delay: 10s\nwhat:\n  title: Hi\n  ttl: 1h\n")
    config = make_config(directory, None)
    harness = KafkaRuntimeHarness(bootstrap, redis, directory, [directory / "campaigns"], config, partitions=4,
                                  controlled_clock=False)
    harness.create_topics()
    worker = harness.start_worker("latency", dry_run=True, store="rocksdb", commit_interval=COMMIT_INTERVAL)
    try:
        harness.wait_members(1, timeout=120)
        subs = [(f"v{u}".encode(), orjson.dumps({"user": f"v{u}", "event": "$push_subscribe",
                "props": {"endpoint": f"https://fcm.googleapis.com/fcm/send/v{u}", "keys": SUB_KEYS}}))
                for u in range(2000)]
        harness.produce(subs)
        now = int(time.time() * 1000)
        # Waits due in 10 s, spread over `seconds`: lateness is measured on real time.
        harness.produce([(f"v{u}".encode(), orjson.dumps({"user": f"v{u}", "event": "Remind Me",
                          "ts": now + int(u * seconds * 1000 / waits)})) for u in range(waits)])
        _run(_produce_live(harness, rate, seconds))
        time.sleep(12)
        harness.wait_idle(timeout=120)
    finally:
        worker.stop()
    sends, decided_at = {}, {}
    for r in harness.read(harness.sends_topic):
        value = orjson.loads(r.value)
        sends[value["id"]] = value
        decided_at[value["id"]] = r.timestamp
    trigger_to_send, lateness, decide, deliver, timed = [], [], [], [], []
    for r in harness.read(harness.events_topic):
        headers = dict(r.headers or ())
        value = orjson.loads(r.value)
        if headers.get("pushcast-internal") == b"wake":
            lateness.append(r.timestamp - value["at"])
        elif value.get("event") == "$notification_sent":
            notify = sends[value["props"]["message"]]
            if notify["campaign"] == "live":
                trigger_to_send.append(value["ts"] - notify["at"])
                timed.append((notify["at"], value["ts"] - notify["at"]))
                decide.append(decided_at[notify["id"]] - notify["at"])
                deliver.append(value["ts"] - decided_at[notify["id"]])
    first = min((at for at, _ in timed), default=0)
    steady = [ms for at, ms in timed if at >= first + 3000]  # after the first 3 s
    return {"trigger_to_send_ms": _percentiles(trigger_to_send), "wait_lateness_ms": _percentiles(lateness),
            "steady_trigger_to_send_ms": _percentiles(steady),
            "event_to_decision_ms": _percentiles(decide), "decision_to_report_ms": _percentiles(deliver),
            "live_sends": len(trigger_to_send), "wakes": len(lateness), "rate": rate}


async def _produce_live(harness, rate: int, seconds: float) -> None:
    """Live events at `rate`/s from one long-lived producer, each stamped as it is sent."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=harness.bootstrap, acks="all", linger_ms=0)
    await producer.start()
    try:
        start, sent = time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            u = random.randrange(2000)
            value = orjson.dumps({"user": f"v{u}", "event": "Signed Up", "ts": int(time.time() * 1000),
                                  "props": {"n": sent}})
            await producer.send(harness.events_topic, value=value, key=f"v{u}".encode())
            sent += 1
            await asyncio.sleep(max(0.0, start + sent / rate - time.perf_counter()))
        await producer.flush()
    finally:
        await producer.stop()


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {}
    values = sorted(values)
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]  # noqa: E731
    return {"p50": pick(0.5), "p99": pick(0.99), "max": values[-1], "mean": round(statistics.mean(values), 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--rate", type=int, default=500, help="live events/s for the latency run")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()
    bootstrap, redis = services()
    campaign_files = [ROOT / "campaigns.d"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config = make_config(tmp, ROOT / "pushcast.yaml")
        campaigns = CampaignSet(load_campaigns(campaign_files), load_config(config))
        if not args.skip_throughput:
            records = stream(args.users, args.events)
            print(f"stream: {len(records):,} events, {args.users:,} users")
            print(f"ceiling (UserProcessor, no Kafka): {ceiling(records, campaigns):,.0f} events/s")
            result = through_kafka(records, campaign_files, config, bootstrap, redis, tmp / "kafka", args.partitions)
            print(f"through Kafka, one worker: {result['events_per_s']:,.0f} events/s "
                  f"({result['seconds']:.1f}s; produced at {result['produced_per_s']:,.0f}/s)")
        if args.skip_latency:
            return
        result = latency(bootstrap, redis, tmp / "latency", args.rate, args.seconds, waits=2000)
        print(f"live trigger -> send (dry run) at {result['rate']} events/s, {result['live_sends']} sends: "
              f"{result['trigger_to_send_ms']} ms")
        print(f"  after the first 3 s: {result['steady_trigger_to_send_ms']} ms")
        print(f"  of which event -> Notify on the sends topic: {result['event_to_decision_ms']} ms, "
              f"Notify -> sent and reported: {result['decision_to_report_ms']} ms")
        print(f"wait lateness, {result['wakes']} wake-ups: {result['wait_lateness_ms']} ms")


if __name__ == "__main__":
    main()
