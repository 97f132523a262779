"""A scheduled run applied in place by the partition's owner (partition_runs.py): one
announcement becomes a run for each user of its partition in the segment, in the
announcement's place, and a batch read again after a crash reaches nobody twice."""

from __future__ import annotations

import asyncio

import orjson

from engine.agents.partition_runs import expand_runs
from engine.agents.records import decode_partition_run, encode_partition_run
from engine.agents.table import TableBatch, schedule_key
from engine.agents.schedules import write_cursors
from engine.agents.users import Record, UserProcessor
from engine.core import CampaignSet
from engine.rules.config import parse_config
from engine.rules.loader import parse_campaign
from engine.shell.metrics import worker_metrics

START = 1_795_600_800_000  # 2026-11-25T10:00:00Z
RUN_AT = START + 2 * 3_600_000  # the campaign's 12:00 run
SLOT = "2026-11-25T12:00"
CAMPAIGN = """\
campaign: news
who:
  segment: {did: App Launched, in_last: 30d}
when:
  schedule: {at: "2026-11-25T12:00"}
what: {title: "News"}
"""
SUB = {"endpoint": "https://fcm.googleapis.com/fcm/send/x",
       "keys": {"p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
                "auth": "BTBZMqHH6r4Tts7J_aSIgg"}}


class Table:
    """The state table's data as a dict store (bytes keys, as the changelog restores them)."""

    def __init__(self):
        self.data: dict[bytes, bytes] = {}

    def load(self, user, record):
        return self.data.get(user.encode())

    def save(self, result, only=None):
        for user, (stored, _record) in result.states.items():
            if only is None or user in only:
                self.data[user.encode()] = stored.dumps()


def event(user, name, offset, partition, props=None):
    value = orjson.dumps({"user": user, "event": name, "ts": START, "props": props or {}})
    return Record(user.encode(), value, [], START, partition, offset, "events")


def announcement(offset, partition=0, at=RUN_AT):
    value, headers = encode_partition_run("news", SLOT, at)
    return Record(None, value, headers, RUN_AT, partition, offset, "events")


def setup():
    campaigns = CampaignSet([parse_campaign(CAMPAIGN)], parse_config("{}"))
    clock = {"now": START}
    processor = UserProcessor(lambda: campaigns, worker_metrics(), lambda: clock["now"])
    table = Table()
    records, offsets = [], {0: 0, 1: 0}
    # a, b launched the app (partition 0), c did not (partition 0), d launched (partition 1)
    for user, partition, launched in (("a", 0, True), ("b", 0, True), ("c", 0, False), ("d", 1, True)):
        records.append(event(user, "$push_subscribe", offsets[partition], partition, SUB))
        offsets[partition] += 1
        if launched:
            records.append(event(user, "App Launched", offsets[partition], partition))
            offsets[partition] += 1
    table.save(processor.process(records, table.load))
    clock["now"] = RUN_AT
    return campaigns, processor, table


def expand(table, campaigns, records):
    return asyncio.run(expand_runs(table, campaigns, RUN_AT, records))


def test_an_announcement_becomes_a_run_for_each_user_of_its_partition_in_the_segment_in_its_place():
    campaigns, _processor, table = setup()
    # e is new in this batch (not in the store when the run reads it) and launched the app
    batch = [event("e", "$push_subscribe", 10, 0, SUB), event("e", "App Launched", 11, 0),
             announcement(12), event("a", "App Launched", 13, 0)]
    records, runs = expand(table, campaigns, batch)
    assert runs == [batch[2]]
    assert [(r.key, r.offset) for r in records] == [
        (b"e", 10), (b"e", 11), (b"a", 12), (b"b", 12), (b"e", 12), (b"a", 13)]
    assert all(r.partition == 0 for r in records)  # d, of partition 1, is not in this run


def test_the_run_reaches_each_user_once_when_its_batch_is_read_again_after_a_crash():
    campaigns, processor, table = setup()
    records, _runs = expand(table, campaigns, [announcement(12)])
    first = processor.process(records, table.load)
    assert sorted(n.user for n, _p in first.notifications) == ["a", "b"]
    table.save(first, only={"a"})  # killed while writing: b's state was not written

    records, _runs = expand(table, campaigns, [announcement(12)])  # the partition read again from 12
    again = processor.process(records, table.load)
    assert [n.user for n, _p in again.notifications] == ["b"]  # same message id as the first: de-duplicated
    assert [n.message_id for n, _p in again.notifications] == [
        n.message_id for n, _p in first.notifications if n.user == "b"]
    table.save(again)
    records, _runs = expand(table, campaigns, [announcement(12)])
    assert processor.process(records, table.load).notifications == []


def test_an_announcement_the_cursor_has_passed_or_repeated_in_a_batch_is_applied_once():
    campaigns, _processor, table = setup()
    records, runs = expand(table, campaigns, [announcement(12), announcement(13)])
    assert [r.offset for r in runs] == [12] and [r.key for r in records] == [b"a", b"b"]

    batch = TableBatch()
    write_cursors(batch, runs)  # the cursor the user agent writes after the run's states
    table.data.update(batch.partitions[0])
    assert table.data[schedule_key(0, "news")] == str(RUN_AT).encode()
    assert expand(table, campaigns, [announcement(14)]) == ([], [])  # the timer announced it again
    records, runs = expand(table, campaigns, [announcement(15, at=RUN_AT + 86_400_000)])
    assert len(runs) == 1 and [r.key for r in records] == [b"a", b"b"]  # the next day's run is new


def test_a_partition_run_record_round_trips_and_a_malformed_one_applies_to_nobody():
    assert decode_partition_run(encode_partition_run("news", SLOT, RUN_AT)[0]) == ("news", SLOT, RUN_AT)
    campaigns, _processor, table = setup()
    bad = Record(None, b'{"campaign": "news"}', encode_partition_run("news", SLOT, RUN_AT)[1], RUN_AT, 0, 12)
    assert expand(table, campaigns, [bad]) == ([], [])
