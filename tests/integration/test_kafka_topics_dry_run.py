"""The workers make their own topics: started against fresh names with nothing created
beforehand (the broker's auto-create would give one partition each), every topic comes
out at the configured count and both workers get work; an existing topic with another
count stops a worker with the topic, the count found and the flag to change.
The workers' sender is a dry run (201 without a push service): what is checked here is
decided before delivery; delivery is tested against the emulator elsewhere.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.fixtures.kafka_runtime import make_config, metric_value

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_795_600_800_000  # 2026-11-25T10:00:00Z
CAMPAIGNS = [ROOT / "campaigns.d" / "abandoned-cart.yaml"]


def _wait_exit(worker, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while worker.process.poll() is None:
        assert time.monotonic() < deadline, f"worker {worker.name} still runs:\n{worker.output()[-3000:]}"
        time.sleep(0.1)
    return worker.process.returncode


def test_workers_create_every_topic_with_the_configured_counts_and_share_the_work(kafka_runtime_factory, tmp_path):
    harness = kafka_runtime_factory(CAMPAIGNS, make_config(tmp_path), partitions=6, sends_partitions=3,
                                    precreate=False)
    counts = harness.partition_counts()
    counts.pop(harness.app_id + "-__assignor-__leader", None)  # Faust's own, always 1
    assert counts == {}
    harness.set_clock(NOW)
    workers = [harness.start_worker("w1", dry_run=True), harness.start_worker("w2", dry_run=True)]
    harness.wait_members(2)

    counts = harness.partition_counts()
    counts.pop(harness.app_id + "-__assignor-__leader", None)  # Faust's own, always 1
    assert counts == {
        harness.events_topic: 6,
        harness.sends_topic: 3,
        harness.dead_letter_topic: 1,
        harness.prefix + "reach-replies": 1,
        harness.app_id + "-users-changelog": 6,  # Faust's, at the same count as the events topic
        harness.app_id + "-peers": 1,  # the workers' beats (engine/agents/peers.py)
    }
    harness.produce([{"user": f"u{i}", "event": "Viewed Product", "ts": NOW} for i in range(200)])
    harness.wait_idle()
    consumed = [metric_value(w.metrics(), "pushcast_events_consumed_total") for w in workers]
    assert sum(consumed) == 200 and min(consumed) > 0, f"one worker did all the work: {consumed}"


def test_a_topic_with_another_partition_count_stops_the_worker_naming_topic_count_and_flag(
        kafka_runtime_factory, tmp_path):
    harness = kafka_runtime_factory(CAMPAIGNS, make_config(tmp_path), partitions=2, sends_partitions=2)
    harness.partitions = 5  # the topics exist with 2: this worker asks for 5
    worker = harness.start_worker("w1", dry_run=True)
    assert _wait_exit(worker) == 1
    output = worker.output()
    assert (f"error: Kafka topic '{harness.events_topic}' has 2 partitions, the worker is configured for 5 "
            "(--partitions)") in output
    assert "Traceback" not in output
    # Nothing was made before the check failed (no changelog, no replies topic).
    assert set(harness.partition_counts()) == {harness.events_topic, harness.sends_topic, harness.dead_letter_topic}

    harness.partitions, harness.sends_partitions = 2, 4
    worker = harness.start_worker("w2", dry_run=True)
    assert _wait_exit(worker) == 1
    assert (f"Kafka topic '{harness.sends_topic}' has 2 partitions, the worker is configured for 4 "
            "(--sends-partitions)") in worker.output()


def test_produce_before_any_worker_refuses_instead_of_auto_creating_the_events_topic(
        kafka_runtime_factory, tmp_path):
    import subprocess
    import sys

    harness = kafka_runtime_factory(CAMPAIGNS, make_config(tmp_path), precreate=False)
    events = tmp_path / "events.ndjson"
    events.write_text('{"user": "u-1", "event": "Viewed Product"}\n')
    done = subprocess.run([sys.executable, "-m", "engine.cli", "produce", str(events), "--kafka", harness.bootstrap,
                           "--topic-prefix", harness.prefix, "--config", str(harness.config)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == (f"error: Kafka topic '{harness.events_topic}' does not exist: start a worker "
                                   "first (it creates its topics with --partitions), or check --topic-prefix")
    assert harness.partition_counts() == {}  # the broker's auto-create was not triggered
