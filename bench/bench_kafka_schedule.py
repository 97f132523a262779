"""Kafka runtime: a scheduled run and reach over N stored user states, one worker.

The states and the campaign are bench_schedule.py's (N stored user states, a scheduled
campaign with a three-condition segment), on the same global config. Then:

1. Load: the stored states are written straight into the table's changelog topic
   (`{app_id}-users-changelog`; key the user id, value `StoredState.dumps()`, partition
   the events-topic partition of the user's key under Kafka's default partitioner, which
   is also the stored state's own partition), as if a worker had applied every user's
   events. One `pushcast worker` (RocksDB store, dry-run sender) then starts on an empty
   data dir; measured from the process start to its "partitions ... pending waits" line
   (the table recovered, the wake index rebuilt).
2. Reach: `request_reach` for the campaign, repeated; the count must equal the core's
   `count_reach` over the same states in this process. Before the worker starts, the
   worker's own count in this process, no Kafka, from RocksDB databases of the same
   stored values (`kafka_schedule_ceilings.reach_cpu`): CPU per user as it was (every
   key and value read, then split by partition) and as it is, alternated. Per request:
   the CPU of the worker and of its reach processes (`--reach-processes`, passed on; 0:
   the count in its thread), the seconds they waited for a CPU, their memory, and how long
   the worker's /metrics thread took to answer meanwhile (its share of the GIL).
3. Scheduled run: the worker's clock (PUSHCAST_CLOCK_FILE) moves past the campaign's
   `schedule.at`; the worker's timer announces the run with one record per partition, and
   the user agent applies it in place to the partition's users in its RocksDB store
   (segment first over the stored bytes; engine/agents/partition_runs.py). Measured from
   then until the user agent has applied the run to every user in the segment
   (`pushcast_events_consumed_total{type="run"}` reaching the core's qualified count),
   and until the group is idle (the sends made, delivered dry and reported back, every
   offset committed). Users evaluated per second = all N stored users over that time,
   printed beside the core's segment-first scan (bench_schedule.run_segment_first) over
   the same states in this process, as a ratio. Ceilings, in this process, before the
   worker starts: bench_schedule's core functions and the user agent's batch logic
   (`UserProcessor`) over the same states, no Kafka; the segment-first scan and the
   worker's in-place steps are timed alternately, the best of three each.

    .venv/bin/python bench/bench_kafka_schedule.py [--users 200000] [--partitions 8]
        [--reach-repeat 5] [--profile DIR] [--reach-only] [--run-step N] [--run-ahead K]
        [--reach-processes N] [--poll 0.25]

`--reach-only` stops after 2 (no ceilings, no scheduled run).

Needs `scripts/services start` (Kafka, Redis). `--profile DIR` records the worker with
py-spy during the reach requests (`DIR/reach.txt`) and the scheduled run (`DIR/run.txt`,
the first --profile-seconds), as collapsed stacks; py-spy on PATH or $PY_SPY.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_kafka import services  # noqa: E402
from bench_schedule import CAMPAIGN, NOW, generate  # noqa: E402
from kafka_schedule_ceilings import ceilings, reach_cpu, user_of  # noqa: E402
from worker_process import ReadProbe, cpu_seconds, descendants, rss_mb, run_queue_seconds, tree_seconds  # noqa: E402

from engine.agents.reach import request_reach  # noqa: E402
from engine.agents.records import StoredState  # noqa: E402
from engine.core import CampaignSet, UserState  # noqa: E402
from engine.core.reach import count_reach  # noqa: E402
from engine.rules.config import load_config  # noqa: E402
from engine.rules.loader import parse_campaign  # noqa: E402
from tests.fixtures.kafka_runtime import KafkaRuntimeHarness, _run, make_config, metric_value  # noqa: E402

TEST_USER = "user-0000007"  # bench_schedule's configured test profile
READY = re.compile(r"partitions \[[^\]]*\] of \S+: \d+ pending waits")


def partition_of(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (murmur2 of the key), as aiokafka and the Java client."""
    from aiokafka.partitioner import murmur2

    return (murmur2(key) & 0x7FFFFFFF) % partitions


def stored_records(blobs: list[bytes], partitions: int) -> list[tuple[bytes, bytes, int]]:
    """(key, stored value, partition) of every state, as the user agent would store it."""
    out = []
    for i, blob in enumerate(blobs):
        key = user_of(i).encode()
        partition = partition_of(key, partitions)
        out.append((key, StoredState(UserState.loads(blob), partition, -1).dumps(), partition))
    return out


