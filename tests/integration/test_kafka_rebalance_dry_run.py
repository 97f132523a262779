"""A third worker joins mid-stream: partitions move with their waits, and every wait of a
moved partition still fires when the clock reaches it (the new owner rebuilt its index
from the table).
The workers' sender is a dry run (201 without a push service): what is checked here is
decided before delivery; delivery is tested against the emulator elsewhere.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine.agents.records import decode_sends
from tests.fixtures.kafka_runtime import make_config, metric_value

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
START = 1_795_600_800_000  # 2026-11-25T10:00:00Z
USERS = 600
SUB = {"endpoint": "https://fcm.googleapis.com/fcm/send/x",
       "keys": {"p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
                "auth": "BTBZMqHH6r4Tts7J_aSIgg"}}


def _user_events(i: int) -> list[dict]:
    user = f"user-{i}"
    return [
        {"user": user, "event": "$push_subscribe", "ts": START, "props": SUB},
        {"user": user, "event": "Added To Cart", "ts": START + 60_000,
         "props": {"product": f"P{i}", "cart_id": f"c{i}", "price": 20}},
    ]


def test_a_third_worker_joins_mid_stream_and_moved_waits_fire_on_time(kafka_runtime_factory, tmp_path):
    config = make_config(tmp_path, None)
    harness = kafka_runtime_factory([ROOT / "campaigns.d" / "abandoned-cart.yaml"], config, partitions=6)
    harness.set_clock(START + 2 * 60_000)
    harness.start_worker("w1", dry_run=True)
    harness.start_worker("w2", dry_run=True)
    harness.wait_members(2)

    harness.produce([e for i in range(USERS // 2) for e in _user_events(i)])
    w3 = harness.start_worker("w3", dry_run=True)
    harness.produce([e for i in range(USERS // 2, USERS) for e in _user_events(i)])
    harness.wait_members(3)
    harness.wait_idle()
    assert harness.read(harness.sends_topic) == []  # nothing is due yet

    due = START + 11 * 60_000  # every reminder: ten minutes after its cart
    harness.set_clock(due)
    moved_at = time.monotonic()
    while True:
        notifies = [n for r in harness.read(harness.sends_topic) for n, _ in decode_sends(r.value)[0]]
        if len(notifies) >= USERS or time.monotonic() - moved_at > 60:
            break
        time.sleep(0.1)
    # Decided at their due time (how fast in wall time is bench_kafka.py's measure).
    assert sorted(n.user for n in notifies) == sorted(f"user-{i}" for i in range(USERS))
    assert {n.at for n in notifies} == {due}

    # The newcomer owns partitions now and fired the waits it took over.
    assert metric_value(w3.metrics(), "pushcast_wakes_fired_total") > 0
    assert sum(metric_value(w.metrics(), "pushcast_wakes_fired_total") for w in harness.workers) >= USERS
