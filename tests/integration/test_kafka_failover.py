"""kill -9 one of two workers whose session timeout is a minute: the survivor removes it
from the group (engine/agents/peers.py) and decides every later event of all partitions,
the killed worker's included, long before Kafka's session timeout would have moved them.
How fast, in seconds, is bench/bench_kafka_failover.py's measure.
The sender is a dry run: what is checked here is decided before delivery.
"""

from __future__ import annotations

import time

import pytest

from engine.agents.records import decode_sends
from tests.fixtures.kafka_runtime import make_config

pytestmark = pytest.mark.integration

START = 1_795_600_800_000  # 2026-11-25T10:00:00Z
SESSION_TIMEOUT = 60.0  # Kafka alone would move the partitions after this
PARTITIONS = 4
SUB = {"endpoint": "https://fcm.googleapis.com/fcm/send/x",
       "keys": {"p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
                "auth": "BTBZMqHH6r4Tts7J_aSIgg"}}


def _signed_up(users: range) -> list[dict]:
    return [e for i in users for e in ({"user": f"user-{i}", "event": "$push_subscribe", "ts": START, "props": SUB},
                                       {"user": f"user-{i}", "event": "Signed Up", "ts": START + 1})]


def test_a_killed_workers_partitions_go_to_the_survivor_before_the_session_timeout(kafka_runtime_factory, tmp_path):
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "campaigns" / "live.yaml").write_text(
        "campaign: live\nname: live\nwho:\n  on: {event: Signed Up}\nwhat:\n  title: Hi\n  ttl: 1h\n")
    harness = kafka_runtime_factory([tmp_path / "campaigns"], make_config(tmp_path, None), partitions=PARTITIONS)
    harness.set_clock(START + 60_000)
    victim = harness.start_worker("victim", dry_run=True, session_timeout=SESSION_TIMEOUT)
    survivor = harness.start_worker("survivor", dry_run=True, session_timeout=SESSION_TIMEOUT)
    harness.wait_members(2)
    harness.produce(_signed_up(range(0, 100)))
    harness.wait_idle()

    victim.kill()
    killed_at = time.monotonic()
    harness.produce(_signed_up(range(100, 200)))  # on every partition, the victim's too
    harness.wait_members(1, timeout=SESSION_TIMEOUT / 2)
    harness.wait_idle(timeout=SESSION_TIMEOUT / 2)
    assert time.monotonic() - killed_at < SESSION_TIMEOUT  # not Kafka's session timeout at work
    assert "removed (its partitions go to the others)" in survivor.output()

    decided = {n.user for r in harness.read(harness.sends_topic) for n, _ in decode_sends(r.value)[0]}
    assert decided >= {f"user-{i}" for i in range(200)}
    assert len({int(r.partition) for r in harness.read(harness.events_topic)}) == PARTITIONS