async def _load_changelog(bootstrap: str, topic: str, partitions: int,
                          records: list[tuple[bytes, bytes, int]]) -> None:
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:  # as Faust declares it: the table's partitions, compacted
        await admin.create_topics([NewTopic(topic, partitions, 1, topic_configs={"cleanup.policy": "compact"})])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20,
                                max_batch_size=512 * 1024)
    await producer.start()
    try:
        pending = []
        for key, value, partition in records:
            pending.append(await producer.send(topic, value=value, key=key, partition=partition))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def wait_ready(worker, harness: KafkaRuntimeHarness, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while not READY.search(worker.output()):
        harness.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"the worker did not recover in {timeout:g}s\n{harness.logs()}")
        time.sleep(0.05)
    return time.perf_counter()


def runs_applied(worker) -> float:
    return metric_value(worker.metrics(), "pushcast_events_consumed_total", type="run")


def events_end(harness: KafkaRuntimeHarness) -> int:
    async def ends() -> int:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(bootstrap_servers=harness.bootstrap)
        await consumer.start()
        try:
            tps = [TopicPartition(harness.events_topic, p) for p in range(harness.partitions)]
            return sum((await consumer.end_offsets(tps)).values())
        finally:
            await consumer.stop()

    return _run(ends())


def long_batches(text: str) -> tuple[float, float, float]:
    """(user-agent batches, of them longer than 0.5 s, longer than 1 s) so far."""
    name = "pushcast_batch_duration_seconds"
    count = metric_value(text, f"{name}_count")
    return count, count - metric_value(text, f"{name}_bucket", le="0.5"), count - metric_value(
        text, f"{name}_bucket", le="1.0")


