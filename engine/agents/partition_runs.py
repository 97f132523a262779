"""Scheduled runs applied in place: the owner of a partition runs a campaign over the users
stored in that partition, with no record per user through Kafka.

    timer (schedules.py) ──▶ one `partition-run` record into each partition owned
    user agent, on reading it at offset A ──▶ the users of the partition in the segment,
        read from the partition's store (segment-first over the stored bytes, as the
        embedded runtime's scheduler), each made a run input at (partition, A) and
        applied by the user agent in the record's place in its batch

Each user's run input is the run record the timer used to produce, but made here, tagged
with the announcement's own position. So the existing guarantees hold unchanged: the
states are written after the run's sends are in Kafka and before the partition's applied
offset, a user's state remembers it applied A (the run's progress is the users' states),
and a crash makes the partition read again from before A: the users whose state was
written are skipped as applied, the others get the run, their sends de-duplicated by
message id. The stats the run moves are counted once, tagged with A (stats.py). The
partition's schedule cursor is written after the states (schedules.py `write_cursors`);
an announcement of a run the cursor has already passed (a timer that died before its
cursor was kept, then announced again) is skipped.

The whole run over a partition is applied in the batch that reads its announcement:
live events of the worker wait for it (~1 s per 20,000 users in the segment, bench/RESULTS.md).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Iterable

import orjson

from engine.agents import faust_private
from engine.agents.records import INTERNAL_HEADER, decode_partition_run, encode_run, header, is_partition_run
from engine.agents.table import scan_users, schedule_key
from engine.agents.users import Record
from engine.core import CampaignSet
from engine.shell.reach import qualifiers

log = logging.getLogger(__name__)


async def expand_runs(table, campaigns: CampaignSet, now: int,
                      records: list[Record]) -> tuple[list[Record], list[Record]]:
    """(`records` with each partition-run record replaced by one run record for each user
    of its partition in the campaign's segment at `now`, or who has a record before it in
    the batch (not in the store yet; the core checks the segment again for each); the
    partition-run records applied, whose cursors the batch writes after the states)."""
    if not any(is_partition_run(r.headers) for r in records):
        return records, []
    read = faust_private.store_reader(table.data)
    out: list[Record] = []
    applied: list[Record] = []
    made: set[tuple[int, str, int]] = set()  # runs announced twice in one batch
    for i, record in enumerate(records):
        if not is_partition_run(record.headers):
            out.append(record)
            continue
        try:
            campaign, slot, at = decode_partition_run(record.value)
        except Exception:
            log.warning("ignoring a malformed partition-run record at %s[%d]@%d", record.topic, record.partition,
                        record.offset)
            continue
        partition = record.partition
        cursor = read(partition, schedule_key(partition, campaign))
        if (partition, campaign, at) in made or (cursor is not None and int(cursor) >= at):
            continue  # made before: the timer announced it again
        made.add((partition, campaign, at))
        applied.append(record)
        compiled = campaigns.get(campaign)
        if compiled is None:  # a reload dropped the campaign
            continue
        stored = await scan_users(table, {partition})
        found = await asyncio.to_thread(qualifiers, _bodies(stored, partition), compiled, now)
        users = found + sorted(touched_before(records[:i], partition) - set(found))
        out.extend(run_records(record, users, campaign, slot, at))
        log.info("campaign %s: run %s over partition %d: %d user(s) in the segment, %d stored",
                 campaign, slot, partition, len(found), len(stored))
    return out, applied


def run_records(announcement: Record, users: Iterable[str], campaign: str, slot: str, at: int) -> list[Record]:
    """One run record per user, in the announcement's place (its partition and offset):
    what the user agent applies, and its replay guard."""
    out = []
    for user in users:
        value, headers = encode_run(user, campaign, slot, at)
        out.append(Record(user.encode(), value, headers, announcement.timestamp_ms, announcement.partition,
                          announcement.offset, announcement.topic, announcement.ref))
    return out


def touched_before(records: list[Record], partition: int) -> set[str]:
    """The users of `partition`'s user events among `records` (their states may change in
    this batch, before the run's store was read)."""
    users = set()
    for record in records:
        if record.partition != partition or header(record.headers, INTERNAL_HEADER) is not None:
            continue
        try:
            user = record.key.decode() if record.key is not None else str(orjson.loads(record.value)["user"])
        except Exception:  # a dead letter: applies to nobody
            continue
        users.add(user)
    return users


def _bodies(stored: list[tuple[str, bytes]], partition: int) -> Iterable[tuple[str, bytes]]:
    """(user, state body) of the stored states written for `partition` (records.StoredState)."""
    for user, value in stored:
        newline = value.index(b"\n")
        if int(value[:value.index(b" ")]) == partition:
            yield user, value[newline + 1:]
