"""The sends topic's records: one per user-agent batch and sends partition, read along with
the one-notification records of before."""

import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner

from engine.agents.records import (
    RECORD_MAX_BYTES, decode_notify, decode_sends, encode_notify, encode_sends, sends_partition,
)
from engine.core import Notify, Subscription
from engine.shell.tracking import check_signature


def _notify(n: int, user: str | None = None, title: str = "Hi ✈️") -> Notify:
    return Notify(f"m{n}", "cart", user or f"u{n}", 10 + n, {"title": title},
                  (Subscription(f"https://e/{n}", "k", "a"),), 3600, "high", variant="B" if n % 2 else None)


def test_a_batch_round_trips_one_record_per_sends_partition_in_decision_order():
    pairs = [(_notify(n, user=f"u{n % 7}"), n % 3) for n in range(40)]
    records = encode_sends(pairs, 4)
    assert len(records) == len({p for p, _ in records}) <= 4  # small: one record per sends partition
    decoded = {}
    for partition, value in records:
        found, malformed = decode_sends(value)
        assert malformed == []
        assert {sends_partition(n.user, 4) for n, _ in found} == {partition}
        decoded[partition] = found
    for partition, found in decoded.items():
        assert found == [pair for pair in pairs if sends_partition(pair[0].user, 4) == partition]
    assert encode_sends([], 4) == []


def test_a_users_sends_partition_is_the_one_its_key_gave_before():
    # As when each notification was its own record keyed by user: records already in the
    # topic at an upgrade are in the same partition as the new ones, so a user's stay in order.
    for user in ["u1", "asha", "user-123456", "ü"]:
        for count in (1, 3, 8, 16):
            assert sends_partition(user, count) == DefaultPartitioner()(user.encode(), list(range(count)), [])


def test_a_one_notification_record_of_before_still_decodes():
    notify = _notify(1)
    assert decode_sends(encode_notify(notify, 5)) == ([(notify, 5)], [])
    assert decode_notify(encode_notify(notify, 5)) == (notify, 5)


def test_a_batch_past_the_size_cap_is_split_in_order_and_a_huge_notification_goes_alone():
    pairs = [(_notify(n, user="asha", title="x" * 300), 1) for n in range(30)]
    one = len(encode_notify(*pairs[0]))
    records = encode_sends(pairs, 8, max_bytes=4 * one)
    assert len(records) > 1 and all(len(value) <= 4 * one for _, value in records)
    assert [pair for _, value in records for pair in decode_sends(value)[0]] == pairs
    huge = (_notify(99, user="asha", title="y" * 10_000), 1)
    records = encode_sends(pairs[:2] + [huge] + pairs[2:3], 8, max_bytes=4 * one)
    assert [decode_sends(value)[0] for _, value in records] == [pairs[:2], [huge], pairs[2:3]]


def test_a_scheduled_runs_worth_of_notifications_stays_under_the_default_cap():
    pairs = [(_notify(n, title="t" * 200), 0) for n in range(5000)]
    records = encode_sends(pairs, 2)
    assert all(len(value) <= RECORD_MAX_BYTES for _, value in records)
    assert len(records) > 2  # more than one record for some partition
    assert sorted(pair[0].message_id for _, value in records for pair in decode_sends(value)[0]) == \
        sorted(n.message_id for n, _ in pairs)


def test_signed_payloads_are_signed_in_a_batch_as_alone():
    [(_partition, value)] = encode_sends([(_notify(1, user="asha"), 2)], 1, b"s" * 32)
    [(signed, partition)], _ = decode_sends(value)
    assert partition == 2 and signed.payload["user"] == "asha"
    assert check_signature(b"s" * 32, "m1", "cart", "asha", signed.payload["sig"], "B")
    assert not check_signature(b"s" * 32, "m1", "cart", "mallory", signed.payload["sig"], "B")


def test_a_malformed_notification_of_a_batch_is_set_aside_and_the_rest_decode():
    good = [(_notify(1), 0), (_notify(2), 1)]
    items = [orjson.loads(encode_notify(*good[0])), {"id": "m-bad", "user": "mallory", "p": 0},
             orjson.loads(encode_notify(*good[1])), 7]
    found, malformed = decode_sends(orjson.dumps(items))
    assert found == good
    assert [(bad.key, orjson.loads(bad.value)) for bad in malformed] == [(b"mallory", items[1]), (None, 7)]
    assert "notification 2 of 4" in malformed[0].reason and "subs" in malformed[0].reason
    assert "notification 4 of 4" in malformed[1].reason
    # Fixed, the set-aside notification is a record of the one-notification form.
    fixed = {**orjson.loads(malformed[0].value), **orjson.loads(encode_notify(_notify(3), 0)), "id": "m-bad"}
    assert decode_sends(orjson.dumps(fixed))[0][0][0].message_id == "m-bad"


@pytest.mark.parametrize("value", [b"\x00\xff not json", b"7", b'"a"', b"null", orjson.dumps({"id": "m1"})])
def test_a_record_that_is_no_sends_record_at_all_raises(value):
    with pytest.raises(Exception):
        decode_sends(value)
