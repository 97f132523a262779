"""Scheduled runs applied in place: the owner of a partition runs a campaign over the users
stored in that partition, a step at a time, with no record per user through Kafka.

    timer (schedules.py) ──▶ one `partition-run` record into each partition owned
    user agent, on reading a partition-run record at offset A (the announcement: step 0,
    or the continuation numbered n = the progress entry's step + 1):
        the next STEP stored users of the partition (in key order, after the progress
        entry's last key), segment first over the stored bytes as the embedded runtime's
        scheduler
        ──▶ the record, carrying the step (users.RunStep: each user in the segment with
            the stored value and the state parsed for the segment check), applied by the
            user agent in the record's place in its batch: each user's run tagged
            (partition, A), through the shell's step as in the embedded runtime
        ──▶ more users left: continuations into the same partition, AHEAD of them
            outstanding (the announcement makes 1..AHEAD, step n makes n + AHEAD), then the
            progress entry; none left: the schedule cursor

Continuations are announced ahead: a step's record produced only when the step before it
is applied lands behind every send result the sender agent produced meanwhile, and the
run waited for those (bench/RESULTS.md). A continuation names its step's number, not the
users it covers: what it reads comes from the progress entry when it is applied. A batch
applies at most one step of a partition: `one_step_each` cuts the agent's batch in front
of a partition's second partition-run record, and the parts are applied one after the
other, each written (sends, states, applied offsets) before the next, the event loop free
between them; a continuation is never moved or produced again, so a step is applied in
its own record's place, whatever the batch boundaries (the same after a crash).

A step is one record: live events between steps are applied between them, and each step
keeps the user agent's guarantees as any record does. Its sends are in Kafka before the
states, the states before the partition's applied offset, a user's state remembers it
applied A, and its stats are counted once, tagged with A (stats.py). After a kill -9 the
partition's next owner reads it again from its applied offset: a step read again skips
the users whose state was written and reaches the others (same message ids: de-duplicated),
then goes on from the progress entry.

Durable progress: the table entry `RUN_PREFIX partition/campaign@at` holds the number of
the last step applied and its last key, written after the step's states and after its
continuation is in Kafka (so a run never stalls: while users are left, the continuations
of the next AHEAD steps are in the partition after the applied offset), and deleted with
the step that ends the run, which writes the partition's schedule cursor instead. A
continuation is applied only when its number is the next (one read twice, or produced
twice by a step applied again after a crash, is applied once; those left after the run's
end are skipped), and an announcement of a run under way or done (a timer that announced
it again after a rebalance) is skipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Iterable

import orjson

from engine.agents import faust_private
from engine.agents.records import (
    INTERNAL_HEADER,
    decode_partition_run,
    decode_results,
    encode_partition_run,
    header,
    is_partition_run,
    is_results,
)
from engine.agents.table import INTERNAL_KEY, schedule_key
from engine.agents.users import Record, RunStep
from engine.core import CampaignSet, EventError
from engine.shell.reach import qualifying

log = logging.getLogger(__name__)

# Stored users read per step (`pushcast worker --run-step`): ~20 ms of the event loop to
# read and ~800 run inputs to apply at 16% in the segment (bench_kafka_schedule.py).
STEP = 5000
# Continuations of a run kept outstanding in its partition (`pushcast worker --run-ahead`).
AHEAD = 4
RUN_PREFIX = INTERNAL_KEY + b"run/"


def progress_key(partition: int, campaign: str, at: int) -> bytes:
    return RUN_PREFIX + f"{partition}/{campaign}@{at}".encode()


def progress_value(step: int, last: bytes) -> bytes:
    # NUL first: no user key starts with it (table.INTERNAL_KEY), so this is never taken
    # for an entry of a worker from before steps were numbered (a last key alone).
    return b"\x00%d %s" % (step, last)


def read_progress(value: bytes) -> tuple[int, bytes]:
    """(the last step applied, its last key) of a progress entry. An entry of a worker
    from before steps were numbered is its last key alone: step -1, so that the run's one
    continuation from then (records.decode_partition_run: step 0) goes on from it."""
    if value.startswith(b"\x00"):
        step, _, last = value[1:].partition(b" ")
        return int(step), last
    return -1, value


def one_step_each(events: list) -> list[list]:
    """The agent's batch (Faust events) cut in front of each partition's second, third...
    partition-run record: parts applied one after the other, each holding at most one
    step of a partition, every partition's records in order. Other partitions' records
    go in the first part: a run's steps never hold them back."""
    parts: list[list] = [[]]
    seen: dict[int, int] = {}  # partition -> partition-run records so far
    for event in events:
        message = event.message
        partition = message.partition
        if is_partition_run(message.headers):
            seen[partition] = seen.get(partition, 0) + 1
        part = max(seen.get(partition, 0) - 1, 0)
        while len(parts) <= part:
            parts.append([])
        parts[part].append(event)
    return parts


@dataclass
class RunSteps:
    """What a batch's partition-run records leave to do: the next steps' records, into
    Kafka before the batch's writes (`announce`), and the progress entries and schedule
    cursors, into the table after its states (`write`)."""

    following: list[tuple[int, bytes, list]] = field(default_factory=list)  # (partition, value, headers)
    entries: dict[tuple[int, bytes], bytes | None] = field(default_factory=dict)  # None: delete

    async def announce(self, topic) -> None:
        sent = [await topic.send(key=None, value=value, partition=partition, headers=headers)
                for partition, value, headers in self.following]
        for future in sent:
            await future

    def write(self, batch) -> None:
        for (partition, key), value in self.entries.items():
            batch.put(partition, key, value)


