"""`pushcast produce [FILE|-] --kafka HOST:PORT`: NDJSON events into the workers' events
topic, as your own producers would write them (key: the user id, acks=all, idempotent).

Each line is checked as `pushcast run --events` checks it (the core's event checks, the
push-service allow-list of `push_services` for subscriptions, no pushcast-only events); a
refused line is reported with its number and field and skipped, and the exit code is 1.
The events topic must exist: writing to a missing one would let the broker auto-create it
at its default partition count, so the command asks you to start a worker first (workers
create their topics, engine/agents/topics.py).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import orjson

from engine.rules.errors import PushcastError


def read_events(lines, allowlist) -> tuple[list[tuple[bytes, bytes]], list[str]]:
    """([(key, value)], [problem]) of NDJSON lines; blank lines are skipped."""
    from engine.core import EventError
    from engine.shell.validate import validate_event

    records, problems = [], []
    now = int(time.time() * 1000)
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            raw = orjson.loads(line)
            event = validate_event(raw, now, allowlist)
        except orjson.JSONDecodeError as exc:
            problems.append(f"line {number}: invalid JSON: {exc}")
            continue
        except EventError as exc:
            problems.append(f"line {number}: {exc}")
            continue
        records.append((event.user.encode(), orjson.dumps(raw)))
    return records, problems


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        topics = await admin.list_topics()  # all topics: never auto-creates
    except KafkaError as exc:
        raise PushcastError(f"--kafka {bootstrap}: cannot reach Kafka ({exc})") from None
    finally:
        await admin.close()
    if topic not in topics:
        raise PushcastError(f"Kafka topic {topic!r} does not exist: start a worker first (it creates its topics "
                            "with --partitions), or check --topic-prefix")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        futures = [await producer.send(topic, key=key, value=value) for key, value in records]
        for future in futures:
            await future
    finally:
        await producer.stop()


def run_produce(args: argparse.Namespace) -> int:
    from connectors.push.config import allowlist_and_rates
    from engine.rules.config import load_config

    try:
        config_path = args.config
        if config_path is None and Path("pushcast.yaml").exists():
            config_path = Path("pushcast.yaml")
        if config_path is not None and not config_path.exists():
            raise PushcastError(f"--config {config_path}: no such file")
        config = load_config(config_path)
        allowlist = allowlist_and_rates(config.push_services)[0]
        if args.file == "-":
            records, problems = read_events(sys.stdin.buffer, allowlist)
        else:
            try:
                with open(args.file, "rb") as lines:
                    records, problems = read_events(lines, allowlist)
            except OSError as exc:
                raise PushcastError(f"FILE: cannot read {args.file}: {exc.strerror}") from None
        for problem in problems:
            print(f"{args.file}: {problem}", file=sys.stderr)
        topic = f"{args.topic_prefix}events"
        bootstrap = args.kafka or config.kafka or "127.0.0.1:9092"
        if records:
            asyncio.run(produce(bootstrap, topic, records))
    except PushcastError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{len(records)} event(s) written to {topic}" + (f", {len(problems)} line(s) refused" if problems else ""))
    return 1 if problems else 0


def add_produce_parser(sub) -> None:
    produce_ = sub.add_parser("produce", help="write NDJSON events into the Kafka workers' events topic")
    produce_.add_argument("file", metavar="FILE", nargs="?", default="-",
                          help="one JSON event per line, as `pushcast run --events` reads (default: - for stdin)")
    produce_.add_argument("--kafka", help="bootstrap servers (default: pushcast.yaml `kafka`, then 127.0.0.1:9092)")
    produce_.add_argument("--topic-prefix", default="pushcast-", help="the workers' --topic-prefix")
    produce_.add_argument("--config", type=Path,
                          help="pushcast.yaml, for the push-service allow-list (default: ./pushcast.yaml if present)")
    produce_.set_defaults(func=run_produce)
