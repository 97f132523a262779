"""Malformed records go to the dead-letter topic with a reason and their original bytes;
a counter rises; the stream goes on (a valid event after them still triggers).
The workers' sender is a dry run (201 without a push service): what is checked here is
decided before delivery; delivery is tested against the emulator elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from engine.agents.records import DLQ_FIELD, DLQ_REASON, DLQ_SOURCE, decode_sends, encode_notify
from engine.core import Notify, Subscription
from tests.fixtures.kafka_runtime import make_config, metric_value

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
START = 1_795_600_800_000  # 2026-11-25T10:00:00Z
SUB = {"endpoint": "https://fcm.googleapis.com/fcm/send/x",
       "keys": {"p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
                "auth": "BTBZMqHH6r4Tts7J_aSIgg"}}


def test_malformed_records_are_dead_lettered_and_the_stream_goes_on(kafka_runtime_factory, tmp_path):
    config = make_config(tmp_path, ROOT / "pushcast.yaml")
    harness = kafka_runtime_factory([ROOT / "campaigns.d" / "abandoned-cart.yaml"], config, partitions=2)
    harness.set_clock(START)
    worker = harness.start_worker("w1", dry_run=True)
    harness.wait_members(1)

    bad = [
        (b"u1", b"\x00\xff not json at all"),                                        # garbage bytes
        (b"u1", orjson.dumps({"user": "u1", "event": "Added To Cart", "props": [1, 2]})),  # props: wrong type
        (b"u1", orjson.dumps({"user": 42, "event": "Added To Cart"})),               # user: wrong type
        (b"u1", orjson.dumps({"event": "Added To Cart", "ts": START})),              # user missing
        (b"u1", orjson.dumps({"user": "u1", "event": "Added To Cart", "ts": True})),  # ts: wrong type
        (b"u1", orjson.dumps({"user": "u1", "event": "$wake", "ts": START})),        # internal, from outside
        (b"u2", orjson.dumps({"user": "u1", "event": "Charged", "ts": START})),      # key is not the user
        (b"u1", orjson.dumps(["not", "an", "object"])),
        # ts out of range: once accepted, then unsavable (beyond 64 bits) or hostage-taking.
        (b"u1", orjson.dumps({"user": "u1", "event": "Added To Cart", "ts": 1e19})),
        (b"u1", b'{"user": "u1", "event": "Added To Cart", "ts": %d}' % 2**70),
        (b"u1", orjson.dumps({"user": "u1", "event": "Added To Cart", "ts": -1e15})),
    ]
    good = [
        {"user": "u1", "event": "$push_subscribe", "ts": START, "props": SUB},
        {"user": "u1", "event": "Added To Cart", "ts": START + 60_000,
         "props": {"product": "Trail shoes", "cart_id": "c-9", "price": 89.5}},
    ]
    harness.produce(bad[:4] + good[:1] + bad[4:] + good[1:])
    harness.wait_idle()
    harness.set_clock(START + 11 * 60_000)  # the reminder is due ten minutes after the cart
    harness.wait_idle()

    letters = harness.read(harness.dead_letter_topic)
    assert [r.value for r in letters] == [value for _key, value in bad]  # original bytes, in order
    assert [r.key for r in letters] == [key for key, _value in bad]
    headers = [dict(r.headers) for r in letters]
    fields = [h[DLQ_FIELD].decode() for h in headers]
    assert fields == ["value", "props", "user", "user", "ts", "event", "key", "event", "ts", "ts", "ts"]
    reasons = [h[DLQ_REASON].decode() for h in headers]
    assert "not JSON" in reasons[0]
    assert "required" in reasons[3]
    assert "reserved" in reasons[5]
    assert all(h[DLQ_SOURCE].decode().startswith(harness.events_topic + "/") for h in headers)

    # The stream went on: the valid cart after the bad records still gets its reminder.
    sends = [n for r in harness.read(harness.sends_topic) for n, _ in decode_sends(r.value)[0]]
    assert [(n.user, n.campaign, n.at, n.payload["title"]) for n in sends] == [
        ("u1", "abandoned-cart", START + 11 * 60_000, "Still thinking about Trail shoes?")]

    metrics = worker.metrics()
    assert metric_value(metrics, "pushcast_dead_letters_total") == len(bad)
    assert metric_value(metrics, "pushcast_dead_letters_total", field="user") == 2
    assert metric_value(metrics, "pushcast_wakes_fired_total") >= 1
    assert worker.alive()


def test_the_sender_sends_both_record_forms_and_dead_letters_a_bad_notification_alone(kafka_runtime_factory,
                                                                                      tmp_path):
    # Records already in the sends topic at an upgrade (one notification each) are sent;
    # a record of several notifications with a malformed one sends the rest.
    config = make_config(tmp_path, ROOT / "pushcast.yaml")
    harness = kafka_runtime_factory([ROOT / "campaigns.d" / "abandoned-cart.yaml"], config, partitions=2,
                                    sends_partitions=1)
    harness.set_clock(START)
    worker = harness.start_worker("w1", dry_run=True)
    harness.wait_members(1)

    def notify(n: int) -> Notify:
        return Notify(f"m-{n}", "abandoned-cart", f"u{n}", START, {"title": "Hi"},
                      (Subscription(SUB["endpoint"] + str(n), SUB["keys"]["p256dh"], SUB["keys"]["auth"]),), 60)

    bad = {"id": "m-bad", "user": "mallory", "p": 0}  # no subscriptions, campaign, ...
    batch = b"[%s,%s,%s]" % (encode_notify(notify(2), 0), orjson.dumps(bad), encode_notify(notify(3), 1))
    harness.produce([(b"u1", encode_notify(notify(1), 1)), (None, batch), (None, b"[1")], harness.sends_topic)
    harness.wait_idle()

    metrics = worker.metrics()
    assert metric_value(metrics, "pushcast_sends_total", outcome="sent") == 3  # m-1, m-2, m-3
    letters = harness.read(harness.dead_letter_topic)
    assert [(r.key, orjson.loads(r.value)) for r in letters[:1]] == [(b"mallory", bad)]
    assert [r.value for r in letters[1:]] == [b"[1"]  # not JSON: the whole record
    reasons = [dict(r.headers)[DLQ_REASON].decode() for r in letters]
    assert "notification 2 of 3" in reasons[0] and "subs" in reasons[0]
    assert "not a pushcast send" in reasons[1]
    assert all(dict(r.headers)[DLQ_SOURCE].decode().startswith(harness.sends_topic + "/") for r in letters)
    assert worker.alive()
