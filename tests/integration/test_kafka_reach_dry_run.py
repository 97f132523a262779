"""Reach on the Kafka runtime with three workers: `pushcast reach --kafka` asks every
partition's owner and the sum equals a brute-force count over the generated users.
The workers' sender is a dry run (201 without a push service): what is checked here is
decided before delivery; delivery is tested against the emulator elsewhere.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.kafka_runtime import make_config
from tests.fixtures.segments import GOLD_LAUNCHERS

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_795_600_800_000  # 2026-11-25T10:00:00Z
MIN, DAY = 60_000, 86_400_000
USERS = 3000
SUB = {"endpoint": "https://fcm.googleapis.com/fcm/send/x",
       "keys": {"p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
                "auth": "BTBZMqHH6r4Tts7J_aSIgg"}}
CAMPAIGN = """\
campaign: gold-launchers
who:
""" + GOLD_LAUNCHERS + """when: {schedule: {at: "2026-12-24T10:00"}}
what: {title: hi}
"""
CONFIG_TEST_USERS = ["user-3", "user-30"]


def _generate(seed: int = 11) -> tuple[list[dict], dict[str, dict]]:
    """Events, and what the brute force needs of each user."""
    rng = random.Random(seed)
    events, users = [], {}
    for i in range(USERS):
        user = f"user-{i}"
        facts = {"plan": rng.choice(["gold", "platinum", "silver", None]), "test": rng.random() < 0.05,
                 "subscribed": rng.random() < 0.7, "launches": [], "charges": []}
        profile = {"plan": facts["plan"]} if facts["plan"] else {}
        if facts["test"]:
            profile["test"] = True
        if profile:
            events.append({"user": user, "event": "$profile", "ts": NOW - 60 * DAY, "props": profile})
        if facts["subscribed"]:
            events.append({"user": user, "event": "$push_subscribe", "ts": NOW - 59 * DAY, "props": SUB})
        for _ in range(rng.randint(0, 4)):
            facts["launches"].append(NOW - rng.randint(1, 45 * 24 * 60) * MIN)
        if rng.random() < 0.3:
            facts["charges"].append(NOW - rng.randint(1, 14 * 24 * 60) * MIN)
        events += [{"user": user, "event": "App Launched", "ts": ts, "props": {}} for ts in facts["launches"]]
        events += [{"user": user, "event": "Charged", "ts": ts, "props": {"amount": 5}} for ts in facts["charges"]]
        users[user] = facts
    return events, users


def _brute_force(users: dict[str, dict], now: int) -> tuple[int, int]:
    """The campaign's segment written out by hand: windows are (now - D, now]."""
    qualified = reachable = 0
    for user, facts in users.items():
        launches = sum(1 for ts in facts["launches"] if now - 30 * DAY < ts <= now)
        charged = any(now - 7 * DAY < ts <= now for ts in facts["charges"])
        if facts["plan"] in ("gold", "platinum") and launches >= 2 and not charged:
            qualified += 1
            if facts["subscribed"] and not facts["test"] and user not in CONFIG_TEST_USERS:
                reachable += 1
    return qualified, reachable


def _reach(harness, campaign: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", "reach", campaign, "--kafka", harness.bootstrap,
         "--topic-prefix", harness.prefix, "--at", "2026-11-25T10:00:00Z", "--json", "--timeout", "20"],
        cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_reach_over_three_workers_equals_the_brute_force_count(kafka_runtime_factory, tmp_path):
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "campaigns" / "gold.yaml").write_text(CAMPAIGN)
    config = make_config(tmp_path, None, extra_test_users=CONFIG_TEST_USERS)
    # Standby copies: each worker's table also holds partitions it does not own, which
    # reach must not count.
    harness = kafka_runtime_factory([tmp_path / "campaigns"], config, partitions=6,
                                    extra_args=["--standby-replicas", "1"])
    harness.set_clock(NOW)
    for name in ("w1", "w2", "w3"):
        harness.start_worker(name, dry_run=True)
    harness.wait_members(3)

    events, users = _generate()
    harness.produce(events)
    harness.wait_idle()

    done = _reach(harness, "gold-launchers")
    assert done.returncode == 0, done.stderr + harness.logs()
    found = json.loads(done.stdout)
    qualified, reachable = _brute_force(users, NOW)
    assert 100 < reachable < qualified  # the generated users make a real test
    stored = len({e["user"] for e in events})  # a user with no event has no state
    assert (found["users"], found["qualified"], found["reachable"]) == (stored, qualified, reachable)
    assert found["qualified"] == found["reachable"] + found["no_subscription"] + found["test_profiles"]

    # A qualifying user's events produced just before the question, no wait: counted (the
    # workers' reach processes read the partitions' databases caught up with every write).
    newcomer = [{"user": "newcomer", "event": "$profile", "ts": NOW - 2 * DAY, "props": {"plan": "gold"}},
                {"user": "newcomer", "event": "$push_subscribe", "ts": NOW - 2 * DAY, "props": SUB}]
    newcomer += [{"user": "newcomer", "event": "App Launched", "ts": NOW - k * MIN, "props": {}} for k in (5, 6)]
    harness.produce(newcomer)
    done = _reach(harness, "gold-launchers")
    assert done.returncode == 0, done.stderr + harness.logs()
    again = json.loads(done.stdout)
    assert (again["users"], again["qualified"], again["reachable"]) == (stored + 1, qualified + 1, reachable + 1)

    unknown = _reach(harness, "no-such-campaign")
    assert unknown.returncode == 1 and "no campaign 'no-such-campaign'" in unknown.stderr, unknown.stderr
