"""The sender's delivery results as one record per events partition, without Kafka: the
codec (grouped per partition, split under the size cap, either form read back), and the
user agent's grouped apply (a user's results in one record all counted, the record read
again counting nothing twice, the plain form of before still applied, bad ones dead)."""

from __future__ import annotations

import orjson
import pytest

from engine.agents.records import (
    INTERNAL_HEADER,
    RESULTS,
    decode_results,
    encode_results,
    encode_wake,
    result_events,
)
from engine.agents.stats import StatsBook
from engine.agents.users import Record
from engine.core import EventError
from engine.shell.stats import campaign_stats
from tests.unit.agents.test_agents_stats import (  # noqa: F401 (clock, processor: fixtures)
    DUE,
    SUB,
    SUB2,
    FakeTable,
    Ref,
    Stream,
    clock,
    processor,
    reminder,
    run,
    totals,
    write_stats,
)


def sent(user: str, message: str, endpoint: str, ts: int = DUE + 1000) -> dict:
    return {"user": user, "event": "$notification_sent", "ts": ts,
            "props": {"message": message, "campaign": "abandoned-cart", "endpoint": endpoint, "status": 201}}


def failed(user: str, message: str, endpoint: str, ts: int = DUE + 1000) -> dict:
    return {"user": user, "event": "$notification_failed", "ts": ts,
            "props": {"message": message, "campaign": "abandoned-cart", "endpoint": endpoint, "status": 410,
                      "reason": "gone"}}


def results_record(stream: Stream, events: list[dict]) -> Record:
    """The sender's record of `events` for the stream's partition, as app.py produces it."""
    ((partition, value, timestamp_ms, headers),) = encode_results([(e, stream.partition) for e in events])
    record = stream.record(value, None, headers)
    return Record(None, value, headers, timestamp_ms, partition, record.offset, "events", Ref())


def delivered(table: FakeTable) -> dict:
    stats = campaign_stats("abandoned-cart", totals(table)["abandoned-cart"])
    return {k: stats[k] for k in ("sent", "delivered", "failed", "unsubscribed")}


# --- the codec --------------------------------------------------------------------------

def test_results_are_one_record_per_partition_in_order_stamped_with_the_latest_ts():
    a1, a2, b1 = sent("a", "m1", "x", ts=5), failed("a", "m1", "y", ts=9), sent("b", "m2", "x", ts=7)
    records = encode_results([(a1, 3), (b1, 0), (a2, 3)])
    assert [(p, ts, h) for p, _v, ts, h in records] == [(3, 9, [(INTERNAL_HEADER, RESULTS)]),
                                                        (0, 7, [(INTERNAL_HEADER, RESULTS)])]
    assert decode_results(records[0][1]) == [a1, a2] and decode_results(records[1][1]) == [b1]


def test_a_partition_with_more_results_than_fit_is_split_each_record_under_the_cap():
    events = [sent(f"u{i}", f"m{i}", "https://push.example/" + "e" * 100) for i in range(50)]
    limit = 2000
    records = encode_results([(e, 1) for e in events], limit=limit)
    assert len(records) > 1 and all(len(value) <= limit for _p, value, _ts, _h in records)
    assert [e for _p, value, _ts, _h in records for e in decode_results(value)] == events


@pytest.mark.parametrize("value", [b"garbage", b"[]", b'{"results": []}', b'{"results": {}}', None])
def test_a_malformed_results_value_is_an_event_error(value):
    with pytest.raises(EventError, match="malformed internal results record"):
        decode_results(value)


def test_result_events_reads_either_form_and_nothing_else():
    event = sent("a", "m1", "x")
    ((_p, value, _ts, headers),) = encode_results([(event, 0), (event, 0)])
    assert result_events(value, headers) == [event, event]
    assert result_events(orjson.dumps(event), []) == [event]  # the plain form of before
    assert result_events(orjson.dumps({"user": "a", "event": "Viewed"}), []) == []
    assert result_events(*encode_wake("a", 1)) == []


# --- the grouped apply ------------------------------------------------------------------

