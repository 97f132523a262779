"""kill -9 a worker mid-stream and start it again: every expected notification reaches
web-push-testing exactly once: none lost (waits are state, replays are re-decided), none
twice (a stored state skips records it has applied; sends are de-duplicated in Redis)."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest

from engine.core import CampaignSet, Event
from engine.rules.config import load_config
from engine.rules.loader import load_campaigns
from engine.testing.simulator import Simulation
from tests.fixtures.kafka_runtime import make_config, metric_value

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
START = 1_795_600_800_000  # 2026-11-25T10:00:00Z
USERS = 10_000
SUBSCRIPTIONS = 20
WELCOME = """\
campaign: welcome
name: Welcome on sign-up
who:
  on: {event: Signed Up}
when:
  delay: 1m
what:
  title: "Welcome, {{ event.name | default: 'friend' }}"
  ttl: 1h
"""


def _stream(subs: list[dict]) -> list[dict]:
    events = []
    for i in range(USERS):
        user = f"user-{i}"
        sub = subs[i % SUBSCRIPTIONS]
        events.append({"user": user, "event": "$push_subscribe", "ts": START,
                       "props": {"endpoint": sub["endpoint"], "keys": sub["keys"]}})
        events.append({"user": user, "event": "Added To Cart", "ts": START + 60_000,
                       "props": {"product": f"P{i}", "cart_id": f"c{i}", "price": 20}})
        if i % 2 == 0:  # half of them buy: their reminder is cancelled
            events.append({"user": user, "event": "Charged", "ts": START + 300_000,
                           "props": {"cart_id": f"c{i}", "amount": 20}})
        events.append({"user": user, "event": "Signed Up", "ts": START + 301_000, "props": {"name": f"N{i}"}})
    return events


def _expected(campaign_files, config_path, events) -> Counter:
    sim = Simulation(CampaignSet(load_campaigns(campaign_files), load_config(config_path)), started=START)
    timeline = sorted(((e["ts"], Event(e["user"], e["event"], e["ts"], e["props"])) for e in events),
                      key=lambda pair: pair[0])
    sim.run(timeline, START + 12 * 60_000)
    return Counter((n.message_id, s.endpoint) for n in sim.notifications for s in n.subscriptions)


def test_kill_9_mid_stream_then_restart_sends_each_notification_exactly_once(
        kafka_runtime_factory, push_emulator, tmp_path):
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "campaigns" / "welcome.yaml").write_text(WELCOME)
    campaign_files = [tmp_path / "campaigns" / "welcome.yaml", ROOT / "campaigns.d" / "abandoned-cart.yaml"]
    config = make_config(tmp_path, None, push_services=[{"host": push_emulator.origin, "rate": 100000, "burst": 100000}])
    key = (tmp_path / "vapid_public.txt").read_text()
    subs = [push_emulator.subscribe(key) for _ in range(SUBSCRIPTIONS)]
    events = _stream(subs)
    expected = _expected(campaign_files, config, events)
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
    harness.set_clock(START + 11 * 60_000 + 1)
    harness.wait_idle(timeout=300)

    # Idle means every record is committed; the last sends may still be on their way to
    # the push service, so give them a few seconds before counting anything as lost.
    deadline = time.monotonic() + 15
    while True:
        received = Counter()
        for sub in subs:
            for text in push_emulator.notifications(sub["clientHash"]):
                received[(json.loads(text)["message"], sub["endpoint"])] += 1
        if not expected - received or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    lost = expected - received
    duplicated = {k: n for k, n in received.items() if n > 1}
    unexpected = set(received) - set(expected)
    assert not lost and not duplicated and not unexpected, (len(lost), len(duplicated), len(unexpected))

    # The restarted worker really took over: it applied records of the stream.
    assert metric_value(w1_again.metrics(), "pushcast_events_consumed_total") > 0
