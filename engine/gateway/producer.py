"""What the gateway writes into the events topic: validated events and checked reports,
as the JSON events every producer writes (docs/events.md), keyed by user.

The producer is idempotent with acks=all: `produce` returns only once every record of a
request is acknowledged by the in-sync replicas, so an HTTP 200 means the events are in
Kafka (a gateway killed after it loses nothing), and a retried send inside the producer
never writes a record twice.
"""

from __future__ import annotations

import asyncio

import orjson

from engine.core import Event
from engine.shell.inputs import Report, report_event


def encode_event(event: Event) -> tuple[bytes, bytes]:
    """(key, value): the user and the event with its `ts` made explicit, so the worker
    applies it at the time the gateway received it, whenever the record is read."""
    value = {"user": event.user, "event": event.name, "ts": event.ts}
    if event.props:
        value["props"] = event.props
    return event.user.encode(), orjson.dumps(value)


def report_record(report: Report, now: int) -> tuple[bytes, bytes]:
    """A checked shown/clicked report as the core's `$notification_shown|clicked` event,
    into the partition of the user the message was sent to (the signed payload's user)."""
    return encode_event(report_event(report.user, report.kind, report.message_id, report.campaign,
                                     report.action, now, report.variant))


class EventProducer:
    def __init__(self, bootstrap: str, topic: str, *, linger_ms: int = 0):
        self.bootstrap = bootstrap
        self.topic = topic
        self.linger_ms = linger_ms
        self._producer = None

    async def start(self) -> None:
        from aiokafka import AIOKafkaProducer

        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True,
                                          linger_ms=self.linger_ms, request_timeout_ms=15000)
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    async def produce(self, records: list[tuple[bytes, bytes]]) -> None:
        """Every (key, value) into the topic; returns when Kafka acknowledged them all,
        raises the first failure (the caller answers an error: nothing is acknowledged)."""
        send = self._producer.send
        futures = [await send(self.topic, value=value, key=key) for key, value in records]
        await asyncio.gather(*futures)

    async def partitions(self) -> list[int]:
        return sorted(await self._producer.partitions_for(self.topic))
