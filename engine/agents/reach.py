"""Reach on the Kafka runtime, exact across workers: one question per partition.

    requester ──▶ one internal `reach` record into every events-topic partition
                  └─▶ the partition's current owner (user agent) counts the user states
                      of that partition ──▶ reach-replies topic (request, partition, counts)
    requester ◀── sums exactly one reply per partition

Every partition is answered once, by its active owner, in the partition's own order (the
count sees every record before the request), so the sum is exact however partitions are
spread, and standby copies are never counted: a stored state carries the partition it
was written for, and only states of the request's partition are read. A request
redelivered after a crash is answered again; the requester keeps the first reply.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Iterable

import orjson

from engine.agents.records import INTERNAL_HEADER, header
from engine.core.campaigns import CampaignSet
from engine.local.reach import Reach, count_reach_raw

REACH = b"reach"
REPLY_FIELDS = ("users", "qualified", "reachable", "no_subscription", "test_profiles")


class ReachError(Exception):
    """A reach request that could not be answered (unknown campaign, no reply in time)."""


@dataclass(frozen=True)
class ReachRequest:
    request: str
    campaign: str
    at: int  # epoch ms: every partition is evaluated at the same moment
    partition: int  # the events-topic partition the request was read from


def encode_request(request: str, campaign: str, at: int) -> tuple[bytes, list[tuple[str, bytes]]]:
    return orjson.dumps({"request": request, "campaign": campaign, "at": at}), [(INTERNAL_HEADER, REACH)]


def is_request(headers) -> bool:
    return header(headers, INTERNAL_HEADER) == REACH


def decode_request(value: bytes | None, partition: int) -> ReachRequest:
    raw = orjson.loads(value or b"null")
    return ReachRequest(str(raw["request"]), str(raw["campaign"]), int(raw["at"]), partition)


def answer(requests: list[ReachRequest], stored: Iterable[tuple[object, bytes | None]],
           campaigns: CampaignSet) -> list[dict]:
    """One reply per request: the reach over the stored states (table items, values in
    `records.StoredState` form) of the request's partition."""
    wanted = {r.partition for r in requests}
    bodies: dict[int, list[memoryview]] = {p: [] for p in wanted}
    for _key, value in stored:
        if value is None:
            continue
        end = value.index(b"\n")
        partition = int(value[: value.index(b" ")])
        if partition in wanted:
            bodies[partition].append(memoryview(value)[end + 1:])
    replies = []
    for request in requests:
        reply = {"request": request.request, "partition": request.partition, "campaign": request.campaign,
                 "at": request.at}
        compiled = campaigns.get(request.campaign)
        if compiled is None:
            reply["error"] = (f"no campaign {request.campaign!r} in the worker's campaigns "
                              f"(known: {', '.join(sorted(campaigns.by_id)) or 'none'})")
        else:
            found = count_reach_raw(bodies[request.partition], compiled, request.at, campaigns)
            reply.update({name: getattr(found, name) for name in REPLY_FIELDS})
        replies.append(reply)
    return replies


def total(campaign: str, at: int, partitions: int, replies: dict[int, dict], seconds: float = 0.0) -> Reach:
    """The sum of one reply per partition; an error in any reply is the answer."""
    errors = sorted({r["error"] for r in replies.values() if "error" in r})
    if errors:
        raise ReachError("; ".join(errors))
    missing = sorted(set(range(partitions)) - set(replies))
    if missing:
        raise ReachError(f"no reply for partition(s) {missing}")
    sums = {name: sum(int(r[name]) for r in replies.values()) for name in REPLY_FIELDS}
    return Reach(campaign, at, seconds=round(seconds, 3), **sums)


async def request_reach(bootstrap: str, events_topic: str, replies_topic: str, campaign: str, at: int,
                        timeout: float = 30.0) -> Reach:
    """Ask every partition's owner and sum their answers (the workers must be running)."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    started = time.perf_counter()
    await ensure_replies_topic(bootstrap, replies_topic)
    request = uuid.uuid4().hex
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await consumer.start()
    await producer.start()
    try:
        reply_tp = TopicPartition(replies_topic, 0)
        consumer.assign([reply_tp])
        await consumer.seek_to_end(reply_tp)
        await consumer.position(reply_tp)  # fix the start before any reply can exist
        partitions = sorted(await producer.partitions_for(events_topic))
        value, headers = encode_request(request, campaign, at)
        sent = [await producer.send(events_topic, value=value, key=b"$reach", partition=p, headers=headers)
                for p in partitions]
        await asyncio.gather(*sent)
        replies: dict[int, dict] = {}
        deadline = time.monotonic() + timeout
        while len(replies) < len(partitions):
            left = deadline - time.monotonic()
            if left <= 0:
                missing = sorted(set(partitions) - set(replies))
                raise ReachError(f"no reply for partition(s) {missing} of {events_topic} within {timeout:g}s "
                                 "(are the workers running, and with this --topic-prefix?)")
            batch = await consumer.getmany(reply_tp, timeout_ms=int(min(left, 0.5) * 1000))
            for record in batch.get(reply_tp, ()):
                reply = orjson.loads(record.value)
                if reply.get("request") == request:
                    replies.setdefault(int(reply["partition"]), reply)
        return total(campaign, at, len(partitions), replies, time.perf_counter() - started)
    finally:
        await producer.stop()
        await consumer.stop()


async def ensure_replies_topic(bootstrap: str, topic: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if topic in await admin.list_topics():
            return
        try:
            await admin.create_topics([NewTopic(topic, 1, 1)])
        except TopicAlreadyExistsError:
            pass
    finally:
        await admin.close()
