"""Reach over the embedded store: the fast scan agrees with the core's `reach_of` on
every user, and the API answers with exact counts."""

from __future__ import annotations

import random


from engine.core import Event, UserState
from engine.core.reach import count_reach
from engine.local.reach import reach_of_store
from engine.shell.reach import count_reach_raw, qualifying
from engine.local.store import Store
from engine.rules.model import GlobalConfig
from tests.unit.core_helpers import DAY, SUBSCRIPTION, T0, campaigns
from tests.unit.local_helpers import Running, admin_api, make_runtime
from tests.fixtures.segments import GOLD_LAUNCHERS

SEGMENT = """
campaign: gold-launchers
who:
""" + GOLD_LAUNCHERS + """when: {schedule: {at: "2026-12-24T10:00"}}
what: {title: hi}
"""
KEYS = [SUBSCRIPTION["keys"]["p256dh"], SUBSCRIPTION["keys"]["auth"]]


def random_events(n: int, seed: int = 7) -> list[Event]:
    rng = random.Random(seed)
    events = []
    for i in range(n):
        user = f"u{i:04d}"
        profile = {"plan": rng.choice(["gold", "platinum", "silver", None])}
        if rng.random() < 0.1:
            profile["test"] = True
        events.append(Event(user, "$profile", T0 - 60 * DAY, profile))
        if rng.random() < 0.7:
            events.append(Event(user, "$push_subscribe", T0 - 60 * DAY, {**SUBSCRIPTION, "endpoint": f"https://fcm.googleapis.com/fcm/send/{user}"}))
        for _ in range(rng.randint(0, 4)):
            events.append(Event(user, "App Launched", T0 - rng.randint(1, 45) * DAY, {}))
        if rng.random() < 0.3:
            events.append(Event(user, "Charged", T0 - rng.randint(1, 14) * DAY, {"amount": 5}))
    return sorted(events, key=lambda e: e.ts)


async def test_the_store_scan_equals_the_core_over_every_user(tmp_path):
    config = GlobalConfig(test_users=("u0003",))
    cs = campaigns(SEGMENT, config=config)
    runtime = make_runtime(tmp_path, SEGMENT)
    runtime.campaigns = cs
    running = Running(runtime)
    try:
        await runtime.submit(random_events(400))
        raw = [blob for (blob,) in runtime.store.reader.execute("SELECT state FROM users")]
        states = [UserState.loads(blob) for blob in raw]
        expected = count_reach(states, cs.get("gold-launchers"), T0, cs)
        fast = count_reach_raw(raw, cs.get("gold-launchers"), T0, cs)
        assert (fast.qualified, fast.reachable) == expected
        assert fast.users == 400 and 0 < fast.reachable < fast.qualified
        assert fast.qualified == fast.reachable + fast.no_subscription + fast.test_profiles
        compiled = cs.get("gold-launchers")
        assert [i for i, _ in qualifying(enumerate(raw), compiled, T0)] == [
            i for i, s in enumerate(states) if compiled.segment(s.profile, s.counters, T0)]
        stored = reach_of_store(runtime.store.path, cs.get("gold-launchers"), T0, cs)
        assert (stored.qualified, stored.reachable, stored.users) == (fast.qualified, fast.reachable, 400)
    finally:
        await running.stop()


def test_an_empty_store_reaches_nobody(tmp_path):
    store = Store.open_dir(tmp_path)
    store.close()
    cs = campaigns(SEGMENT)
    found = reach_of_store(tmp_path / "pushcast.db", cs.get("gold-launchers"), T0, cs)
    assert (found.users, found.qualified, found.reachable) == (0, 0, 0)


async def test_the_reach_endpoint(tmp_path):
    runtime = make_runtime(tmp_path / "state", SEGMENT)
    async with admin_api(runtime) as (client, auth):
        events = random_events(50, seed=3)
        response = await client.post("/v1/events", json=[
            {"user": e.user, "event": e.name, "ts": e.ts, "props": e.props} for e in events], headers=auth)
        assert response.status == 200, await response.text()
        cs = runtime.campaigns
        states = [UserState.loads(b) for (b,) in runtime.store.reader.execute("SELECT state FROM users")]
        expected = count_reach(states, cs.get("gold-launchers"), runtime.clock.now(), cs)
        response = await client.post("/v1/campaigns/gold-launchers/reach", headers=auth)
        body = await response.json()
        assert response.status == 200, body
        assert (body["qualified"], body["reachable"], body["users"]) == (*expected, 50)
        assert body["at"] == "2026-11-25T10:00:00.000Z"
        assert (await client.post("/v1/campaigns/nope/reach", headers=auth)).status == 404
        assert (await client.post("/v1/campaigns/gold-launchers/reach")).status == 401
