"""Gateway vs embedded runtime: events/s over HTTP in batches of 500, measured in the
same run, and the latency the gateway adds from HTTP in to a record in Kafka.

Starts `pushcast run` (the embedded runtime, SQLite) and `pushcast gateway` (over the
local broker, scripts/services; topics of its own, deleted at the end) on the same
campaigns, and measures:

1. throughput: `--events` site events for `--users` users posted in batches of 500 by
   `--concurrency` clients, to each in turn (an answer means committed to SQLite / in
   Kafka with acks=all); the gateway's CPU seconds give events per CPU-second (a core);
2. latency: `--pings` single events posted one after another to the gateway, each
   carrying the client's send time; the events topic stamps records on append
   (`message.timestamp.type=LogAppendTime`), so `append - sent` is HTTP in → record in
   Kafka (same machine, same clock; Kafka's stamps are whole milliseconds). The HTTP
   round trip (until the 200, which waits for the acknowledgement) is shown too.

    .venv/bin/python bench/bench_gateway.py [--users 100000] [--events 200000] [--kafka 127.0.0.1:19092]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_runtime import free_port, pct, site_event  # noqa: E402
from bench.worker_process import cpu_seconds  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-admin-token-0123456789abcdef"


async def wait_healthy(session, url: str, process) -> None:
    for _ in range(600):
        assert process.poll() is None, f"{url} exited with {process.returncode}"
        try:
            async with session.get(url + "/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise SystemExit(f"{url} did not come up")


async def post_all(session, url: str, bodies: list[bytes], concurrency: int) -> float:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    queue = list(reversed(bodies))

    async def client():
        while queue:
            body = queue.pop()
            async with session.post(url + "/v1/events", data=body, headers=headers) as response:
                assert response.status == 200, await response.text()

    started = time.perf_counter()
    await asyncio.gather(*[client() for _ in range(concurrency)])
    return time.perf_counter() - started


async def topics(kafka: str, prefix: str, create: bool, partitions: int) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        if create:
            await admin.create_topics([NewTopic(f"{prefix}events", partitions, 1,
                                                topic_configs={"message.timestamp.type": "LogAppendTime"})])
        else:
            mine = [t for t in await admin.list_topics() if t.startswith(prefix)]
            if mine:
                await admin.delete_topics(mine)
    finally:
        await admin.close()


async def appended(kafka: str, topic: str, count: int) -> dict[int, int]:
    """{ping n: the record's append time (ms)} of the ping records."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    found: dict[int, int] = {}
    try:
        deadline = time.monotonic() + 60
        while len(found) < count and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500, max_records=10_000)).values():
                for record in records:
                    if b"Bench Ping" in record.value:
                        found[orjson.loads(record.value)["props"]["n"]] = record.timestamp
    finally:
        await consumer.stop()
    return found


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--pings", type=int, default=1000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--kafka", default="127.0.0.1:19092")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pushcast-bench-gw-"))
    prefix = f"bench-gw-{uuid.uuid4().hex[:8]}-"
    await topics(args.kafka, prefix, True, args.partitions)
    campaigns = work / "campaigns.d"
    shutil.copytree(ROOT / "campaigns.d", campaigns, ignore=shutil.ignore_patterns("tests"))
    config = work / "pushcast.yaml"
    config.write_text(f"vapid: {{key: {work / 'vapid.pem'}, subject: 'mailto:bench@shop.example'}}\n"
                      f"admin_token: {TOKEN}\n")
    subprocess.run([sys.executable, "-m", "engine.cli", "vapid", "generate", "--out", str(work / "vapid.pem")],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    run_port, gw_port = free_port(), free_port()
    common = ["--config", str(config), "--campaigns", str(campaigns)]
    run = subprocess.Popen([sys.executable, "-m", "engine.cli", "run", *common, "--state-dir", str(work / "state"),
                            "--port", str(run_port)], cwd=ROOT, stdout=open(work / "run.log", "wb"),
                           stderr=subprocess.STDOUT)
    gateway = subprocess.Popen([sys.executable, "-m", "engine.cli", "gateway", *common, "--kafka", args.kafka,
                                "--redis", "none", "--topic-prefix", prefix, "--port", str(gw_port)],
                               cwd=ROOT, stdout=open(work / "gateway.log", "wb"), stderr=subprocess.STDOUT)
    urls = {"embedded": f"http://127.0.0.1:{run_port}", "gateway": f"http://127.0.0.1:{gw_port}"}
    try:
        async with aiohttp.ClientSession() as session:
            await wait_healthy(session, urls["embedded"], run)
            await wait_healthy(session, urls["gateway"], gateway)
            rng = random.Random(7)
            bodies = [orjson.dumps([site_event(rng, args.users) for _ in range(args.batch)])
                      for _ in range(args.events // args.batch)]
            total = len(bodies) * args.batch
            rates = {}
            for name, process in (("embedded", run), ("gateway", gateway)):
                cpu = cpu_seconds(process.pid)
                elapsed = await post_all(session, urls[name], bodies, args.concurrency)
                cpu = cpu_seconds(process.pid) - cpu
                rates[name] = total / elapsed
                print(f"{name}: {total} events in {elapsed:.2f}s = {total / elapsed:,.0f} events/s; "
                      f"{cpu:.2f} CPU s = {total / cpu:,.0f} events per CPU second "
                      f"(batches of {args.batch}, {args.concurrency} clients)")
            print(f"ratio gateway / embedded: {rates['gateway'] / rates['embedded']:.2f}")

            headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
            sent, trips = {}, []
            for n in range(args.pings):
                body = orjson.dumps({"user": f"ping{n}", "event": "Bench Ping", "props": {"n": n}})
                sent[n] = time.time() * 1000
                started = time.perf_counter()
                async with session.post(urls["gateway"] + "/v1/events", data=body, headers=headers) as response:
                    assert response.status == 200
                trips.append((time.perf_counter() - started) * 1000)
            stamps = await appended(args.kafka, f"{prefix}events", args.pings)
            added = [stamps[n] - sent[n] for n in sent if n in stamps]
            print(f"gateway HTTP in -> record in Kafka (append time): n={len(added)}/{args.pings} "
                  f"p50 {statistics.median(added):.1f} ms, p99 {pct(added, 0.99):.1f} ms, max {max(added):.1f} ms "
                  "(whole-ms stamps)")
            print(f"gateway HTTP round trip of one event (200 after acks=all): p50 {statistics.median(trips):.2f} ms, "
                  f"p99 {pct(trips, 0.99):.2f} ms")
    finally:
        for process in (run, gateway):
            process.send_signal(signal.SIGTERM)
            process.wait(30)
        await topics(args.kafka, prefix, False, 0)
        if not os.environ.get("KEEP"):
            shutil.rmtree(work)


if __name__ == "__main__":
    asyncio.run(main())
