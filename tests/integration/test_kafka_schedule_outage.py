"""A Kafka deployment down for longer than a day when a `timezone: user` run was due:
the next worker makes the missed run from the schedule cursor kept in the state table,
and decides it at that moment, as the embedded runtime does: users whose local slot
has passed are `late` (skipped here), the others get it at their local time. Before the
cursor was state, the run was lost without a word."""

from __future__ import annotations

import json
import time

import pytest

from engine.core.isotime import parse_iso
from tests.fixtures.kafka_runtime import make_config, metric_value

pytestmark = pytest.mark.integration

CAMPAIGN = """\
campaign: local-morning
who:
  segment: {did: App Launched, in_last: 30d}
when:
  schedule:
    at: "2026-12-24T10:00"
    timezone: user
    late: skip
what:
  title: "Good morning"
"""
BEFORE = parse_iso("2026-12-23T12:00:00Z")  # the run is made at 10:00 UTC+14 = 2026-12-23T20:00Z
BACK = parse_iso("2026-12-24T13:00:00Z")  # 25 hours later: 10:00 has passed in Kiritimati and Berlin
LA_SLOT = parse_iso("2026-12-24T18:00:00Z")  # 10:00 in Los Angeles
ZONES = {"kiritimati": "Pacific/Kiritimati", "berlin": "Europe/Berlin", "la": "America/Los_Angeles"}


def _received(push_emulator, subs: dict) -> dict[str, list[str]]:
    return {user: [json.loads(text)["title"] for text in push_emulator.notifications(sub["clientHash"])]
            for user, sub in subs.items()}


def test_a_run_missed_in_a_long_outage_is_made_at_restart_with_late_users_skipped(
        kafka_runtime_factory, push_emulator, tmp_path):
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "campaigns" / "morning.yaml").write_text(CAMPAIGN)
    # The test's days may lie weeks after the records' real timestamps: allow events that far ahead.
    config = make_config(tmp_path, None, push_services=[{"host": push_emulator.origin, "rate": 1000, "burst": 1000}],
                         max_event_ahead="366d")
    key = (tmp_path / "vapid_public.txt").read_text()
    subs = {user: push_emulator.subscribe(key) for user in ZONES}
    harness = kafka_runtime_factory([tmp_path / "campaigns"], config, partitions=2, sends_partitions=1)
    harness.set_clock(BEFORE)
    first = harness.start_worker("w1", dry_run=False)
    harness.wait_members(1)
    events = []
    for user, zone in ZONES.items():
        sub = subs[user]
        events += [
            {"user": user, "event": "$profile", "ts": BEFORE - 60_000, "props": {"tz": zone}},
            {"user": user, "event": "$push_subscribe", "ts": BEFORE - 60_000,
             "props": {"endpoint": sub["endpoint"], "keys": sub["keys"]}},
            {"user": user, "event": "App Launched", "ts": BEFORE - 30_000, "props": {}},
        ]
    harness.produce(events)
    harness.wait_idle()  # with the cursor records of the campaign, first seen at BEFORE
    first.stop()
    harness.wait_members(0)

    harness.set_clock(BACK)
    second = harness.start_worker("w2", dry_run=False)
    harness.wait_members(1)
    deadline = time.monotonic() + 60
    while metric_value(second.metrics(), "pushcast_scheduled_runs_total", campaign="local-morning") < 1:
        assert time.monotonic() < deadline, harness.logs()
        time.sleep(0.05)
    harness.wait_idle()
    assert _received(push_emulator, subs) == {"kiritimati": [], "berlin": [], "la": []}

    harness.set_clock(LA_SLOT)
    deadline = time.monotonic() + 60
    while not _received(push_emulator, subs)["la"]:
        assert time.monotonic() < deadline, harness.logs()
        time.sleep(0.05)
    harness.wait_idle()
    assert _received(push_emulator, subs) == {"kiritimati": [], "berlin": [], "la": ["Good morning"]}
