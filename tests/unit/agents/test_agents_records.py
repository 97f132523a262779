"""Record formats of the Kafka runtime: events, internal records, sends, stored state."""

import orjson
import pytest

from engine.agents.records import (
    INTERNAL_HEADER, ScheduledRun, StoredState, WakeUp, decode_notify, decode_record, encode_notify, encode_run,
    encode_wake, peek_due,
)
from engine.core import Event, EventError, Notify, Subscription, UserState
from engine.core.state import Wait


def test_a_json_event_keyed_by_its_user_decodes_with_the_record_time_for_a_missing_ts():
    event = decode_record(b"u1", orjson.dumps({"user": "u1", "event": "Viewed"}), [], 1234)
    assert event == Event("u1", "Viewed", 1234, {})


@pytest.mark.parametrize("key, value, field", [
    (b"u1", b"\xff\x00", "value"),
    (b"u1", None, "value"),
    (b"u1", orjson.dumps({"event": "Viewed"}), "user"),
    (b"u1", orjson.dumps({"user": 7, "event": "Viewed"}), "user"),
    (b"u1", orjson.dumps({"user": "u1", "event": "Viewed", "props": "x"}), "props"),
    (b"u1", orjson.dumps({"user": "u1", "event": "$wake"}), "event"),
    (b"u2", orjson.dumps({"user": "u1", "event": "Viewed"}), "key"),
    (b"\xff", orjson.dumps({"user": "u1", "event": "Viewed"}), "key"),
])
def test_malformed_records_raise_with_the_field_to_blame(key, value, field):
    with pytest.raises(EventError) as info:
        decode_record(key, value, [], 0)
    assert info.value.field == field


def test_internal_records_need_the_header_and_round_trip():
    value, headers = encode_wake("u1", 99)
    assert decode_record(b"u1", value, headers, 0) == WakeUp("u1", 99)
    value, headers = encode_run("u1", "win-back", "2026-11-30T10:00", 5)
    assert decode_record(b"u1", value, headers, 0) == ScheduledRun("u1", "win-back", "2026-11-30T10:00", 5)
    # Without the header, the same JSON is a user event, and an invalid one.
    with pytest.raises(EventError):
        decode_record(b"u1", value, [], 0)
    with pytest.raises(EventError):
        decode_record(b"u1", b'{"user": "u1"}', [(INTERNAL_HEADER, b"wake")], 0)
    with pytest.raises(EventError):
        decode_record(b"u1", b'{}', {INTERNAL_HEADER: b"explode"}, 0)


def test_a_notify_round_trips_through_the_sends_topic_with_its_partition():
    notify = Notify("m1", "cart", "u1", 10, {"title": "Hi ✈️"}, (Subscription("https://e/1", "k", "a"),), 3600,
                    "high", test=True)
    assert decode_notify(encode_notify(notify, 5)) == (notify, 5)


def test_stored_state_keeps_the_replay_offset_and_next_due_in_a_header():
    state = UserState("u1", profile={"name": "Asha"})
    state.waits.append(Wait("cart", "inaction", 500, "m1", "Added To Cart", {}))
    stored = StoredState(state, partition=3, offset=41)
    raw = stored.dumps()
    assert peek_due(raw) == (3, 500)
    again = StoredState.loads(raw)
    assert (again.partition, again.offset, again.state) == (3, 41, state)
    assert peek_due(StoredState(UserState("u2"), 1, 2).dumps()) == (1, None)
