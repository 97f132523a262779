"""A requester's line to the running workers: internal records into the events topic,
answers on the replies topic (`PREFIXreach-replies`, one partition), matched by request id.

The replies topic is read from its end as it was before the first request is sent, so
every answer to this requester's requests is seen, and older ones never are.
"""

from __future__ import annotations

import time
from typing import Callable, Hashable

import orjson


class ReplyChannel:
    """`async with ReplyChannel(bootstrap, replies_topic) as channel:` then `send` and
    `collect` (the workers must be running)."""

    def __init__(self, bootstrap: str, replies_topic: str):
        self.bootstrap = bootstrap
        self.replies_topic = replies_topic
        self._consumer = self._producer = self._reply_tp = None

    async def __aenter__(self) -> "ReplyChannel":
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

        await ensure_replies_topic(self.bootstrap, self.replies_topic)
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await self._consumer.start()
        await self._producer.start()
        self._reply_tp = TopicPartition(self.replies_topic, 0)
        self._consumer.assign([self._reply_tp])
        await self._consumer.seek_to_end(self._reply_tp)
        await self._consumer.position(self._reply_tp)  # fix the start before any reply can exist
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self._producer.stop()
        await self._consumer.stop()

    async def partitions(self, topic: str) -> list[int]:
        return sorted(await self._producer.partitions_for(topic))

    async def send(self, topic: str, records: list[tuple[bytes, bytes, list, int | None]]) -> None:
        """Produce (key, value, headers, partition or None: by key) records; returns once
        Kafka has them all."""
        sent = [await self._producer.send(topic, value=value, key=key, headers=headers, partition=partition)
                for key, value, headers, partition in records]
        for future in sent:
            await future

    async def collect(self, request: str, key_of: Callable[[dict], Hashable], expected: set,
                      timeout: float) -> dict:
        """The first reply to `request` for each key in `expected` (`key_of(reply)`), until
        all came or `timeout` seconds passed (then the caller names what is missing)."""
        replies: dict = {}
        deadline = time.monotonic() + timeout
        while not expected <= set(replies):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            batch = await self._consumer.getmany(self._reply_tp, timeout_ms=int(min(left, 0.5) * 1000))
            for record in batch.get(self._reply_tp, ()):
                reply = orjson.loads(record.value)
                if reply.get("request") == request:
                    key = key_of(reply)
                    if key in expected:
                        replies.setdefault(key, reply)  # a redelivered request is answered again
        return replies


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
