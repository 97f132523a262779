"""Queued caps on the Kafka workers: a message its cap holds is released by a wake-up
when the window frees, and the stats (`pushcast stats --kafka`) and the worker's metrics
count it queued and released, under the embedded runtime's names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.kafka_runtime import make_config, metric_value

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
START = 1_795_600_800_000  # 2026-11-25T10:00:00Z
SUB = {"endpoint": "https://fcm.googleapis.com/fcm/send/x",
       "keys": {"p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
                "auth": "BTBZMqHH6r4Tts7J_aSIgg"}}
HOURLY = """\
campaign: hourly
who: {on: {event: Ping}}
when:
  limits:
    per_user: {max: 1, per: 1h}
    on_limit: queue
    max_delay: 2h
what: {title: Ping}
"""


def test_a_queued_message_is_released_and_counted(kafka_runtime_factory, tmp_path):
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "campaigns" / "hourly.yaml").write_text(HOURLY)
    config = make_config(tmp_path, None)
    harness = kafka_runtime_factory([tmp_path / "campaigns"], config, partitions=2)
    harness.set_clock(START)
    worker = harness.start_worker("w1", dry_run=True)
    harness.wait_members(1)
    harness.produce([{"user": "u1", "event": "$push_subscribe", "ts": START, "props": SUB},
                     {"user": "u1", "event": "Ping", "ts": START + 1000},
                     {"user": "u1", "event": "Ping", "ts": START + 2000}])
    harness.wait_idle()
    harness.set_clock(START + 3_600_000 + 1000)  # the hour after the first send has passed
    harness.wait_idle()

    done = subprocess.run([sys.executable, "-m", "engine.cli", "stats", "--json", "--kafka", harness.bootstrap,
                           "--topic-prefix", harness.prefix, "--timeout", "30"],
                          cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr + harness.logs()
    [stats] = json.loads(done.stdout)
    assert (stats["qualified"], stats["queued"], stats["released"], stats["sent"]) == (2, 1, 1, 2), stats
    text = worker.metrics()
    assert metric_value(text, "pushcast_queued_total", campaign="hourly") == 1
    assert metric_value(text, "pushcast_released_total", campaign="hourly") == 1
