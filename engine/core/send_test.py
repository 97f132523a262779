"""The test-send decision, shared by both runtimes: render a campaign now for one test
profile, ignoring its schedule, status and limits. Pure: state and request in, effects
and the caller's result out.

The message id includes the request (`occurrence`), so a second test send is a new
message, not a duplicate. The user's send history is left alone: test sends never use
up a limit nor earn a conversion.
"""

from __future__ import annotations

from engine.core.campaigns import CampaignSet
from engine.core.delivery import is_test_profile, render_payload
from engine.core.effects import Effects, Notify, Subscription
from engine.core.ids import message_id
from engine.core.state import UserState
from engine.core.variants import assign, is_control, message_of
from engine.rules.errors import PushcastError, RenderError

TEST_EVENT = "$send_test"


class NotATestUser(PushcastError):
    """A test send was asked for a user who is not a test profile."""


class UnknownCampaign(PushcastError):
    """A test send was asked for a campaign that is not loaded."""


def not_a_test_user(user: str) -> NotATestUser:
    return NotATestUser(f"user {user!r} is not a test profile: send a $profile event with test: true for them, "
                        "or list them in test_users in pushcast.yaml")


def unknown_campaign(campaign: str, known) -> UnknownCampaign:
    return UnknownCampaign(f"no campaign {campaign!r} (known: {', '.join(sorted(known)) or 'none'})")


def test_send(state: UserState, item, now: int, campaigns: CampaignSet) -> tuple[Effects, dict]:
    """Decide one user's test send: (effects, result for the caller). Pure. `item` names
    the `campaign` and the request's `occurrence` (part of the message id)."""
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
    variant = assign(campaign, state.user, state.profile, campaigns.winners)
    if is_control(campaign, variant):  # a test user sees a message: the first variant
        variant = campaign.what.variants[0].name
    try:
        payload = render_payload(campaign, mid, state.profile, {}, variant, campaigns.config)
    except RenderError as error:
        return out, {"user": state.user, "message": mid, "sent": False, "reason": "render_error", "detail": str(error)}
    what = message_of(campaign, variant)
    subscriptions = tuple(Subscription(endpoint, keys[0], keys[1]) for endpoint, keys in state.subscriptions.items())
    out.add(Notify(mid, campaign.id, state.user, now, payload, subscriptions, what.ttl, what.urgency, test=True,
                   variant=variant))
    result = {"user": state.user, "message": mid, "sent": True, "subscriptions": len(subscriptions),
              "title": payload["title"]}
    if variant is not None:
        result["variant"] = variant
    return out, result


def summary(campaign: str, request: str, test_users: int, results: list[dict]) -> dict:
    """What `send-test` answers: every user's result, sorted by user."""
    results = sorted(results, key=lambda r: r["user"])
    return {"campaign": campaign, "request": request, "test_users": test_users,
            "sent": sum(1 for r in results if r["sent"]), "results": results}

