"""kill -9 one of three workers in the middle of a scheduled run, after it applied the
run's first step to its partitions and before their last: the run completes once and
every qualifying user receives it exactly once at web-push-testing (the new owners of
the dead worker's partitions read them again from its last applied offset, skip the
users the run already reached and go on from the run's progress in the table). Once with
one step announced at a time (`--run-ahead 1`), once with four continuations outstanding
in each partition when the worker dies (read again, and made again by the steps applied
again: each step is still applied once)."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from engine.core.ids import message_id
from tests.fixtures.kafka_runtime import make_config, metric_value
from tests.fixtures.push_emulator import wait_for_deliveries

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
START = 1_795_591_800_000  # 2026-11-25T07:30:00Z
RUN = START + 30 * 60_000  # 08:00, the campaign's run
QUIET_ENDS = START + 90 * 60_000  # 09:00
USERS = 3000
SUBSCRIPTIONS = 20
# (stored users per step, continuations outstanding): ~5 steps over each of the 6
# partitions, one at a time; ~25 steps, four announced ahead (smaller steps: the run is
# still under way when the worker dies, though the steps no longer wait for each other)
RUNS = {"chain": (100, 1), "ahead": (20, 4)}
# The run falls in quiet hours: it leaves each qualifying user a wait for 09:00, so no
# push is in flight when the worker dies and exactly-once at the push service is
# checkable (a send in flight at a crash is the narrow window the Topic header covers).
CAMPAIGN = """\
campaign: morning-news
who:
  segment:
    did: App Launched
    in_last: 30d
when:
  schedule: {at: "2026-11-25T08:00"}
  dnd: {from: "07:00", to: "09:00", then: delay}
what: {title: "Morning news"}
"""


def _events(subs: list[dict]) -> list[dict]:
    events = []
    for i in range(USERS):
        user, sub = f"user-{i}", subs[i % SUBSCRIPTIONS]
        events.append({"user": user, "event": "$push_subscribe", "ts": START - 86_400_000,
                       "props": {"endpoint": sub["endpoint"], "keys": sub["keys"]}})
        if i % 3:  # a third never launched the app: not in the segment
            events.append({"user": user, "event": "App Launched", "ts": START - 3_600_000, "props": {}})
    return events


@pytest.mark.parametrize("steps", RUNS.keys())
def test_kill_9_during_a_scheduled_run_reaches_every_user_exactly_once(kafka_runtime_factory, push_emulator, tmp_path,
                                                                       steps):
    step, ahead = RUNS[steps]
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "campaigns" / "news.yaml").write_text(CAMPAIGN)
    config = make_config(tmp_path, None, push_services=[{"host": push_emulator.origin, "rate": 100000, "burst": 100000}])
    key = (tmp_path / "vapid_public.txt").read_text()
    subs = [push_emulator.subscribe(key) for _ in range(SUBSCRIPTIONS)]
    expected = Counter((message_id("morning-news", f"user-{i}", "$schedule", 0, {}, "2026-11-25T08:00"),
                        subs[i % SUBSCRIPTIONS]["endpoint"]) for i in range(USERS) if i % 3)

    harness = kafka_runtime_factory([tmp_path / "campaigns"], config, partitions=6, sends_partitions=3,
                                    extra_args=["--run-step", str(step), "--run-ahead", str(ahead)])
    harness.set_clock(START)
    w1, w2, w3 = (harness.start_worker(name, dry_run=False) for name in ("w1", "w2", "w3"))
    harness.wait_members(3)
    harness.produce(_events(subs))
    harness.wait_idle()

    harness.set_clock(RUN)
    deadline = time.monotonic() + 20
    while (applied := metric_value(w1.metrics(), "pushcast_events_consumed_total", type="run")) < 1:
        assert time.monotonic() < deadline, harness.logs()
        time.sleep(0.005)
    w1.kill()
    # Mid-run: w1 applied a step or a few of those over each of its partitions (a third of
    # the users in the segment, each step in its own batch after the one before).
    assert applied < len(expected) / 3 / 2, applied
    harness.wait_members(2)
    harness.wait_idle(timeout=180)
    assert harness.read(harness.sends_topic) == []  # quiet hours: nothing sent yet

    harness.set_clock(QUIET_ENDS)
    harness.wait_idle(timeout=180)
    received = wait_for_deliveries(push_emulator, subs, expected)
    lost = expected - received
    duplicated = {k: n for k, n in received.items() if n > 1}
    unexpected = set(received) - set(expected)
    assert not lost and not duplicated and not unexpected, (len(lost), len(duplicated), len(unexpected))

    # The run is one record per partition and step: users outside the segment get no
    # run input at all.
    survivors = [w2.metrics(), w3.metrics()]
    assert sum(metric_value(m, "pushcast_events_consumed_total", type="run") for m in survivors) < USERS
