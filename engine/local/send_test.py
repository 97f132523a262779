"""Test sends (`pushcast send-test`, `POST /v1/campaigns/{id}/send-test`): render a
campaign now and send it to the test profiles, or to one named test user, ignoring its
schedule, status and limits.

A test send goes through the normal path — the runtime's writer queues it in the
outbox, the sender delivers it — and is counted under `test` in the campaign's stats.
Its message id includes the request (`occurrence`), so a second test send is a new
message, not a duplicate the outbox would refuse. It is not added to the user's send
history: test sends never use up a limit nor earn a conversion.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from engine.core.campaigns import CampaignSet
from engine.core.delivery import is_test_profile, render_payload
from engine.core.effects import Effects, Notify, Subscription
from engine.core.ids import message_id
from engine.core.state import UserState
from engine.local.reach import open_reader
from engine.rules.errors import PushcastError, RenderError

TEST_EVENT = "$send_test"
_requests = itertools.count(1)


class NotATestUser(PushcastError):
    """A test send was asked for a user who is not a test profile."""


class UnknownCampaign(PushcastError):
    """A test send was asked for a campaign that is not loaded."""


@dataclass(frozen=True)
class TestSend:
    """Work for the runtime's writer: send `campaign` to one test user now."""

    __test__ = False  # not a pytest class

    user: str
    campaign: str
    occurrence: str  # the request: part of the message id
    results: list = field(default_factory=list, compare=False)  # filled by the writer


def test_send(state: UserState, item: TestSend, now: int, campaigns: CampaignSet) -> tuple[Effects, dict]:
    """Decide one user's test send: (effects, result for the caller). Pure."""
    out = Effects()
    compiled = campaigns.get(item.campaign)
    if compiled is None:
        return out, {"user": state.user, "sent": False, "reason": "campaign_removed"}
    if not is_test_profile(state, campaigns):  # the profile changed since the request was checked
        return out, {"user": state.user, "sent": False, "reason": "not_a_test_profile"}
    mid = message_id(item.campaign, state.user, TEST_EVENT, now, {}, item.occurrence)
    if not state.subscriptions:
        return out, {"user": state.user, "message": mid, "sent": False, "reason": "no_subscription"}
    campaign = compiled.campaign
    try:
        payload = render_payload(campaign, mid, state.profile, {})
    except RenderError as error:
        return out, {"user": state.user, "message": mid, "sent": False, "reason": "render_error", "detail": str(error)}
    subscriptions = tuple(Subscription(endpoint, keys[0], keys[1]) for endpoint, keys in state.subscriptions.items())
    out.add(Notify(mid, campaign.id, state.user, now, payload, subscriptions, campaign.what.ttl,
                   campaign.what.urgency, test=True))
    return out, {"user": state.user, "message": mid, "sent": True, "subscriptions": len(subscriptions),
                 "title": payload["title"]}


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


def new_occurrence(now: int) -> str:
    """A request's own part of the message ids: a counter, the time and a random tag (a
    restart resets the counter)."""
    return f"{now}:{next(_requests)}:{secrets.token_hex(4)}"


async def send_test(runtime, campaign_id: str, user: str | None = None) -> dict:
    """Queue the test send through the runtime; returns what happened to each user."""
    campaigns = runtime.campaigns
    if campaign_id not in campaigns.by_id:
        raise UnknownCampaign(f"no campaign {campaign_id!r} (known: {', '.join(sorted(campaigns.by_id)) or 'none'})")
    await runtime.barrier()  # profiles sent before this request count
    if user is not None:
        state = runtime.user_state(user) or UserState(user)
        if not is_test_profile(state, campaigns):
            raise NotATestUser(f"user {user!r} is not a test profile: send a $profile event with test: true for them, "
                               "or list them in test_users in pushcast.yaml")
        users = [user]
    else:
        users = await asyncio.to_thread(find_test_users, runtime.store.path, campaigns)
    now = runtime.clock.now()
    occurrence = new_occurrence(now)
    # A configured test user never seen has nowhere to send to (and gets no empty state).
    unknown = [u for u in users if runtime.user_state(u) is None]
    items = [TestSend(u, campaign_id, occurrence) for u in users if u not in unknown]
    if items:
        await runtime.submit(items)
    results = [result for item in items for result in item.results]
    results += [{"user": u, "sent": False, "reason": "no_subscription"} for u in unknown]
    results.sort(key=lambda r: r["user"])
    return {"campaign": campaign_id, "request": occurrence, "test_users": len(users),
            "sent": sum(1 for r in results if r["sent"]), "results": results}
