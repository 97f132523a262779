"""Kafka runtime: events/s per worker through Kafka, against the same code without Kafka;
trigger-to-send latency of a live campaign; wait lateness.

1. Ceiling: the user agent's batch logic (`UserProcessor`, the core behind it, state
   encoded as stored) over the pre-generated stream, no Kafka.
2. Through Kafka: the stream is produced first, then one `pushcast worker` (the store the
   worker uses by default, `WorkerSettings.store`: RocksDB; dry-run sender) starts;
   measured from the group being ready to every record committed (state in the changelog,
   offsets committed).
2'. The Faust floor (bench/bench_faust_floor.py) over the same topic in the same run: the
   worker's Faust app and settings, an agent taking the same batches and doing nothing,
   measured the same way (group ready to lag 0). Printed with the ratio and the bound of
   a worker adding only the core's cost to the floor's (1 / (1 / floor + 1 / ceiling)).
3. Latency: a live campaign (no delay) under a steady event rate on the system clock:
   from the event's time to the sender's report (`$notification_sent` ts), and waits due
   at known times: from the due time to the wake-up record's Kafka timestamp (each wait
   sends too: `--waits` over `--seconds` adds to the offered rate). With the worker's
   CPU use, its CPU per trigger and the time its threads waited for a CPU (run-queue wait)
   over the live part (waiting longer than it ran: short of CPU, other jobs), and its CPU
   and wake-ups a second at rest before it (its timers).

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
from aiokafka import AIOKafkaProducer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_faust_floor  # noqa: E402
from worker_process import cpu_seconds, idle, profile, run_queue_seconds  # noqa: E402
from engine.agents.records import result_events  # noqa: E402
from engine.agents.settings import WorkerSettings  # noqa: E402
from engine.shell.metrics import worker_metrics  # noqa: E402
from engine.agents.users import Record, UserProcessor  # noqa: E402
from engine.core import CampaignSet  # noqa: E402
from engine.rules.config import load_config  # noqa: E402
from engine.rules.loader import load_campaigns  # noqa: E402
from tests.fixtures.kafka_runtime import KafkaRuntimeHarness, _run, make_config, metric_value  # noqa: E402

T0 = 1_795_600_800_000
SUB_KEYS = {"p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
            "auth": "BTBZMqHH6r4Tts7J_aSIgg"}
COMMIT_INTERVAL = WorkerSettings().commit_interval
STORE = WorkerSettings().store  # what `pushcast worker` uses unless told otherwise
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


def ceiling(records: list[tuple[bytes, bytes]], campaigns: CampaignSet, batch: int = 500) -> tuple[float, float]:
    """(events/s, events per CPU second) of the user agent's batch logic alone."""
    table: dict[str, bytes] = {}
    processor = UserProcessor(lambda: campaigns, worker_metrics(), lambda: T0 + 86_400_000)
    wrapped = [Record(k, v, [], T0, 0, i) for i, (k, v) in enumerate(records)]
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(wrapped), batch):
        result = processor.process(wrapped[i:i + batch], lambda user, record: table.get(user))
        for user, (stored, _record) in result.states.items():
            table[user] = stored.dumps()
    return len(records) / (time.perf_counter() - start), len(records) / (time.process_time() - cpu)


def produce_stream(records, campaign_files, config, bootstrap, redis, directory: Path,
                   partitions: int) -> tuple[KafkaRuntimeHarness, float]:
    """The harness (topics made) with `records` in its events topic; records/s produced."""
    directory.mkdir(parents=True)
    harness = KafkaRuntimeHarness(bootstrap, redis, directory, campaign_files, config, partitions=partitions,
                                  sends_partitions=partitions)
    harness.create_topics()
    started = time.perf_counter()
    for i in range(0, len(records), 100_000):
        harness.produce(records[i:i + 100_000])
    harness.set_clock(T0)
    return harness, len(records) / (time.perf_counter() - started)


def through_kafka(harness: KafkaRuntimeHarness, count: int, name: str, extra_args: list[str] = ()) -> dict:
    """One worker over the produced stream: events/s from the group being ready to lag 0."""
    harness.extra_args = list(extra_args)
    worker = harness.start_worker(name, dry_run=True, store=STORE, session_timeout=30,
                                  commit_interval=COMMIT_INTERVAL)
    try:
        harness.wait_members(1, timeout=120)
        t0, cpu0 = time.perf_counter(), cpu_seconds(worker.process.pid)
        while harness.lag() > 0:
            harness.check_alive()
            time.sleep(0.2)
        elapsed, cpu = time.perf_counter() - t0, cpu_seconds(worker.process.pid) - cpu0
    finally:
        worker.stop()
        harness.workers.remove(worker)
    return {"events_per_s": count / elapsed, "seconds": elapsed, "per_cpu_s": count / cpu}


