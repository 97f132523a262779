"""The user agent's state table: users' stored states, each partition's applied offset
(where pushcast reads the partition from after a rebalance; offsets.py), each
partition's schedule cursor per scheduled campaign (the last run made over it), and each
partition's running campaign stats (stats.py) and the A/B winners it was told (winners.py).

Keys are bytes: a user id, or a NUL-led internal key (APPLIED_PREFIX + partition,
SCHEDULE_PREFIX + partition/campaign, STATS_PREFIX + partition[/campaign],
WINNER_PREFIX + partition/campaign). Values are bytes too
(`records.StoredState.dumps()`, or a number in ASCII).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Iterable

from faust.types import TP

from engine.agents import faust_private

# Table keys of the per-partition applied offsets and schedule cursors; user ids never
# contain NUL (events.py), so every internal key starts with one.
INTERNAL_KEY = b"\x00"
APPLIED_PREFIX = b"\x00applied/"
SCHEDULE_PREFIX = b"\x00schedule/"
STATS_PREFIX = b"\x00stats/"
WINNER_PREFIX = b"\x00winner/"
USERS_FROM = b"\x01"  # the first key after every internal one


def applied_key(partition: int) -> bytes:
    return APPLIED_PREFIX + str(partition).encode()


def user_items(table) -> list[tuple[str, bytes]]:
    """(user, stored bytes) of the table's users (not its applied-offset entries)."""
    return [(key.decode() if isinstance(key, bytes) else key, value) for key, value in table.data.items()
            if value is not None and not (isinstance(key, bytes) and key.startswith(INTERNAL_KEY))]


async def scan_users(table, partitions: set[int], slice_size: int = 5000) -> list[tuple[str, bytes]]:
    """`user_items` of `partitions`, read from RocksDB a slice at a time so the event loop
    keeps running (wake-ups fire on time): a million users take seconds to read. A memory
    store is copied at once (a dict copies fast, and may not change while it is read);
    callers still check each state's own partition."""
    store = table.data
    dbs = faust_private.partition_dbs(store, partitions)
    if dbs is None:
        return user_items(table)
    skip = store.offset_key  # where Faust keeps a partition's changelog position
    out: list[tuple[str, bytes]] = []
    for db in dbs:
        for i, (key, value) in enumerate(db.items()):
            if value is not None and key != skip and not key.startswith(INTERNAL_KEY):
                out.append((key.decode(), value))
            if i % slice_size == slice_size - 1:
                await asyncio.sleep(0)
    return out


def user_values(table, partition: int) -> Iterable[bytes]:
    """The stored values of `partition`'s users, for a count that checks each value's own
    partition (a stored state's header) and passes over any other value. A RocksDB store:
    the partition database's values, read in key order around the keys that are not
    users', skipped by range (no test a key, and no key read): the NUL-led internal keys
    sort first, and Faust's changelog position (`offset_key`) is one key. Made now (an
    iterator reads the database as it is when made), read later, and fast: values only,
    ~0.6 µs a user against ~1 µs for (key, value) pairs and the key tests (bench/RESULTS.md).
    A memory store: its users' values, copied now."""
    store = table.data
    dbs = faust_private.partition_dbs(store, {partition})
    if dbs is None:
        return [value for _user, value in user_items(table)]
    if not dbs:
        return iter(())
    return faust_private.values_around(dbs[0], USERS_FROM, store.offset_key)


def user_db(table, partition: int) -> tuple[Path, bytes] | None:
    """Where `partition`'s RocksDB database is, for a reader in another process
    (reach_pool.py): (its path, the key of Faust's changelog position, not a user's);
    None for a memory store or a partition not open here."""
    store = table.data
    if not faust_private.partition_dbs(store, {partition}):
        return None
    return store.partition_path(partition), store.offset_key


def in_context(event) -> None:
    # Faust picks a table's partition (changelog and store) from the current event; a
    # batch holds records of several partitions, so each write names its own record.
    faust_private.set_current_event(event)


class TableBatch:
    """A user-agent batch's table writes, kept per partition in the order made (stats,
    states, applied offset: the order a crash must leave a prefix of) and applied by
    `write_batch` at once. `None` deletes a key. A key written again keeps its first place."""

    def __init__(self):
        self.partitions: dict[int, dict[bytes, bytes | None]] = {}

    def put(self, partition: int, key: bytes, value: bytes | None) -> None:
        self.partitions.setdefault(partition, {})[key] = value

    def delete(self, partition: int, key: bytes) -> None:
        self.put(partition, key, None)

    def pending(self, partition: int, key: bytes) -> bool:
        return key in self.partitions.get(partition, ())

    def apply_to(self, mapping) -> None:
        """What `write_batch` leaves in a memory store (one mapping for every partition)."""
        for items in self.partitions.values():
            for key, value in items.items():
                if value is None:
                    mapping.pop(key, None)
                else:
                    mapping[key] = value


async def write_batch(table, producer, batch: TableBatch) -> None:
    """Apply `batch`: per partition, one store write (a RocksDB WriteBatch) and its
    changelog records handed to aiokafka in order (it gathers a partition's records into
    one record batch). Faust's own write path (`table[key] = value`) takes a store write
    and a changelog send through its producer buffer per key (~25% of a busy worker,
    bench/RESULTS.md). aiokafka's `send_batch` is not used: it waits for the partition's
    previous batch to be sent, a broker round trip per batch. The changelog stays the
    recovery source: as Faust does after a changelog send, the store remembers the
    changelog offset it holds once the broker acknowledged the partition's last record."""
    store = table.data
    topic = table.changelog_topic.get_topic_name()
    send = faust_private.kafka_producer(producer).send
    for partition, items in batch.partitions.items():
        if not items:
            continue
        faust_private.write_store_partition(store, partition, items)
        sent = None
        for key, value in items.items():
            sent = await send(topic, value, key=key, partition=partition)
        sent.add_done_callback(_persisted(store, TP(topic, partition)))


def _persisted(store, tp):
    def done(future) -> None:
        if not future.cancelled() and future.exception() is None:
            store.set_persisted_offset(tp, future.result().offset)
    return done


def write_applied(batch: TableBatch, records) -> None:
    """After the states: the last applied offset of each partition of a batch, in that
    partition's changelog (a partition is read again from the offset after it)."""
    last = {}
    for record in records:
        last[record.partition] = record.offset
    for partition, offset in last.items():
        batch.put(partition, applied_key(partition), str(offset).encode())


def applied_position(table, partition: int) -> int:
    """The offset to read `partition` from: after the last record applied (0: none yet)."""
    value = table.data.get(applied_key(partition))
    return int(value) + 1 if value is not None else 0


def schedule_key(partition: int, campaign: str) -> bytes:
    return SCHEDULE_PREFIX + f"{partition}/{campaign}".encode()


def write_schedule_cursor(batch: TableBatch, record, campaign: str, at: int) -> None:
    """A scheduled run over the record's partition is made up to `at` (the cursor record
    follows the run's records in the partition, so they are applied before it)."""
    batch.put(record.partition, schedule_key(record.partition, campaign), str(at).encode())


def schedule_cursor(table, partition: int, campaign: str) -> int | None:
    """The time of the last run of `campaign` made over `partition` (None: never)."""
    value = table.data.get(schedule_key(partition, campaign))
    return int(value) if value is not None else None