def expand_runs(table, campaigns: CampaignSet, now: int, records: list[Record],
                step: int = STEP, ahead: int = AHEAD) -> tuple[list[Record], RunSteps]:
    """`records` with each partition-run record carrying its step (`run`): each user of
    the step in the campaign's segment at `now` (and each user of the step's key range
    with an event before it in the batch: not in the store yet; the core checks the
    segment again for each); a step that reaches nobody is dropped. And what the steps
    leave to do: `ahead` continuations outstanding while users are left."""
    steps = RunSteps()
    if not any(is_partition_run(r.headers) for r in records):
        return records, steps
    read = faust_private.store_reader(table.data)

    def entry(partition: int, key: bytes) -> bytes | None:  # this batch's writes first
        found = steps.entries.get((partition, key), b"")
        return read(partition, key) if found == b"" else found

    out: list[Record] = []
    for i, record in enumerate(records):
        if not is_partition_run(record.headers):
            out.append(record)
            continue
        try:
            campaign, slot, at, number = decode_partition_run(record.value)
        except Exception:
            log.warning("ignoring a malformed partition-run record at %s[%d]@%d", record.topic, record.partition,
                        record.offset)
            continue
        partition = record.partition
        progress = progress_key(partition, campaign, at)
        done = entry(partition, progress)
        if number is None:  # the run's announcement: skipped if the run is under way or made
            made = entry(partition, schedule_key(partition, campaign))
            if done is not None or (made is not None and int(made) >= at):
                continue
            number, start = 0, b""
        else:  # a continuation: skipped unless it is the next step of a run under way
            if done is None:
                continue
            last_step, start = read_progress(done)
            if number != last_step + 1:
                continue
        compiled = campaigns.get(campaign)
        users: list[tuple[str, bytes | None, dict | None]] = []
        if compiled is None:  # a reload dropped the campaign: the run ends here
            more = False
        else:
            rows, more = stored_after(table, partition, start, step)
            last = rows[-1][0].encode() if more else None
            users = [(user, value, body) for (user, value), body in qualifying(_bodies(rows, partition), compiled, now)]
            touched = {u for u in touched_before(records[:i], partition)
                       if u.encode() > start and (last is None or u.encode() <= last)}
            users += [(user, None, None) for user in sorted(touched.difference(user for user, _v, _b in users))]
        if users:
            out.append(replace(record, run=RunStep(campaign, slot, at, users)))
        if more:
            following = range(1, ahead + 1) if number == 0 else (number + ahead,)
            steps.following += [(partition, *encode_partition_run(campaign, slot, at, n)) for n in following]
            steps.entries[(partition, progress)] = progress_value(number, last)
        else:
            steps.entries[(partition, progress)] = None
            cursor_key = schedule_key(partition, campaign)
            cursor = entry(partition, cursor_key)
            if cursor is None or int(cursor) < at:  # runs due together may end in any order
                steps.entries[(partition, cursor_key)] = str(at).encode()
            log.info("campaign %s: run %s over partition %d applied", campaign, slot, partition)
    return out, steps


def stored_after(table, partition: int, after: bytes, count: int) -> tuple[list[tuple[str, bytes]], bool]:
    """Up to `count` (user, stored value) of the partition's store, in key order after the
    key `after` (b"": from the first), and whether more follow."""
    store = table.data
    dbs = faust_private.partition_dbs(store, {partition})
    if dbs is None:  # a memory store: one dict for every partition
        items: Iterable = sorted((k, v) for k, v in store.items() if k > after)
    else:
        items = dbs[0].items(from_key=after) if dbs else ()
    skip = getattr(store, "offset_key", None)  # where Faust keeps a RocksDB partition's changelog position
    rows: list[tuple[str, bytes]] = []
    for key, value in items:
        if key <= after or key == skip or key.startswith(INTERNAL_KEY) or value is None:
            continue
        if len(rows) == count:
            return rows, True
        rows.append((key.decode(), value))
    return rows, False


def touched_before(records: list[Record], partition: int) -> set[str]:
    """The users of `partition`'s user events and delivery results among `records` (their
    states may change in this batch, before the run's store was read)."""
    users = set()
    for record in records:
        if record.partition != partition:
            continue
        if is_results(record.headers):  # a segment may name `$notification_sent`
            users.update(_result_users(record.value))
            continue
        if header(record.headers, INTERNAL_HEADER) is not None:
            continue
        try:
            user = record.key.decode() if record.key is not None else str(orjson.loads(record.value)["user"])
        except Exception:  # a dead letter: applies to nobody
            continue
        users.add(user)
    return users


def _result_users(value: bytes | None) -> list[str]:
    try:
        events = decode_results(value)
    except EventError:  # a dead letter: applies to nobody
        return []
    return [e["user"] for e in events if isinstance(e, dict) and isinstance(e.get("user"), str)]


def _bodies(stored: list[tuple[str, bytes]], partition: int) -> Iterable[tuple[tuple[str, bytes], bytes]]:
    """((user, stored value), state body) of the stored states written for `partition`
    (records.StoredState)."""
    for row in stored:
        value = row[1]
        if int(value[:value.index(b" ")]) == partition:
            yield row, value[value.index(b"\n") + 1:]
