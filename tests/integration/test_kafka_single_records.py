"""`--single-records`, for a rolling upgrade from a version before batched records: the
worker writes each notification and each delivery result as a record of its own, keyed
by its user, in the forms those versions read (a notification as a JSON object, a result
as a plain event), and still counts what it sends."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from engine.agents.records import INTERNAL_HEADER, decode_notify, sends_partition
from tests.fixtures.kafka_runtime import make_config, metric_value

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
START = 1_795_600_800_000  # 2026-11-25T10:00:00Z
SUB = {"endpoint": "https://fcm.googleapis.com/fcm/send/",
       "keys": {"p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
                "auth": "BTBZMqHH6r4Tts7J_aSIgg"}}
USERS = ["u1", "u2", "u3"]


def test_single_records_are_written_in_the_forms_of_before(kafka_runtime_factory, tmp_path):
    config = make_config(tmp_path, ROOT / "pushcast.yaml")
    harness = kafka_runtime_factory([ROOT / "campaigns.d" / "abandoned-cart.yaml"], config, partitions=2,
                                    sends_partitions=2, extra_args=["--single-records"])
    harness.set_clock(START)
    worker = harness.start_worker("w1", dry_run=True)
    harness.wait_members(1)
    harness.produce([{"user": u, "event": "$push_subscribe", "ts": START, "props": {**SUB, "endpoint": SUB["endpoint"] + u}}
                     for u in USERS] +
                    [{"user": u, "event": "Added To Cart", "ts": START + 60_000,
                      "props": {"product": "Trail shoes", "cart_id": "c-" + u, "price": 89.5}} for u in USERS])
    harness.wait_idle()
    harness.set_clock(START + 11 * 60_000)  # the three reminders fall due in one batch
    harness.wait_idle()

    sends = harness.read(harness.sends_topic)
    notifies = [decode_notify(r.value)[0] for r in sends]  # each record one JSON object
    assert sorted(n.user for n in notifies) == USERS
    assert [r.key for r in sends] == [n.user.encode() for n in notifies]
    assert [r.partition for r in sends] == [sends_partition(n.user, 2) for n in notifies]

    results = [r for r in harness.read(harness.events_topic) if b"$notification_sent" in r.value]
    assert all(INTERNAL_HEADER not in dict(r.headers or ()) for r in results)  # plain events
    events = [orjson.loads(r.value) for r in results]
    assert sorted((r.key, e["event"], e["props"]["message"]) for r, e in zip(results, events)) == sorted(
        (n.user.encode(), "$notification_sent", n.message_id) for n in notifies)

    metrics = worker.metrics()
    assert metric_value(metrics, "pushcast_sends_total", outcome="sent") == 3
    assert worker.alive()
