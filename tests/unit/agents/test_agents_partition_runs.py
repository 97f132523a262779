"""A scheduled run applied in place by the partition's owner (partition_runs.py): one
announcement becomes a run for each user of its partition in the segment, in the
announcement's place, and a batch read again after a crash reaches nobody twice."""

from __future__ import annotations

import orjson

from engine.agents.partition_runs import expand_runs, one_step_each, progress_key, progress_value, read_progress
from engine.agents.records import decode_partition_run, encode_partition_run
from engine.agents.table import TableBatch, schedule_key
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


def announcement(offset, partition=0, at=RUN_AT, step=None):
    value, headers = encode_partition_run("news", SLOT, at, step)
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


def expand(table, campaigns, records, step=100, ahead=1):
    return expand_runs(table, campaigns, RUN_AT, records, step, ahead)


def applied(records):
    """(key, offset) of what the user agent applies: a record, or each user of a step."""
    out = []
    for record in records:
        if record.run is None:
            out.append((record.key, record.offset))
        else:
            out += [(user.encode(), record.offset) for user, _value, _body in record.run.users]
    return out


def written(table, steps):
    """The steps' table entries, written as the user agent does after the states."""
    batch = TableBatch()
    steps.write(batch)
    for partition in batch.partitions.values():
        for key, value in partition.items():
            if value is None:
                table.data.pop(key, None)
            else:
                table.data[key] = value


def test_an_announcement_becomes_a_run_for_each_user_of_its_partition_in_the_segment_in_its_place():
    campaigns, _processor, table = setup()
    # e is new in this batch (not in the store when the run reads it) and launched the app
    batch = [event("e", "$push_subscribe", 10, 0, SUB), event("e", "App Launched", 11, 0),
             announcement(12), event("a", "App Launched", 13, 0)]
    records, steps = expand(table, campaigns, batch)
    assert applied(records) == [
        (b"e", 10), (b"e", 11), (b"a", 12), (b"b", 12), (b"e", 12), (b"a", 13)]
    assert all(r.partition == 0 for r in records)  # d, of partition 1, is not in this run


def test_the_run_reaches_each_user_once_when_its_batch_is_read_again_after_a_crash():
    campaigns, processor, table = setup()
    records, _steps = expand(table, campaigns, [announcement(12)])
    first = processor.process(records, table.load)
    assert sorted(n.user for n, _p in first.notifications) == ["a", "b"]
    table.save(first, only={"a"})  # killed while writing: b's state was not written

    records, _steps = expand(table, campaigns, [announcement(12)])  # the partition read again from 12
    again = processor.process(records, table.load)
    assert [n.user for n, _p in again.notifications] == ["b"]  # same message id as the first: de-duplicated
    assert [n.message_id for n, _p in again.notifications] == [
        n.message_id for n, _p in first.notifications if n.user == "b"]
    table.save(again)
    records, _steps = expand(table, campaigns, [announcement(12)])
    assert processor.process(records, table.load).notifications == []


def test_a_run_goes_a_step_at_a_time_each_step_announcing_the_next_and_the_last_writing_the_cursor():
    campaigns, _processor, table = setup()
    records, steps = expand(table, campaigns, [announcement(12)], step=2)  # a, b of a, b, c
    assert applied(records) == [(b"a", 12), (b"b", 12)]
    assert [(p, decode_partition_run(v)) for p, v, _h in steps.following] == [(0, ("news", SLOT, RUN_AT, 1))]
    written(table, steps)
    assert table.data[progress_key(0, "news", RUN_AT)] == progress_value(0, b"b")  # step 0 applied, up to b

    # c is not in the segment; e joined after the run's start, before c's step: in it
    batch = [event("e", "$push_subscribe", 13, 0, SUB), event("e", "App Launched", 14, 0),
             announcement(15, step=1), announcement(16, step=1)]  # the step announced twice
    records, steps = expand(table, campaigns, batch, step=2)
    assert applied(records) == [(b"e", 13), (b"e", 14), (b"e", 15)]
    assert steps.following == []  # the last step
    written(table, steps)
    assert progress_key(0, "news", RUN_AT) not in table.data
    assert table.data[schedule_key(0, "news")] == str(RUN_AT).encode()