@pytest.fixture
def decided(processor, clock):
    """u1 (two subscriptions) and u2 (one) were sent the reminder: (table, book, stream,
    u1's message, u2's message)."""
    table, book, stream = FakeTable(), StatsBook(), Stream()
    first = reminder(processor, clock, table, book, stream)
    second = reminder_of(processor, table, book, stream, "u2")
    clock["now"] = DUE + 1000
    return table, book, stream, first, second


def reminder_of(processor, table, book, stream, user: str) -> str:
    run(processor, table, book, [stream.event(user, "$push_subscribe", SUB),
                                 stream.event(user, "Added To Cart", {"product": "P", "cart_id": user, "price": 20},
                                              DUE - 600_000)])
    batch = run(processor, table, book, [stream.wake(user, DUE)])
    ((notify, _),) = batch.notifications
    return notify.message_id


def test_a_users_results_in_one_record_all_count_and_the_record_read_again_counts_none(processor, decided):
    table, book, stream, first, second = decided
    record = results_record(stream, [sent("u1", first, SUB["endpoint"]), sent("u2", second, SUB["endpoint"]),
                                     failed("u1", first, SUB2["endpoint"])])
    batch = run(processor, table, book, [record])
    assert not batch.dead_letters and set(batch.states) == {"u1", "u2"}
    assert delivered(table) == {"sent": 2, "delivered": 2, "failed": 1, "unsubscribed": 0}
    replayed = processor.metrics.replayed._value.get()
    # Read again after a crash that lost the applied offset: every user already applied it.
    batch = run(processor, table, book, [record])
    assert batch.states == {} and batch.moves == []
    assert processor.metrics.replayed._value.get() == replayed + 3
    assert delivered(table) == {"sent": 2, "delivered": 2, "failed": 1, "unsubscribed": 0}


def test_read_again_after_a_crash_between_two_users_states_counts_each_once(processor, decided):
    table, book, stream, first, second = decided
    record = results_record(stream, [sent("u1", first, SUB["endpoint"]), sent("u1", first, SUB2["endpoint"]),
                                     sent("u2", second, SUB["endpoint"])])
    batch = processor.process([record], table.load)
    write_stats(book, table, batch.moves, [record])  # the totals, then u1's state: the crash
    table.save_states(batch, only={"u1"})
    book = StatsBook()  # the partition's next owner reads the record again
    batch = run(processor, table, book, [record])
    assert set(batch.states) == {"u2"}  # u1's state applied it already
    assert delivered(table) == {"sent": 2, "delivered": 3, "failed": 0, "unsubscribed": 0}


def test_results_of_the_plain_form_still_apply(processor, decided):
    table, book, stream, first, second = decided
    run(processor, table, book, [stream.event("u1", "$notification_sent", sent("u1", first, SUB["endpoint"])["props"],
                                              DUE + 1000),
                                 results_record(stream, [sent("u1", first, SUB2["endpoint"]),
                                                         sent("u1", first, SUB["endpoint"])])])
    assert delivered(table)["delivered"] == 2  # the plain one, then the record's other subscription


def test_a_malformed_results_record_is_a_dead_letter(processor, decided):
    table, book, stream, _first, _second = decided
    bad = stream.record(b'{"results": "none"}', None, [(INTERNAL_HEADER, RESULTS)])
    batch = run(processor, table, book, [bad])
    ((letter,),) = [batch.dead_letters]
    assert (letter.record.offset, letter.field) == (bad.offset, "value")
    assert "malformed internal results record" in letter.reason


def test_a_bad_event_in_a_results_record_is_a_dead_letter_of_its_own_and_the_rest_apply(processor, decided):
    table, book, stream, first, _second = decided
    viewed = {"user": "u1", "event": "Viewed", "ts": DUE}
    batch = run(processor, table, book, [results_record(stream, [viewed, sent("u1", first, SUB["endpoint"])])])
    ((letter,),) = [batch.dead_letters]
    assert letter.field == "event" and "not a delivery result" in letter.reason
    assert (letter.record.key, orjson.loads(letter.record.value)) == (b"u1", viewed)  # producible again as is
    assert delivered(table)["delivered"] == 1
