"""Test sends: only test profiles, now, whatever the schedule, status and limits; a new
message id per request; counted under `test`; refused for a user who is not a test."""

from __future__ import annotations

import pytest

from engine.core import Event
from engine.core.send_test import NotATestUser
from engine.local.send_test import send_test
from engine.local.stats import campaign_stats
from engine.rules.model import GlobalConfig
from tests.unit.core_helpers import T0, campaigns
from tests.unit.local_helpers import Running, admin_api, make_runtime, subscribe

XMAS = """
campaign: xmas
status: paused
who: {segment: {did: App Launched, in_last: 30d}}
when:
  schedule: {at: "2027-12-24T10:00"}
  limits: {per_user: {max: 1, per: 30d}}
what:
  title: "Merry Christmas, {{ profile.name | default: 'friend' }}"
"""


def runtime_with_testers(tmp_path):
    runtime = make_runtime(tmp_path, XMAS)
    runtime.campaigns = campaigns(XMAS, config=GlobalConfig(test_users=("qa-config", "qa-never-seen")))
    return runtime


async def setup_users(runtime):
    await runtime.submit([
        subscribe("qa-profile"), Event("qa-profile", "$profile", T0, {"test": True, "name": "Quinn"}),
        subscribe("qa-config"),
        Event("qa-nodevice", "$profile", T0, {"test": True}),
        subscribe("customer"), Event("customer", "App Launched", T0, {}),
        # Mentions test: true in an event, not in the profile: not a test profile.
        Event("tricky", "$push_subscribe", T0, {"endpoint": "https://fcm.googleapis.com/fcm/send/t",
                                               "keys": {"p256dh": "x", "auth": "y"}, "test": True}),
    ])


async def test_a_test_send_reaches_every_test_profile_and_nobody_else(tmp_path):
    runtime = runtime_with_testers(tmp_path)
    running = Running(runtime)
    try:
        await setup_users(runtime)
        result = await send_test(runtime, "xmas")
        by_user = {r["user"]: r for r in result["results"]}
        assert sorted(by_user) == ["qa-config", "qa-never-seen", "qa-nodevice", "qa-profile"]
        assert by_user["qa-profile"]["sent"] and by_user["qa-profile"]["title"] == "Merry Christmas, Quinn"
        assert by_user["qa-config"]["sent"]
        assert by_user["qa-nodevice"]["reason"] == by_user["qa-never-seen"]["reason"] == "no_subscription"
        assert result["sent"] == 2
        pending = runtime.store.pending(100)
        assert sorted(r.user for r in pending) == ["qa-config", "qa-profile"] and all(r.test for r in pending)
        stats = campaign_stats("xmas", runtime.store.stats("xmas")["xmas"])
        assert stats["test"]["sent"] == 2 and stats["sent"] == 0 and stats["qualified"] == 0
        assert runtime.user_state("qa-never-seen") is None  # no empty state made for it

        # A second request is a new message (not refused by the outbox as a repeat).
        again = await send_test(runtime, "xmas", "qa-profile")
        assert again["sent"] == 1 and again["results"][0]["message"] != by_user["qa-profile"]["message"]
        assert runtime.store.pending_count() == 3
        assert runtime.user_state("qa-profile").sent == []  # never uses up a limit
    finally:
        await running.stop()


async def test_a_user_who_is_not_a_test_profile_is_refused(tmp_path):
    runtime = runtime_with_testers(tmp_path)
    running = Running(runtime)
    try:
        await setup_users(runtime)
        for user in ("customer", "tricky", "nobody"):
            with pytest.raises(NotATestUser, match="not a test profile"):
                await send_test(runtime, "xmas", user)
        assert runtime.store.pending_count() == 0
    finally:
        await running.stop()


async def test_the_send_test_endpoint(tmp_path):
    runtime = runtime_with_testers(tmp_path / "state")
    async with admin_api(runtime) as (client, auth):
        await setup_users(runtime)
        response = await client.post("/v1/campaigns/xmas/send-test", headers=auth)
        body = await response.json()
        assert response.status == 200 and body["sent"] == 2, body
        response = await client.post("/v1/campaigns/xmas/send-test", json={"user": "qa-config"}, headers=auth)
        assert response.status == 200 and (await response.json())["sent"] == 1
        response = await client.post("/v1/campaigns/xmas/send-test", json={"user": "customer"}, headers=auth)
        body = await response.json()
        assert response.status == 400 and "not a test profile" in body["error"] and body["field"] == "user"
        response = await client.post("/v1/campaigns/xmas/send-test", json={"users": ["x"]}, headers=auth)
        assert response.status == 400 and "unknown key" in (await response.json())["error"]
        assert (await client.post("/v1/campaigns/nope/send-test", headers=auth)).status == 404
        assert (await client.post("/v1/campaigns/xmas/send-test")).status == 401
        assert runtime.store.pending_count() == 3
