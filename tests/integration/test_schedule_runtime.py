"""Scheduled campaigns, reach and test sends against the real `pushcast run` (a test
clock at 2026-11-25T10:00Z) and the push emulator."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.fixtures.runtime import ROOT
from tests.fixtures.segments import GOLD_LAUNCHERS

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
LOCAL_TEN = """
campaign: local-ten
who: {segment: {did: App Launched, in_last: 30d}}
when:
  schedule: {at: "2026-11-26T10:00", timezone: user}
what:
  title: "Good morning, {{ profile.name | default: 'friend' }}"
  url: https://shop.example/deals
"""
GOLD = """
campaign: gold
who:
""" + GOLD_LAUNCHERS + """when:
  schedule: {cron: "0 10 * * MON"}
what:
  title: "Gold news for {{ profile.name | default: 'you' }}"
"""
# Zones whose 10:00 on the 26th comes after the run (10:00 at UTC+14, 20:00Z on the 25th).
ZONES = {"Pacific/Auckland": "2026-11-25T21:00", "Asia/Kolkata": "2026-11-26T04:30",
         "Europe/Berlin": "2026-11-26T09:00", "UTC": "2026-11-26T10:00", "America/New_York": "2026-11-26T15:00"}


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def post_batches(run, events: list[dict], size: int = 1000) -> None:
    for i in range(0, len(events), size):
        run.events(*events[i:i + size])


def messages(emulator, sub) -> list[dict]:
    return [json.loads(m) for m in emulator.notifications(sub["clientHash"])]


def wait_for(predicate, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def set_clock(run, moment: datetime) -> None:
    response = run.post("/v1/admin/clock", {"set": iso(moment)})
    assert response.status == 200, response


def test_a_user_time_run_killed_midway_reaches_every_user_once_at_their_local_time(pushcast_runtime, push_emulator):
    run = pushcast_runtime(campaigns={"local-ten": LOCAL_TEN})
    watched = {}
    events = []
    for n, zone in enumerate(sorted(ZONES) * 2):
        user = f"w{n}"
        watched[user] = (zone, push_emulator.subscribe(run.public_key))
        run.subscribe(user, watched[user][1])
        events += [{"user": user, "event": "$profile", "props": {"tz": zone, "name": user}},
                   {"user": user, "event": "App Launched"}]
    watched_out = push_emulator.subscribe(run.public_key)  # subscribed, never launched: not in the segment
    run.subscribe("w-out", watched_out)
    # Many more users make the run long enough to be cut short (no subscriptions: they
    # qualify and are suppressed at their send time, nothing goes to a push service).
    rng = random.Random(5)
    for n in range(20_000):
        user = f"f{n:05d}"
        events += [{"user": user, "event": "$profile", "props": {"tz": rng.choice(sorted(ZONES))}},
                   {"user": user, "event": "App Launched"}]
    post_batches(run, events)

    # The run starts at 20:00Z (10:00 at UTC+14): move the clock there in the background
    # and kill -9 the runtime as soon as it logs the run's start.
    mover = threading.Thread(target=lambda: _swallow(lambda: set_clock(run, START + timedelta(hours=10))), daemon=True)
    mover.start()
    wait_for(lambda: "campaign local-ten: scheduled run" in run.output(), 30, "the run to start")
    run.kill()
    mover.join(10)
    assert "offered to" not in run.output(), "the run finished before the kill: make it longer"

    run.restart()  # the run is made again in full; users it reached already are skipped
    # The killed clock move may not have been kept (the kill can come before the clock's
    # commit): a client whose request failed sends it again; a kept one is unchanged.
    set_clock(run, START + timedelta(hours=10))
    wait_for(lambda: "offered to" in run.output(), 60, "the repeated run to end")
    for moment in sorted(set(ZONES.values())):
        set_clock(run, datetime.fromisoformat(moment).replace(tzinfo=timezone.utc))
        run.wait_outbox_empty()
        for user, (zone, sub) in watched.items():
            got = messages(push_emulator, sub)
            due = ZONES[zone] <= moment
            assert len(got) == (1 if due else 0), (user, zone, moment, got)
    set_clock(run, START + timedelta(days=3))
    run.wait_outbox_empty()
    for user, (zone, sub) in watched.items():
        [message] = messages(push_emulator, sub)
        assert message["title"] == f"Good morning, {user}" and message["campaign"] == "local-ten"
    assert messages(push_emulator, watched_out) == []
    stats = run.stats("local-ten")
    assert stats["sent"] == stats["delivered"] == len(watched)
    assert stats["suppressed"] == {"no_subscription": 20_000}


def _swallow(call) -> None:
    try:
        call()
    except OSError:  # the runtime was killed while answering
        pass


def generated_users(n: int, seed: int = 11) -> tuple[list[dict], int, int]:
    """Events for n users, and the brute-force (qualified, reachable) of GOLD at START."""
    rng = random.Random(seed)
    events = []
    qualified = reachable = 0
    for i in range(n):
        user = f"g{i:05d}"
        plan = rng.choice(["gold", "platinum", "silver", "free"])
        test = rng.random() < 0.05
        subscribed = rng.random() < 0.6
        profile = {"plan": plan, "name": user}
        if test:
            profile["test"] = True
        events.append({"user": user, "event": "$profile", "ts": iso(START - timedelta(days=60)), "props": profile})
        if subscribed:
            events.append({"user": user, "event": "$push_subscribe", "ts": iso(START - timedelta(days=60)),
                           "props": {"endpoint": f"https://fcm.googleapis.com/fcm/send/{user}",
                                     "keys": {"p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
                                              "auth": "BTBZMqHH6r4Tts7J_aSIgg"}}})
        launches = [rng.randint(1, 40 * 24) for _ in range(rng.randint(0, 4))]  # hours ago
        charges = [rng.randint(1, 14 * 24) for _ in range(rng.choice([0, 0, 1]))]
        for hours in launches:
            events.append({"user": user, "event": "App Launched", "ts": iso(START - timedelta(hours=hours))})
        for hours in charges:
            events.append({"user": user, "event": "Charged", "ts": iso(START - timedelta(hours=hours)),
                           "props": {"amount": 10}})
        # in_last windows are (now - in_last, now]: an event exactly 30 days old is out.
        ok = (plan in ("gold", "platinum") and sum(h < 30 * 24 for h in launches) >= 2
              and not any(h < 7 * 24 for h in charges))
        qualified += ok
        reachable += ok and subscribed and not test
    # Events in time order, as a producer would send them (aggregates need no order, but
    # the profile should come first).
    events.sort(key=lambda e: e["ts"])
    return events, qualified, reachable


def test_reach_equals_a_brute_force_count_over_the_generated_users(pushcast_runtime):
    run = pushcast_runtime(campaigns={"gold": GOLD})
    events, qualified, reachable = generated_users(3000)
    post_batches(run, events)
    response = run.post("/v1/campaigns/gold/reach")
    assert response.status == 200, response
    body = response.json
    assert (body["users"], body["qualified"], body["reachable"]) == (3000, qualified, reachable)
    assert body["qualified"] == body["reachable"] + body["no_subscription"] + body["test_profiles"]
    assert 0 < reachable < qualified
    assert run.post("/v1/campaigns/nope/reach").status == 404

    # The CLI reads the same store, beside the running server (at the test clock's time:
    # the clock has not moved, so the runtime has not saved its reading).
    cli = subprocess.run(
        [sys.executable, "-m", "engine.cli", "reach", "gold", "--json", "--at", iso(START), "--config", str(run.config_path),
         "--campaigns", str(run.campaigns_dir), "--state-dir", str(run.state_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    found = json.loads(cli.stdout)
    assert (found["qualified"], found["reachable"], found["at"]) == (qualified, reachable, "2026-11-25T10:00:00.000Z")


def send_test_cli(run, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", "send-test", *args, "--url", run.url, "--config", str(run.config_path),
         "--state-dir", str(run.state_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_send_test_reaches_only_test_profiles_and_counts_under_test(pushcast_runtime, push_emulator):
    run = pushcast_runtime(campaigns={"gold": GOLD})
    subs = {user: push_emulator.subscribe(run.public_key) for user in ("qa-1", "qa-2", "customer")}
    for user, sub in subs.items():
        run.subscribe(user, sub)
    # qa-1 is a test user by the config (test_users), qa-2 by its profile.
    run.events({"user": "qa-2", "event": "$profile", "props": {"test": True, "name": "Quinn"}},
               {"user": "customer", "event": "$profile", "props": {"plan": "gold", "name": "Cleo"}})

    done = send_test_cli(run, "gold")
    assert done.returncode == 0, done.stderr
    assert "test send" in done.stdout and "to 2 of 2 test user(s)" in done.stdout
    run.wait_outbox_empty()
    assert [m["title"] for m in wait_for(lambda: messages(push_emulator, subs["qa-2"]))] == ["Gold news for Quinn"]
    assert [m["title"] for m in wait_for(lambda: messages(push_emulator, subs["qa-1"]))] == ["Gold news for you"]
    assert messages(push_emulator, subs["customer"]) == []

    # Again, to one user through the API: a new message, not de-duplicated away.
    response = run.post("/v1/campaigns/gold/send-test", {"user": "qa-2"})
    assert response.status == 200 and response.json["sent"] == 1, response
    run.wait_outbox_empty()
    got = wait_for(lambda: len(messages(push_emulator, subs["qa-2"])) == 2 and messages(push_emulator, subs["qa-2"]))
    assert got[0]["message"] != got[1]["message"]

    refused = send_test_cli(run, "gold", "--user", "customer")
    assert refused.returncode == 1 and "'customer' is not a test profile" in refused.stderr
    assert messages(push_emulator, subs["customer"]) == []

    stats = wait_for(lambda: (s := run.stats("gold"))["test"]["delivered"] == 3 and s)
    assert stats["test"]["sent"] == 3 and stats["sent"] == 0 and stats["delivered"] == 0 and stats["qualified"] == 0