def profile(pid: int, seconds: float, out: Path) -> subprocess.Popen | None:
    spy = os.environ.get("PY_SPY") or shutil.which("py-spy")
    if not spy:
        print("  (no py-spy: not profiling)")
        return None
    return subprocess.Popen([spy, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "50", "-f", "raw",
                             "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--reach-repeat", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds for each phase")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="py-spy the worker during the run")
    parser.add_argument("--profile-seconds", type=float, default=60)
    parser.add_argument("--skip-ceiling", action="store_true")
    parser.add_argument("--run-step", type=int, help="the worker's --run-step (default: its own)")
    parser.add_argument("--run-ahead", type=int, help="the worker's --run-ahead (default: its own)")
    parser.add_argument("--reach-processes", type=int,
                        help="the worker's --reach-processes (default: its own; 0: reach counted in its thread)")
    parser.add_argument("--poll", type=float, default=0.25,
                        help="seconds between reads of the worker's /metrics during the run (each costs it CPU)")
    parser.add_argument("--reach-only", action="store_true", help="stop after reach (no ceilings, no scheduled run)")
    parser.add_argument("--redis", help="redis:// URL (default: the services'); send de-duplication keys of an "
                        "earlier run over the same users live for two days there, and turn its sends into "
                        "duplicates (counted apart below)")
    args = parser.parse_args()
    n = args.users
    bootstrap, redis = services()
    redis = args.redis or redis
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {n:,} users, {args.partitions} partitions")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "campaigns").mkdir()
        (tmp / "campaigns" / "xmas.yaml").write_text(CAMPAIGN)
        config = make_config(tmp, None, extra_test_users=[TEST_USER], limits=[{"max": 3, "per": "1d"}])
        campaigns = CampaignSet([parse_campaign(CAMPAIGN)], load_config(config))
        compiled = campaigns.get("xmas")

        started = time.perf_counter()
        blobs = generate(n, campaigns)
        print(f"generated {n:,} user states in {time.perf_counter() - started:.1f} s "
              f"(mean {sum(map(len, blobs)) / n:.0f} bytes)")
        started = time.perf_counter()
        expected = count_reach((UserState.loads(b) for b in blobs), compiled, NOW, campaigns)
        core_reach_s = time.perf_counter() - started
        print(f"core count_reach (qualified, reachable) = {expected} in {core_reach_s:.2f} s")
        ceiling = None
        if not (args.skip_ceiling or args.reach_only):
            ceiling = ceilings(blobs, campaigns)
            print(f"ceiling, no Kafka: core baseline {ceiling['baseline']:,.0f} users/s "
                  f"(sends, written: {ceiling['baseline_result']}), segment first {ceiling['segment_first']:,.0f} "
                  f"users/s, UserProcessor {ceiling['processor']:,.0f} users/s ({ceiling['processor_sends']:,} sends), "
                  f"the worker's in-place run steps over RocksDB {ceiling['in_place']:,.0f} users/s "
                  f"({ceiling['in_place_sends']:,} sends; {ceiling['in_place'] / ceiling['segment_first']:.3f} "
                  f"of segment first); in CPU seconds: segment first {ceiling['segment_first_cpu']:,.0f} users/s, "
                  f"in-place steps {ceiling['in_place_cpu']:,.0f} users/s "
                  f"({ceiling['in_place_cpu'] / ceiling['segment_first_cpu']:.3f} of segment first)")

        harness = KafkaRuntimeHarness(bootstrap, redis, tmp, [tmp / "campaigns"], config,
                                      partitions=args.partitions, sends_partitions=args.partitions)
        for flag, value in (("--run-step", args.run_step), ("--run-ahead", args.run_ahead),
                            ("--reach-processes", args.reach_processes)):
            if value is not None:
                harness.extra_args = [*harness.extra_args, flag, str(value)]
        changelog = f"{harness.app_id}-users-changelog"  # Faust: f"{app.conf.id}-{table.name}-changelog"
        try:
            harness.create_topics()
            records = stored_records(blobs, args.partitions)
            del blobs
            reach_cpu(records, campaigns, args.partitions)
            started = time.perf_counter()
            _run(_load_changelog(bootstrap, changelog, args.partitions, records), timeout=args.timeout)
            load_s = time.perf_counter() - started
            stored_bytes = sum(len(v) for _, v, _ in records)
            del records
            print(f"changelog {changelog}: {n:,} states ({stored_bytes / 1e6:.0f} MB) produced in {load_s:.1f} s")

            # Before the run: the worker first sees the campaign then, so the run that
            # follows is due from its schedule cursor.
            harness.set_clock(NOW - 2 * 3_600_000)
            started = time.perf_counter()
            worker = harness.start_worker("bench", dry_run=True, store="rocksdb", session_timeout=60, commit_interval=1.0)
            ready = wait_ready(worker, harness, args.timeout)
            recovery_s = ready - started
            print(f"recovery (process start -> table recovered, index rebuilt): {recovery_s:.1f} s, "
                  f"{n / recovery_s:,.0f} states/s")

            times, found = [], None
            spy = None
            if args.profile:
                args.profile.mkdir(parents=True, exist_ok=True)
                spy = profile(worker.process.pid, args.timeout, args.profile / "reach.txt")
            idle_cpu = cpu_seconds(worker.process.pid)
            time.sleep(5)
            idle_cpu = (cpu_seconds(worker.process.pid) - idle_cpu) / 5  # CPU seconds a second, asked nothing
            # The worker's CPU seconds during each request: every thread of it, and its
            # reach processes; and the seconds they waited for a CPU (runnable, not running).
            cpu, own_cpu, waited, loads, probes = [], [], [], [], []
            for _ in range(args.reach_repeat):
                pid = worker.process.pid
                own, children = tree_seconds(pid, cpu_seconds)
                queued = sum(tree_seconds(pid, run_queue_seconds))
                with ReadProbe(worker.metrics) as probe:
                    found = _run(request_reach(bootstrap, harness.events_topic, harness.prefix + "reach-replies",
                                               "xmas", NOW, timeout=args.timeout), timeout=args.timeout + 10)
                probes.extend(probe.seconds)
                times.append(found.seconds)
                own_after, children_after = tree_seconds(pid, cpu_seconds)
                own_cpu.append(own_after - own)
                cpu.append(own_after - own + children_after - children)
                waited.append(sum(tree_seconds(pid, run_queue_seconds)) - queued)
                loads.append(float(Path("/proc/loadavg").read_text().split()[0]))
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes what it has and exits
                spy.wait()
            assert found.users == n, f"the worker holds {found.users:,} users, not {n:,}"
            assert (found.qualified, found.reachable) == expected, \
                f"reach over Kafka {(found.qualified, found.reachable)} != the core's {expected}"
            print(f"reach over Kafka x{len(times)}: min {min(times):.2f} s, median {statistics.median(times):.2f} s, "
                  f"max {max(times):.2f} s (target under 10 s); qualified {found.qualified:,}, "
                  f"reachable {found.reachable:,} = the core's; {min(times) / n * 1e6:.2f} µs a user "
                  f"({min(times) / n * 1e6:.2f} s per 1,000,000 users on one worker, best)")
            print(f"  the worker's CPU during each request: {', '.join(f'{c:.2f}' for c in cpu)} s; best "
                  f"{min(cpu) / n * 1e6:.2f} µs a user ({min(cpu) / n * 1e6:.2f} s per 1,000,000 users), "
                  f"median {statistics.median(cpu) / n * 1e6:.2f} µs; asked nothing, it uses {idle_cpu:.3f} CPU s "
                  "a second")
            print(f"  of which the worker process itself: {', '.join(f'{c:.2f}' for c in own_cpu)} s "
                  f"(the rest: its reach processes); waiting for a CPU: {', '.join(f'{w:.2f}' for w in waited)} s "
                  f"(every thread and process of it); load average after each: {', '.join(map(str, loads))}")
            print(f"  request wall times: {', '.join(f'{t:.2f}' for t in times)} s; resident memory: the worker "
                  f"{rss_mb(worker.process.pid):.0f} MB, its reach processes "
                  f"{sum(rss_mb(child) for child in descendants(worker.process.pid)):.0f} MB")
            probes.sort()
            if probes:
                print(f"  the worker's /metrics (a thread of it: the GIL's latency) during the requests: "
                      f"{len(probes)} reads, median {statistics.median(probes) * 1e3:.1f} ms, "
                      f"p90 {probes[int(len(probes) * 0.9)] * 1e3:.1f} ms, max {probes[-1] * 1e3:.1f} ms")
            if args.reach_only:
                return 0

            harness.wait_idle(timeout=args.timeout)
            in_segment = found.qualified  # the users the run applies to (checked against the core above)
            end_before = events_end(harness)
            spy = None
            if args.profile:
                spy = profile(worker.process.pid, args.profile_seconds, args.profile / "run.txt")
            batches_before, cpu_before = long_batches(worker.metrics()), cpu_seconds(worker.process.pid)
            t0 = time.perf_counter()
            harness.set_clock(NOW + 1000)
            applied_at = None
            deadline = time.monotonic() + args.timeout
            quarters: dict[int, float] = {}  # share of the segment applied (%) -> seconds since the clock moved
            curve: list[tuple[float, float]] = []  # (seconds since the clock moved, users applied)
            while applied_at is None:
                harness.check_alive()
                assert time.monotonic() < deadline, f"run not applied in {args.timeout:g}s\n{harness.logs()}"
                so_far = runs_applied(worker)
                curve.append((time.perf_counter() - t0, so_far))
                for share in (25, 50, 75, 90):
                    if share not in quarters and so_far >= in_segment * share / 100:
                        quarters[share] = time.perf_counter() - t0
                if so_far >= in_segment:
                    applied_at = time.perf_counter()
                    run_cpu = cpu_seconds(worker.process.pid) - cpu_before
                    batches = [a - b for a, b in zip(long_batches(worker.metrics()), batches_before)]
                time.sleep(args.poll)
            harness.wait_idle(timeout=args.timeout, settle=2.0)
            idle_at = time.perf_counter()
            idle_cpu_used = cpu_seconds(worker.process.pid) - cpu_before  # the sends' delivery and results too
            text = worker.metrics()
            # Every label set: sends to test profiles count under test="true", and the core's
            # count holds them too.
            notifications = metric_value(text, "pushcast_notifications_sent_total", campaign="xmas")
            sent = metric_value(text, "pushcast_sends_total")
            duplicates = metric_value(text, "pushcast_sends_deduplicated_total")
            if spy is not None:
                spy.wait()
            run_s, idle_s = applied_at - t0, idle_at - t0
            print(f"scheduled run over Kafka, one worker, RocksDB store: {n:,} users evaluated, the run applied "
                  f"to {in_segment:,} users in the segment in {run_s:.1f} s = {n / run_s:,.0f} users/s; "
                  f"{events_end(harness) - end_before:,} records in the events topic since the clock moved "
                  f"(run announcements, send results); idle (sends delivered dry, offsets committed) "
                  f"at {idle_s:.1f} s, the worker's CPU until then {idle_cpu_used:.1f} s")
            print("  applied to " + ", ".join(f"{share}% at {at:.1f} s" for share, at in sorted(quarters.items())))
            seconds = {}  # users applied at each whole second
            for at, so_far in curve:
                seconds.setdefault(int(at), so_far)
            print("  users applied, second by second: " + " ".join(f"{v / 1000:.1f}k" for v in seconds.values()))
            print(f"  the worker's CPU during the run: {run_cpu:.1f} s = {n / run_cpu:,.0f} users per CPU second; "
                  f"user-agent batches during the run {batches[0]:,.0f}, over 0.5 s {batches[1]:,.0f}, "
                  f"over 1 s {batches[2]:,.0f}")
            print(f"  notifications decided {notifications:,.0f}; deliveries {sent:,.0f} (dry run), "
                  f"{duplicates:,.0f} already done by an earlier run (Redis de-duplication)")
            if ceiling:
                assert notifications == ceiling["baseline_result"][0], \
                    f"the worker decided {notifications:,.0f} sends, the core {ceiling['baseline_result'][0]:,}"
                print(f"  the core's segment-first scan in this process: {ceiling['segment_first']:,.0f} users/s; "
                      f"the Kafka run is {n / run_s / ceiling['segment_first']:.3f} of it (target 0.8); "
                      f"{n / run_s / ceiling['baseline']:.3f} of the core baseline, "
                      f"{n / run_s / ceiling['processor']:.3f} of UserProcessor, "
                      f"{n / run_s / ceiling['in_place']:.3f} of the in-place steps without Kafka; "
                      f"{n / run_s / ceiling['segment_first_cpu']:.3f} of the scan per CPU second")
        finally:
            harness.stop()
            try:
                harness.delete_topics()
            except Exception as exc:
                print(f"could not delete the topics of {harness.prefix}: {exc!r}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