def test_steps_are_announced_ahead_each_applied_once_in_order_and_those_past_the_end_skipped():
    campaigns, _processor, table = setup()
    records, steps = expand(table, campaigns, [announcement(12)], step=1, ahead=3)
    assert [key for key, _offset in applied(records)] == [b"a"]
    assert [decode_partition_run(v)[3] for _p, v, _h in steps.following] == [1, 2, 3]  # ahead of their turn
    written(table, steps)
    # step 2 read before step 1 (not the next: skipped), step 1 (b), then each step keeps
    # three outstanding: step 1 announces step 4
    records, steps = expand(table, campaigns, [announcement(13, step=2), announcement(14, step=1)], step=1, ahead=3)
    assert applied(records) == [(b"b", 14)]
    assert [decode_partition_run(v)[3] for _p, v, _h in steps.following] == [4]
    written(table, steps)
    assert table.data[progress_key(0, "news", RUN_AT)] == progress_value(1, b"b")
    # step 1 read again: skipped; step 2 reads c, not in the segment (and d follows in this
    # memory store, of partition 1: more to read)
    records, steps = expand(table, campaigns, [announcement(15, step=1), announcement(16, step=2)], step=1, ahead=3)
    assert records == [] and [decode_partition_run(v)[3] for _p, v, _h in steps.following] == [5]
    written(table, steps)
    records, steps = expand(table, campaigns, [announcement(17, step=3), announcement(18, step=4)], step=1, ahead=3)
    assert records == [] and steps.following == []  # step 3 reads d, of partition 1: the end
    written(table, steps)
    assert table.data[schedule_key(0, "news")] == str(RUN_AT).encode()
    records, steps = expand(table, campaigns, [announcement(19, step=5)], step=1, ahead=3)
    assert records == [] and steps.following == [] and steps.entries == {}  # past the run's end


def test_a_run_under_way_when_the_workers_were_upgraded_goes_on_from_its_unnumbered_progress():
    campaigns, _processor, table = setup()
    table.data[progress_key(0, "news", RUN_AT)] = b"a"  # the old entry: the last key alone
    value = orjson.dumps({"campaign": "news", "slot": SLOT, "at": RUN_AT, "after": "a"})  # the old continuation
    old = Record(None, value, encode_partition_run("news", SLOT, RUN_AT)[1], RUN_AT, 0, 12, "events")
    records, steps = expand(table, campaigns, [old, old], step=1, ahead=2)  # read twice: applied once
    assert applied(records) == [(b"b", 12)]
    assert [decode_partition_run(v)[3] for _p, v, _h in steps.following] == [1, 2]
    assert steps.entries[(0, progress_key(0, "news", RUN_AT))] == progress_value(0, b"b")


def test_a_batch_is_cut_in_front_of_each_partitions_second_step_other_partitions_in_the_first_part():
    from types import SimpleNamespace

    def faust_event(record):
        return SimpleNamespace(message=SimpleNamespace(partition=record.partition, headers=record.headers),
                               record=record)

    batch = [announcement(1, step=1), event("a", "x", 2, 0), announcement(3, step=2), event("d", "x", 0, 1),
             announcement(4, step=3), event("b", "x", 5, 0), announcement(1, partition=1, step=1),
             event("d", "y", 2, 1)]
    parts = one_step_each([faust_event(r) for r in batch])
    assert [[(e.record.partition, e.record.offset) for e in part] for part in parts] == [
        [(0, 1), (0, 2), (1, 0), (1, 1), (1, 2)], [(0, 3)], [(0, 4), (0, 5)]]
    plain = [faust_event(event("a", "x", i, 0)) for i in range(3)]
    assert one_step_each(plain) == [plain]


def test_a_partition_run_record_round_trips_and_a_malformed_one_applies_to_nobody():
    assert decode_partition_run(encode_partition_run("news", SLOT, RUN_AT)[0]) == ("news", SLOT, RUN_AT, None)
    assert decode_partition_run(encode_partition_run("news", SLOT, RUN_AT, 3)[0])[3] == 3
    campaigns, _processor, table = setup()
    bad = Record(None, b'{"campaign": "news"}', encode_partition_run("news", SLOT, RUN_AT)[1], RUN_AT, 0, 12)
    records, steps = expand(table, campaigns, [bad])
    assert records == [] and steps.following == [] and steps.entries == {}


