"""The worker's topics, made (or checked) before Faust starts.

Faust creates only its own changelog; left to the broker's auto-create, the events and
sends topics come out at the broker's `num.partitions` (1 under scripts/services) next
to an N-partition changelog, and only one worker ever gets work. So every topic the
worker uses is created here with the count the flags ask for, and an existing topic with
another count stops the worker with the topic, the count found and the flag to change:
a topic's partition count cannot change under running users (the key → partition map,
and with it every stored state's place, would move).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from engine.agents.settings import WorkerSettings
from engine.rules.errors import PushcastError

TOPIC_ALREADY_EXISTS = 36  # Kafka's error code
CREATE_WAIT = 30.0  # seconds for a new topic's partitions to get leaders


class TopicError(PushcastError):
    """A topic the worker cannot use as configured, or Kafka out of reach."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    flag: str  # what sets the count, for the error message
    exact: bool = True  # False: any count works (nothing reads it by partition)
    configs: tuple[tuple[str, str], ...] = ()  # topic configs to create it with


def worker_topics(s: WorkerSettings) -> list[TopicSpec]:
    return [
        TopicSpec(s.events_topic, s.partitions, "--partitions"),
        TopicSpec(s.sends_topic, s.sends_partitions, "--sends-partitions"),
        # Replies are read from partition 0 alone (requests.py): another count loses answers.
        TopicSpec(s.reach_replies_topic, 1, "it must have exactly 1; delete it or pick another --topic-prefix"),
        # Dead letters are only ever read whole, by people: any existing count will do.
        TopicSpec(s.dead_letter_topic, 1, "--topic-prefix", exact=False),
        # The table's changelog must match the events topic partition for partition. Made
        # here, compacted as Faust makes it: left to Faust, a worker's first table write
        # could race its creation and crash (PartitionsMismatch: 0 partitions).
        TopicSpec(f"{s.app_id}-users-changelog", s.partitions, "--partitions; or a new --app-id",
                  configs=(("cleanup.policy", "compact"),)),
        # The workers' beats (peers.py): read from partition 0 alone, the last beat per worker.
        TopicSpec(s.peers_topic, 1, "it must have exactly 1; delete it or pick another --app-id",
                  configs=(("cleanup.policy", "compact"),)),
    ]


def mismatch(spec: TopicSpec, found: int) -> str | None:
    if found == spec.partitions or (not spec.exact and found >= 1):
        return None
    return (f"Kafka topic {spec.name!r} has {found} partition{'s' if found != 1 else ''}, "
            f"the worker is configured for {spec.partitions} ({spec.flag}). Start the worker with the topic's "
            f"count, or use new topics (--topic-prefix, --app-id): a topic's partition count cannot change "
            f"under stored user states")


async def ensure_topics(bootstrap: str, specs: list[TopicSpec], replication: int = 1) -> dict[str, int]:
    """Create the missing topics, check the others; {topic: partitions}. Raises TopicError."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    try:
        await admin.start()
    except KafkaError as exc:
        raise TopicError(f"--kafka {bootstrap}: cannot reach Kafka ({exc})") from None
    try:
        # list_topics asks for all topics, which never triggers the broker's auto-create.
        existing = set(await admin.list_topics())
        present = [s for s in specs if s.name in existing]
        counts = await _partition_counts(admin, [s.name for s in present])
        _check(present, counts)  # before creating anything
        missing = [s for s in specs if s.name not in existing]
        if missing:
            response = await admin.create_topics([NewTopic(s.name, s.partitions, replication, topic_configs=dict(s.configs))
                                                  for s in missing])
            for name, code, *message in response.topic_errors:
                # Another worker starting at the same moment may have made it first: checked below.
                if code and code != TOPIC_ALREADY_EXISTS:
                    raise TopicError(f"creating Kafka topic {name!r} failed: error {code} {message}")
            created = await _partition_counts(admin, [s.name for s in missing])
            _check(missing, created)
            counts |= created
    finally:
        await admin.close()
    return counts


def _check(specs: list[TopicSpec], counts: dict[str, int]) -> None:
    problems = [p for s in specs if (p := mismatch(s, counts[s.name]))]
    if problems:
        raise TopicError("\n".join(problems))


async def _describe(admin, names: list[str]) -> list[dict]:
    """admin.describe_topics without its default allow_auto_topic_creation=True: a topic
    missing here must stay missing, not appear at the broker's default count."""
    from engine.agents.kafka_admin import describe_topics_uncreated

    return await describe_topics_uncreated(admin, names)


async def _partition_counts(admin, names: list[str]) -> dict[str, int]:
    """Each topic's partition count, once every partition has a leader (a topic just
    created may first show none)."""
    if not names:
        return {}
    deadline = time.monotonic() + CREATE_WAIT
    while True:
        described = await _describe(admin, names)
        counts = {t["topic"]: len(t["partitions"]) for t in described}
        ready = all(t["error_code"] == 0 and t["partitions"] and min(p["leader"] for p in t["partitions"]) >= 0
                    for t in described)
        if ready and set(counts) == set(names):
            return counts
        if time.monotonic() > deadline:
            raise TopicError(f"Kafka topics {names} have no leaders after {CREATE_WAIT:.0f}s: {described}")
        await asyncio.sleep(0.05)


def ensure_worker_topics(settings: WorkerSettings) -> dict[str, int]:
    """Run before Faust starts (its own loop is not up yet)."""
    return asyncio.run(ensure_topics(settings.bootstrap, worker_topics(settings), settings.replication))