def floor(harness: KafkaRuntimeHarness, count: int, name: str, uvloop: bool = False) -> dict:
    """The Faust floor over the same events topic, its own group: events/s as the worker's."""
    group = f"{harness.prefix}{name}"
    process = bench_faust_floor.start(harness.bootstrap, group, harness.events_topic, harness.partitions,
                                      harness.directory / f"data-{name}", harness.directory / f"{name}.log",
                                      uvloop=uvloop)
    try:
        deadline = time.monotonic() + 120
        while _run(_group_state(harness.bootstrap, group)) != "Stable":
            assert process.poll() is None and time.monotonic() < deadline, (
                (harness.directory / f"{name}.log").read_text()[-3000:])
            time.sleep(0.2)
        t0, cpu0 = time.perf_counter(), cpu_seconds(process.pid)
        while _run(_group_lag(harness.bootstrap, group, harness.events_topic, harness.partitions)) > 0:
            assert process.poll() is None, (harness.directory / f"{name}.log").read_text()[-3000:]
            time.sleep(0.2)
        elapsed, cpu = time.perf_counter() - t0, cpu_seconds(process.pid) - cpu0
    finally:
        process.terminate()
        process.wait(30)
    return {"events_per_s": count / elapsed, "seconds": elapsed, "per_cpu_s": count / cpu}


async def _group_state(bootstrap: str, group: str) -> str:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([group])
        return response.groups[0][2]
    finally:
        await admin.close()