def test_a_step_reads_a_rocksdb_partition_in_key_order_after_the_last_key(tmp_path):
    from faust.stores.rocksdb import Store as RocksDBStore
    from rocksdict import Options, Rdict

    from engine.agents.partition_runs import stored_after

    class RocksStore(RocksDBStore):  # Faust's store over real RocksDB databases, not started
        def __init__(self, dbs):
            self._dbs = dbs

    db = Rdict(str(tmp_path / "p3"), Options(raw_mode=True))
    for key in (b"u3", b"u1", b"u2", b"\x00run/3/news@1", RocksDBStore.offset_key, b"u4"):
        db[key] = b"3 0 -\n{}"
    table = Table()
    table.data = RocksStore({3: db})
    try:
        assert [u for u, _v in stored_after(table, 3, b"", 2)[0]] == ["u1", "u2"]
        assert stored_after(table, 3, b"", 2)[1] is True
        rows, more = stored_after(table, 3, b"u2", 2)
        assert [u for u, _v in rows] == ["u3", "u4"] and more is False
        assert stored_after(table, 3, b"u4", 2) == ([], False)
        assert stored_after(table, 5, b"", 2) == ([], False)  # a partition not open here
    finally:
        db.close()


def test_runs_due_together_leave_the_cursor_at_the_latest_whichever_ends_last():
    campaigns, _processor, table = setup()
    later = RUN_AT + 86_400_000
    # the earlier run is under way when the later one (announced after it) starts and ends
    written(table, expand(table, campaigns, [announcement(12)], step=2)[1])
    written(table, expand(table, campaigns, [announcement(13, at=later)], step=10)[1])
    assert table.data[schedule_key(0, "news")] == str(later).encode()
    records, steps = expand(table, campaigns, [announcement(14, step=1)], step=10)
    assert records == [] and steps.following == []  # c is not in the segment: the earlier run ends
    written(table, steps)
    assert table.data[schedule_key(0, "news")] == str(later).encode()
    assert progress_key(0, "news", RUN_AT) not in table.data


def test_a_step_decides_as_a_run_record_for_each_of_its_users_would():
    from engine.agents.records import encode_run

    campaigns, processor, table = setup()
    records, _steps = expand(table, campaigns, [announcement(12)])
    in_place = processor.process(records, table.load)
    each = []
    for user in ("a", "b"):
        value, headers = encode_run(user, "news", SLOT, RUN_AT)
        each.append(Record(user.encode(), value, headers, RUN_AT, 0, 12, "events"))
    per_record = processor.process(each, table.load)
    assert in_place.notifications and in_place.notifications == per_record.notifications
    assert in_place.moves == per_record.moves
    assert {u: s.dumps() for u, (s, _r) in in_place.states.items()} == {
        u: s.dumps() for u, (s, _r) in per_record.states.items()}


def test_a_user_of_the_step_whose_events_were_dead_letters_and_who_is_not_stored_gets_no_state():
    campaigns, processor, table = setup()
    bad = Record(b"z", b"not json", [], START, 0, 11, "events")
    records, _steps = expand(table, campaigns, [bad, announcement(12)])
    assert (b"z", 12) in applied(records)  # its key is in the step's range: offered to the run
    result = processor.process(records, table.load)
    assert "z" not in result.states and sorted(result.states) == ["a", "b"]


def test_a_progress_entry_is_never_taken_for_an_unnumbered_one_nor_the_reverse():
    # an unnumbered entry is a user key alone: numeric ids and spaces are common in them
    for old in (b"12345", b"7 days", b"a"):
        assert read_progress(old) == (-1, old)
    for step, last in ((0, b"12345"), (12, b"7 days"), (3, b"a")):
        assert read_progress(progress_value(step, last)) == (step, last)


def test_a_user_whose_delivery_result_came_earlier_in_the_batch_is_offered_to_the_step():
    from engine.agents.records import encode_results

    campaigns = CampaignSet([parse_campaign(CAMPAIGN.replace("did: App Launched", "did: $notification_sent"))],
                            parse_config("{}"))
    _campaigns, _processor, table = setup()  # c: stored, and sent nothing yet
    sent = {"user": "c", "event": "$notification_sent", "ts": START,
            "props": {"message": "m", "campaign": "other", "endpoint": SUB["endpoint"], "status": 201}}
    ((_p, value, ts, headers),) = encode_results([(sent, 0)])
    batch = [Record(None, value, headers, ts, 0, 11, "events"), announcement(12)]
    records, _steps = expand(table, campaigns, batch)
    assert (b"c", 12) in applied(records)
    processor = UserProcessor(lambda: campaigns, worker_metrics(), lambda: RUN_AT)
    assert [n.user for n, _p in processor.process(records, table.load).notifications] == ["c"]
