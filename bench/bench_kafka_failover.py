"""Kafka fail-over: how long a kill -9'ed worker's partitions go unserved.

Two `pushcast worker`s (dry-run sender, default settings unless told) share 8 partitions;
a live campaign (no delay) turns every event into a Notify on the sends topic, stamped by
Kafka when the worker decided it. Events go to every partition at `--rate`/s, one user per
partition and event. One worker is killed (SIGKILL); per events partition, the first
decision stamped after the kill for an event sent after it tells when the partition was
served again. The killed worker's partitions show the fail-over; the survivor's own show
~0. Each run prints the time from the kill to the last partition served again, for
pushcast's peer watch (engine/agents/peers.py) and, with --baseline, for Kafka's session
timeout alone (`--peer-timeout 0`), in the same invocation.

    .venv/bin/python bench/bench_kafka_failover.py [--runs 3] [--baseline]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import re
import shutil
import time
from datetime import datetime
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_kafka import SUB_KEYS, services  # noqa: E402
from engine.agents.settings import WorkerSettings  # noqa: E402
from tests.fixtures.kafka_runtime import KafkaRuntimeHarness, _run, make_config  # noqa: E402

PARTITIONS = 8
STAMP = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})")  # both log formats of a worker
CAMPAIGN = "campaign: live\nname: live\nwho:\n  on: {event: Signed Up}\nwhat:\n  title: Hi\n  ttl: 1h\n"


def user(partition: int, n: int) -> str:
    return f"p{partition}-u{n % 50}"


async def _stream(harness: KafkaRuntimeHarness, rate: int, seconds: float, kill_at: float, kill) -> float:
    """Events to every partition in turn at `rate`/s for `seconds`; `kill()` at `kill_at` s.
    The kill's time.time()."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=harness.bootstrap, acks="all", linger_ms=0)
    await producer.start()
    killed_at = None
    try:
        start, sent = time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            if killed_at is None and time.perf_counter() - start >= kill_at:
                killed_at = time.time()
                kill()
            partition = sent % PARTITIONS
            name = user(partition, sent // PARTITIONS)
            value = orjson.dumps({"user": name, "event": "Signed Up", "ts": int(time.time() * 1000)})
            await producer.send(harness.events_topic, value=value, key=name.encode(), partition=partition)
            sent += 1
            await asyncio.sleep(max(0.0, start + sent / rate - time.perf_counter()))
        await producer.flush()
    finally:
        await producer.stop()
    return killed_at


def one_run(bootstrap: str, redis: str, directory: Path, rate: int, worker_args: list[str],
            session_timeout: float, logs: Path | None = None) -> dict:
    (directory / "campaigns").mkdir(parents=True)
    (directory / "campaigns" / "live.yaml").write_text(CAMPAIGN)
    config = make_config(directory, None)
    harness = KafkaRuntimeHarness(bootstrap, redis, directory, [directory / "campaigns"], config,
                                  partitions=PARTITIONS, sends_partitions=2, controlled_clock=False,
                                  extra_args=worker_args)
    harness.create_topics()
    try:
        # Both start with the deployment's session timeout and commit interval (the harness's are short).
        commit = WorkerSettings().commit_interval
        victim = harness.start_worker("victim", dry_run=True, session_timeout=session_timeout, commit_interval=commit)
        harness.start_worker("survivor", dry_run=True, session_timeout=session_timeout, commit_interval=commit)
        harness.wait_members(2, timeout=180)
        harness.produce([{"user": user(p, n), "event": "$push_subscribe",
                          "props": {"endpoint": f"https://fcm.googleapis.com/fcm/send/{p}-{n}", "keys": SUB_KEYS}}
                         for p in range(PARTITIONS) for n in range(50)])
        harness.wait_idle(timeout=120)
        seconds = 5 + session_timeout + 10
        killed_at = _run(_stream(harness, rate, seconds, 5.0, victim.kill), timeout=seconds + 60) * 1000
        harness.wait_idle(timeout=120)
        decided: dict[int, float] = {}
        for record in harness.read(harness.sends_topic):
            for notify in orjson.loads(record.value):  # a record per user batch and sends partition
                if notify["at"] > killed_at and record.timestamp > killed_at:
                    partition = int(notify["user"].split("-")[0][1:])
                    decided[partition] = min(decided.get(partition, record.timestamp), record.timestamp)
        gaps = {p: (decided[p] - killed_at) / 1000 for p in sorted(decided)}
        survivor_log = harness.workers[1].output()
        return {"gaps": gaps, "served_again_s": max(gaps.values()), "partitions": len(gaps),
                "removed_by_peer": "removed (its partitions go to the others)" in survivor_log,
                "removed_s": _logged_after(survivor_log, "removed (its partitions", killed_at),
                "recovered_s": _logged_after(survivor_log, "pending waits", killed_at)}
    finally:
        harness.stop()
        harness.delete_topics()
        if logs is not None:  # the workers' logs, kept past the temporary directory
            logs.mkdir(parents=True, exist_ok=True)
            for log in directory.glob("*.log"):
                shutil.copy(log, logs / f"{directory.name}-{log.name}")


def _logged_after(log: str, marker: str, after_ms: float) -> float | None:
    """Seconds from `after_ms` to the first line holding `marker` logged after it."""
    for line in log.splitlines():
        found = STAMP.search(line)
        if marker in line and found:
            at = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp() * 1000
            if at > after_ms:
                return (at - after_ms) / 1000
    return None


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=int, default=200, help="events/s over all partitions")
    parser.add_argument("--baseline", action="store_true", help="also run with --peer-timeout 0")
    parser.add_argument("--logs", type=Path, help="keep the workers' logs here")
    args = parser.parse_args()
    defaults = WorkerSettings()
    bootstrap, redis = services()
    variants = [("peer watch (defaults: peer timeout %.1fs, heartbeat %.1fs, session %.0fs)"
                 % (defaults.peer_timeout, defaults.heartbeat_interval, defaults.session_timeout),
                 ["--heartbeat-interval", str(defaults.heartbeat_interval),
                  "--standby-replicas", str(defaults.standby_replicas)])]
    if args.baseline:
        variants.append(("session timeout alone (--peer-timeout 0, heartbeat 3s, session %.0fs)"
                         % defaults.session_timeout, ["--peer-timeout", "0", "--heartbeat-interval", "3",
                                                                 "--standby-replicas", str(defaults.standby_replicas)]))
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(1, args.runs + 1):
            for i, (label, extra) in enumerate(variants):
                try:
                    result = one_run(bootstrap, redis, Path(tmp) / f"r{run}-{i}", args.rate, extra,
                                     defaults.session_timeout, args.logs)
                except AssertionError as failed:  # e.g. a partition that never caught up: say so, go on
                    print(f"run {run}, {label}: FAILED: {str(failed).splitlines()[0]}", flush=True)
                    continue
                gaps = " ".join(f"{p}:{g:.2f}" for p, g in result["gaps"].items())
                print(f"run {run}, {label}: kill -> every partition served again {result['served_again_s']:.2f} s "
                      f"({result['partitions']} partitions; removed by the peer watch: {result['removed_by_peer']}; "
                      f"survivor logged the removal at {_seconds(result['removed_s'])}, its partitions recovered "
                      f"at {_seconds(result['recovered_s'])}; per partition s: {gaps})", flush=True)


if __name__ == "__main__":
    main()
