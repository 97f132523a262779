"""Test sends (`pushcast send-test`, `POST /v1/campaigns/{id}/send-test`): render a
campaign now and send it to the test profiles, or to one named test user, ignoring its
schedule, status and limits.

A test send goes through the normal path — the runtime's writer queues it in the
outbox, the sender delivers it — and is counted under `test` in the campaign's stats.
Its message id includes the request (`occurrence`), so a second test send is a new
message, not a duplicate the outbox would refuse. It is not added to the user's send
history: test sends never use up a limit nor earn a conversion. The decision is
`engine.core.send_test.test_send`, shared with the Kafka runtime.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from engine.core.campaigns import CampaignSet
from engine.core.delivery import is_test_profile
from engine.core.send_test import not_a_test_user, summary, unknown_campaign
from engine.core.state import UserState
from engine.local.reach import open_reader
from engine.shell.inputs import TestSend, new_occurrence


def find_test_users(db_path: Path | str, campaigns: CampaignSet) -> list[str]:
    """Every test profile: the configured `test_users` and every stored user whose
    profile says `test: true` (blocking: run it in a thread)."""
    users = set(campaigns.config.test_users)
    db = open_reader(db_path)
    try:
        # orjson writes `"test":true` without spaces: the scan decodes only those states.
        rows = db.execute("SELECT user, state FROM users WHERE instr(state, ?) > 0", (b'"test":true',))
        for user, blob in rows:
            if orjson.loads(blob).get("p", {}).get("test") is True:
                users.add(user)
    finally:
        db.close()
    return sorted(users)


async def send_test(runtime, campaign_id: str, user: str | None = None) -> dict:
    """Queue the test send through the runtime; returns what happened to each user."""
    campaigns = runtime.campaigns
    if campaign_id not in campaigns.by_id:
        raise unknown_campaign(campaign_id, campaigns.by_id)
    await runtime.barrier()  # profiles sent before this request count
    if user is not None:
        state = runtime.user_state(user) or UserState(user)
        if not is_test_profile(state, campaigns):
            raise not_a_test_user(user)
        users = [user]
    else:
        users = await asyncio.to_thread(find_test_users, runtime.store.path, campaigns)
    now = runtime.clock.now()
    occurrence = new_occurrence(now)
    # A configured test user never seen has nowhere to send to (and gets no empty state).
    unknown = [u for u in users if runtime.user_state(u) is None]
    items = [TestSend(u, campaign_id, occurrence, now) for u in users if u not in unknown]
    results = await runtime.submit(items) if items else []
    results += [{"user": u, "sent": False, "reason": "no_subscription"} for u in unknown]
    return summary(campaign_id, occurrence, len(users), results)
