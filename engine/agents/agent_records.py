"""What the two agents write to each other: the user agent's notifications into the sends
topic, the sender agent's delivery results back into the events topic.

Both are batched (records.py): one sends record per user-agent batch and sends partition,
one `results` record per sender batch and events partition, since a record each cost a
produce and a Faust delivery (most of a scheduled run's cost, bench/RESULTS.md). Workers
of versions before read neither form, so `WorkerSettings.single_records` writes the old
ones, a record per notification and per result, for a rolling upgrade from such a version
(docs/kafka.md, Upgrades); every version since reads both.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson

from engine.agents.records import decode_sends, encode_notify, encode_results, encode_sends, sends_partition
from engine.agents.users import DeadLetter, Record
from engine.core import Notify

if TYPE_CHECKING:
    from engine.agents.app import Worker


async def produce_sends(worker: Worker, notifications: list[tuple[Notify, int]]) -> list[Any]:
    """Produce a user-agent batch's (notify, events partition) pairs; the producer's
    futures, each done once Kafka has the record."""
    settings = worker.settings
    topic = worker.sends_topic.get_topic_name()
    if settings.single_records:
        records = [(sends_partition(n.user, settings.sends_partitions), n.user.encode(),
                    encode_notify(n, p, settings.track_secret)) for n, p in notifications]
    else:
        records = [(partition, None, value) for partition, value
                   in encode_sends(notifications, settings.sends_partitions, settings.track_secret)]
    # Straight to the producer (Faust's public `Producer.send`): a topic's `send` adds its
    # own message objects and callbacks per record.
    producer = worker.app.producer
    return [await producer.send(topic, key, value, partition, None, None) for partition, key, value in records]


async def handle_send_batch(worker: Worker, records: list[Record]) -> None:
    """The sender agent's batch: its notifications delivered `batch_size` at a time (a
    record holds up to hundreds: a sender behind a scheduled run holds no more at once
    than with one per record), each slice's results produced before the next."""
    notifications = await _read_sends(worker, records)
    size = worker.settings.batch_size
    pending = []
    for start in range(0, len(notifications), size):
        results = await worker.sends.process(notifications[start:start + size])
        pending += await _produce_results(worker, results)
    for future in pending:  # the results in Kafka before the batch is acknowledged (a failure raises)
        await future


async def _read_sends(worker: Worker, records: list[Record]) -> list[tuple[Notify, int]]:
    """The (notify, events partition) pairs of sends records of either form; a malformed
    record, or one notification of a record, to the dead letters (the rest are sent)."""
    notifications, letters = [], []
    for record in await worker.admit(worker.sends_guard, records):
        try:
            found, malformed = decode_sends(record.value)
        except Exception as exc:
            letters.append(DeadLetter(record, "value", f"not a pushcast send: {exc!r}"))
            continue
        notifications += found
        letters += [DeadLetter(replace(record, key=bad.key, value=bad.value), "value",
                               f"not a pushcast send: {bad.reason}") for bad in malformed]
    await worker.dead_letter(letters)
    return notifications


async def _produce_results(worker: Worker, results: list[tuple[dict, int]]) -> list[Any]:
    # Stamped with the worker's clock, which wrote the events' `ts`: the user agent bounds
    # `ts` by the record's time (a test clock may run days ahead of the wall).
    if worker.settings.single_records:
        records = [(partition, event["user"].encode(), orjson.dumps(event), event["ts"], None)
                   for event, partition in results]
    else:
        records = [(partition, None, value, ts, headers) for partition, value, ts, headers in encode_results(results)]
    producer, topic = worker.app.producer, worker.events_topic.get_topic_name()
    return [await producer.send(topic, key, value, partition, timestamp_ms / 1000, headers)
            for partition, key, value, timestamp_ms, headers in records]