async def _group_lag(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        ends = await consumer.end_offsets(tps)
        done = {tp: meta.offset for tp, meta in committed.items() if meta is not None and meta.offset >= 0}
        return sum(max(0, ends[tp] - done.get(tp, 0)) for tp in tps)
    finally:
        await consumer.stop()
        await admin.close()


def latency(bootstrap, redis, directory: Path, rate: int, seconds: float, waits: int,
            worker_args: list[str] = (), profile_to: Path | None = None, gil: bool = False,
            dump_to: Path | None = None) -> dict:
    (directory / "campaigns").mkdir(parents=True)
    (directory / "campaigns" / "live.yaml").write_text(
        "campaign: live\nname: live\nwho:\n  on: {event: Signed Up}\nwhat:\n  title: Hi\n  ttl: 1h\n")
    (directory / "campaigns" / "later.yaml").write_text(
        "campaign: later\nname: later\nwho:\n  on: {event: Remind Me}\nwhen:\n  delay: 10s\nwhat:\n  title: Hi\n  ttl: 1h\n")
    config = make_config(directory, None)
    harness = KafkaRuntimeHarness(bootstrap, redis, directory, [directory / "campaigns"], config, partitions=4,
                                  controlled_clock=False)
    harness.create_topics()
    harness.extra_args = list(worker_args)
    worker = harness.start_worker("latency", dry_run=True, store=STORE, commit_interval=COMMIT_INTERVAL)
    try:
        harness.wait_members(1, timeout=120)
        time.sleep(3)  # past the start-up's own work
        at_rest = idle(worker.process.pid)
        subs = [(f"v{u}".encode(), orjson.dumps({"user": f"v{u}", "event": "$push_subscribe",
                "props": {"endpoint": f"https://fcm.googleapis.com/fcm/send/v{u}", "keys": SUB_KEYS}}))
                for u in range(2000)]
        harness.produce(subs)
        # The subscriptions applied before the live part: its first seconds measured the
        # worker's backlog of them (and their CPU counted in the live part's).
        harness.wait_idle(timeout=120)
        now = int(time.time() * 1000)
        # Waits due from 1 s on (the campaign's delay is 10 s), spread over `seconds`:
        # lateness is measured on real time.
        harness.produce([(f"v{u}".encode(), orjson.dumps({"user": f"v{u}", "event": "Remind Me",
                          "ts": now - 9000 + int(u * seconds * 1000 / waits)})) for u in range(waits)])
        pid = worker.process.pid
        spy = profile(pid, seconds, profile_to, gil) if profile_to else None
        t0, cpu0, queued0 = time.perf_counter(), cpu_seconds(pid), run_queue_seconds(pid)
        batches0 = _user_batches(worker)
        _run(_produce_live(harness, rate, seconds))
        elapsed = time.perf_counter() - t0
        cpu, queued = (cpu_seconds(pid) - cpu0) / elapsed, (run_queue_seconds(pid) - queued0) / elapsed
        if spy is not None:
            spy.wait(60)
        # Until the last wait fell due and every record is applied: the CPU the live part
        # caused, its backlog included, less the worker's rate at rest (a worker short of
        # CPU catches up after the live part: its CPU s/s over it understates the work).
        time.sleep(max(0.0, t0 + 2 + seconds - time.perf_counter()))
        harness.wait_idle(timeout=120)
        batches = [(b - a) for a, b in zip(batches0, _user_batches(worker))]
        caused = cpu_seconds(pid) - cpu0 - at_rest["cpu"] * (time.perf_counter() - t0)
        time.sleep(2)
    finally:
        worker.stop()
    sends, decided_at = {}, {}
    for r in harness.read(harness.sends_topic):
        for value in orjson.loads(r.value):  # a record per user batch and sends partition
            sends[value["id"]] = value
            decided_at[value["id"]] = r.timestamp
    trigger_to_send, lateness, decide, deliver, timed = [], [], [], [], []
    for r in harness.read(harness.events_topic):
        if dict(r.headers or ()).get("pushcast-internal") == b"wake":
            lateness.append(r.timestamp - orjson.loads(r.value)["at"])
        for event in result_events(r.value, r.headers):  # a results record's, or a plain one
            notify = sends[event["props"]["message"]]
            if event["event"] == "$notification_sent" and notify["campaign"] == "live":
                trigger_to_send.append(event["ts"] - notify["at"])
                timed.append((notify["at"], event["ts"] - notify["at"]))
                decide.append(decided_at[notify["id"]] - notify["at"])
                deliver.append(event["ts"] - decided_at[notify["id"]])
    if dump_to is not None:  # each live send: decided at, trigger -> send, event -> Notify, Notify -> report
        dump_to.write_bytes(orjson.dumps(sorted(zip((at for at, _ in timed), trigger_to_send, decide, deliver))))
    first = min((at for at, _ in timed), default=0)
    steady = [ms for at, ms in timed if at >= first + 3000]  # after the first 3 s
    triggers = max(1, len(trigger_to_send) + len(lateness))  # live sends and wake-ups, each sending
    return {"trigger_to_send_ms": _percentiles(trigger_to_send), "wait_lateness_ms": _percentiles(lateness),
            "steady_trigger_to_send_ms": _percentiles(steady),
            "event_to_decision_ms": _percentiles(decide), "decision_to_report_ms": _percentiles(deliver),
            "live_sends": len(trigger_to_send), "wakes": len(lateness), "rate": rate, "waits_per_s": round(waits / seconds),
            "worker_cpu": round(cpu, 2), "worker_cpu_wait": round(queued, 2), "idle": at_rest,
            "cpu_ms_per_trigger": round(1000 * caused / triggers, 2), "user_batches_per_trigger": round(batches[0] / triggers, 2),
            "records_per_user_batch": round(batches[1] / max(1, batches[0]), 1)}


def _user_batches(worker) -> tuple[float, float]:
    """(batches, records) the worker's user agent applied so far (its metrics)."""
    text = worker.metrics()
    return metric_value(text, "pushcast_batch_duration_seconds_count"), metric_value(text, "pushcast_batch_items_total")


async def _produce_live(harness, rate: int, seconds: float) -> None:
    """Live events at `rate`/s from one long-lived producer, each stamped as it is sent."""
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
    parser.add_argument("--rate", type=int, help="live events/s for the latency runs (default: half the "
                        "worker's events/s measured in this run, 300 with --skip-throughput)")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--waits", type=int, default=500, help="waits due over the latency run (each wake-up "
                        "sends: they add waits / seconds to the offered rate)")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="floor/worker pairs, each on fresh topics")
    parser.add_argument("--asyncio", action="store_true", help="the floor and the worker on asyncio's loops "
                        "(default: both on uvloop, the worker's default)")
    parser.add_argument("--no-busy", action="store_true", help="skip the latency run with a busy loop on one core")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="py-spy the worker over each latency run's "
                        "live part (DIR/latency-idle.txt, DIR/latency-busy.txt: collapsed stacks)")
    parser.add_argument("--dump", type=Path, metavar="FILE", help="each live send's times as JSON (FILE.idle.json, "
                        "FILE.busy.json): [event ms, trigger -> send, event -> Notify, Notify -> report]")
    parser.add_argument("--profile-gil", action="store_true", help="with --profile: only samples holding the GIL")
    parser.add_argument("--worker-arg", action="append", default=[], help="an extra `pushcast worker` flag")
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
            top, top_cpu = ceiling(records, campaigns)
            print(f"ceiling (UserProcessor, no Kafka): {top:,.0f} events/s, {top_cpu:,.0f} events per CPU second")
            harness, produced = produce_stream(records, campaign_files, config, bootstrap, redis, tmp / "kafka",
                                               args.partitions)
            print(f"produced at {produced:,.0f}/s; {args.partitions} partitions; worker store: {STORE} "
                  f"(WorkerSettings.store, the default of `pushcast worker --store`)")
            try:
                for run in range(1, args.repeat + 1):  # floor and worker alternate: same machine load
                    low = floor(harness, len(records), f"floor{run}", uvloop=not args.asyncio)
                    print(f"run {run}: Faust floor (bare agent, same app settings): {low['events_per_s']:,.0f} "
                          f"events/s ({low['seconds']:.1f}s), {low['per_cpu_s']:,.0f} events per CPU second",
                          flush=True)
                    result = through_kafka(harness, len(records), f"worker{run}",
                                           args.worker_arg + (["--no-uvloop"] if args.asyncio else []))
                    peak = result["events_per_s"]
                    print(f"run {run}: worker through Kafka ({STORE} store): {result['events_per_s']:,.0f} events/s "
                          f"({result['seconds']:.1f}s), {result['per_cpu_s']:,.0f} events per CPU second; "
                          f"worker / floor: {result['events_per_s'] / low['events_per_s']:.2f} wall, "
                          f"{result['per_cpu_s'] / low['per_cpu_s']:.2f} per CPU second", flush=True)
                    # A worker pays the floor's per-event cost and the core's (the ceiling's,
                    # one CPU): what it could reach with nothing else, and its share of that.
                    bound = 1 / (1 / low["per_cpu_s"] + 1 / top_cpu)
                    print(f"run {run}: floor + ceiling bound: {bound:,.0f} events per CPU second "
                          f"(bound / floor {bound / low['per_cpu_s']:.2f}; worker / bound "
                          f"{result['per_cpu_s'] / bound:.2f})", flush=True)
                    harness.delete_topics()  # the next worker starts on a fresh group and table
                    if run < args.repeat:
                        harness.prefix += "r"
                        harness.create_topics()
                        for i in range(0, len(records), 100_000):
                            harness.produce(records[i:i + 100_000])
            finally:
                harness.delete_topics()
        if args.skip_latency:
            return
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
        rate = args.rate or (int(peak / 2) if not args.skip_throughput else 300)
        for busy in (False,) if args.no_busy else (False, True):  # the second with a busy loop on one core
            spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
            try:
                result = latency(bootstrap, redis, tmp / f"latency-{busy}", rate, args.seconds, waits=args.waits,
                                 worker_args=args.worker_arg + (["--no-uvloop"] if args.asyncio else []),
                                 profile_to=args.profile and args.profile / f"latency-{'busy' if busy else 'idle'}.txt",
                                 gil=args.profile_gil,
                                 dump_to=args.dump and args.dump.with_suffix(f".{'busy' if busy else 'idle'}.json"))
            finally:
                if spinner is not None:
                    spinner.kill()
                    spinner.wait()
            label = "with a busy loop on one core" if busy else "no extra load"
            print(f"[{label}] live trigger -> send (dry run) at {result['rate']} events/s (+ {result['waits_per_s']} "
                  f"waits due/s), {result['live_sends']} sends, {STORE} store: {result['trigger_to_send_ms']} ms")
            print(f"  worker CPU per trigger (live sends and wake-ups, their backlog included, less its rate at "
                  f"rest): {result['cpu_ms_per_trigger']} ms")
            print(f"  worker over the live part: {result['worker_cpu']} CPU s/s, waited for a CPU "
                  f"{result['worker_cpu_wait']} s/s; {result['user_batches_per_trigger']} user batches per trigger of "
                  f"{result['records_per_user_batch']} records; idle before it: {result['idle']['cpu']} CPU s/s, "
                  f"{result['idle']['wake_ups']} wake-ups/s")
            print(f"  after the first 3 s: {result['steady_trigger_to_send_ms']} ms")
            print(f"  of which event -> Notify on the sends topic: {result['event_to_decision_ms']} ms, "
                  f"Notify -> sent and reported: {result['decision_to_report_ms']} ms")
            print(f"  wait lateness, {result['wakes']} wake-ups: {result['wait_lateness_ms']} ms", flush=True)


if __name__ == "__main__":
    main()
