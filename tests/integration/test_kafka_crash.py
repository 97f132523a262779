"""kill -9 a worker mid-stream and start it again: every expected notification reaches
web-push-testing exactly once: none lost (waits are state, replays are re-decided), none
twice (a stored state skips records it has applied; sends are de-duplicated in Redis)."""

from __future__ import annotations

import time

import pytest

from tests.fixtures.crash_stream import ALL_DUE, START, USERS
from tests.fixtures.kafka_runtime import metric_value
from tests.fixtures.push_emulator import wait_for_deliveries

pytestmark = pytest.mark.integration


def test_kill_9_mid_stream_then_restart_sends_each_notification_exactly_once(kafka_runtime_factory, push_emulator,
                                                                             crash_stream):
    campaign_files, config, subs, events = (crash_stream.campaign_files, crash_stream.config, crash_stream.subs,
                                            crash_stream.events)
    expected = crash_stream.expected_pairs()
    assert len(expected) == USERS + USERS // 2

    harness = kafka_runtime_factory(campaign_files, config, partitions=6, sends_partitions=3)
    # Every message is a wait (welcome 1m after sign-up at 5m01s, reminders at 11m): no
    # send is in flight when w1 dies, so exactly-once at the push service is checkable
    # (a send in flight at a crash is the narrow window the Topic header covers).
    harness.set_clock(START)
    # w1 commits rarely: when it dies, all it did is redelivered to the others.
    w1 = harness.start_worker("w1", dry_run=False, commit_interval=30)
    harness.start_worker("w2", dry_run=False)
    harness.wait_members(2)

    harness.produce(events)
    deadline = time.monotonic() + 60
    while metric_value(w1.metrics(), "pushcast_events_consumed_total") == 0:  # w1 is under way
        assert time.monotonic() < deadline, harness.logs()
        time.sleep(0.01)
    assert harness.lag() > 0, "the stream was already done: the kill would not be mid-stream"
    w1.kill()
    # Restarted on the same machine: its RocksDB store is reused, then caught up from the
    # changelog and the partitions' applied offsets.
    w1_again = harness.start_worker("w1-restarted", dry_run=False, data_of="w1")
    harness.wait_members(2)
    harness.wait_idle(timeout=300)  # 15,000 sends: minutes on a busy 2-core machine
    harness.set_clock(ALL_DUE)
    harness.wait_idle(timeout=300)

    received = wait_for_deliveries(push_emulator, subs, expected)
    lost = expected - received
    duplicated = {k: n for k, n in received.items() if n > 1}
    unexpected = set(received) - set(expected)
    assert not lost and not duplicated and not unexpected, (len(lost), len(duplicated), len(unexpected))

    # The restarted worker really took over: it applied records of the stream.
    assert metric_value(w1_again.metrics(), "pushcast_events_consumed_total") > 0
