"""The last gate before a message leaves: schedule, subscriptions, DND, cut-off,
limits, personalisation. Returns what to do; never raises for one user's data."""

from __future__ import annotations

from engine.core.campaigns import CampaignSet
from engine.core.best_time import best_choice
from engine.core.guard import stopped_by
from engine.core.effects import Decision, Effects, Notify, Qualified, Released, Subscription, Suppressed
from engine.core.isotime import iso, minute_utc
from engine.core.limits import limit_reached
from engine.core.localtime import dnd_end, local, past_cutoff, zone
from engine.core.queued import hold, remaining_ttl
from engine.core.state import Sent, UserState, Wait
from engine.core.variants import assign, is_control, message_of
from engine.rules.errors import RenderError
from engine.rules.model import Campaign, Fatigue, GlobalConfig, Message


def is_test_profile(state: UserState, campaigns: CampaignSet) -> bool:
    return state.profile.get("test") is True or state.user in campaigns.config.test_users


def user_zone(state: UserState, campaigns: CampaignSet):
    return zone(state.profile.get("tz"), campaigns.config.timezone)


def send_time(state: UserState, due: int, campaign: Campaign, campaigns: CampaignSet, now: int, out: Effects) -> int:
    """`due`, moved to the user's best hour when the campaign uses `when.best_time`
    (logged, so `pushcast explain` shows the hour chosen)."""
    best_time = campaign.when.best_time
    if best_time is None:
        return due
    tz = user_zone(state, campaigns)
    moved, how, why = best_choice(state, due, best_time, tz)
    out.add(Decision(campaign.id, state.user, now, "waiting", f"best time: {why} in {tz.key}, at {minute_utc(moved)}",
                     how))
    return moved


def attempt(state: UserState, wait: Wait, now: int, campaigns: CampaignSet, out: Effects) -> None:
    """Try to deliver the message a wait (or an immediate trigger) stands for."""
    compiled = campaigns.get(wait.campaign)
    if compiled is None:  # the campaign was removed by a reload: nothing to send
        return
    campaign = compiled.campaign
    when = campaign.when
    variant = assign(campaign, state.user, state.profile, campaigns.winners)
    if not wait.attempted:
        out.add(Qualified(campaign.id, state.user, now, wait.message_id, variant, is_control(campaign, variant)))
    # Every check below runs per delivery: no closure here (it would turn the locals it
    # reads into cells for the whole function); `_suppress` is a plain call.
    if campaign.status == "paused":
        return _suppress(out, campaign, state, now, wait, variant, "paused")
    if when.end is not None and now >= when.end:
        return _suppress(out, campaign, state, now, wait, variant, "ended", f"campaign ended {minute_utc(when.end)}")
    if when.cutoff_at is not None and now >= when.cutoff_at:
        return _suppress(out, campaign, state, now, wait, variant, "cutoff",
                         f"after the cut-off {minute_utc(when.cutoff_at)}")
    if not state.subscriptions:
        return _suppress(out, campaign, state, now, wait, variant, "no_subscription")
    tz = user_zone(state, campaigns)
    dnd = when.dnd or campaigns.config.dnd
    # The local time, converted once for DND and the cut-off (a zone conversion is one of
    # the larger costs of a delivery).
    now_local = local(now, tz) if dnd is not None or when.cutoff is not None else None
    if dnd is not None:
        until = dnd_end(now, dnd, tz, now_local)
        if until is not None:
            hours = f"{'campaign' if when.dnd else 'global'} do-not-disturb {dnd.start}-{dnd.end} {tz.key}"
            if dnd.then == "discard":
                return _suppress(out, campaign, state, now, wait, variant, "dnd", f"discarded in {hours}")
            state.waits.append(Wait(campaign.id, "deliver", until, wait.message_id, wait.event, wait.props,
                                    attempted=True, held=wait.held))
            out.add(Decision(campaign.id, state.user, now, "held", f"by {hours} until {minute_utc(until)}"))
            return
    if when.cutoff is not None and past_cutoff(now, when.cutoff, tz, now_local):
        return _suppress(out, campaign, state, now, wait, variant, "cutoff",
                         f"after the {when.cutoff} cut-off ({tz.key} time)")
    test = is_test_profile(state, campaigns)
    if not test:
        guarded = stopped_by(campaigns.guard, campaign.id, wait.message_id) if campaigns.guard else None
        if guarded is not None:
            return _suppress(out, campaign, state, now, wait, variant, "engagement", guarded.detail)
        if state.sent:  # no send yet: no limit can hold this one (the loader requires max >= 1)
            reached = limit_reached(state.sent, campaign, campaigns.config, now)
            if reached:
                return hold(state, wait, now, campaigns, reached, out)  # queued (on_limit: queue) or suppressed
        fatigue = campaigns.config.fatigue
        if fatigue is not None and fatigued(state, fatigue, now):
            return _suppress(out, campaign, state, now, wait, variant, "fatigue",
                             f"ignored the last {fatigue.ignored} pushes; paused until {iso(state.ignored[1])}")
    ttl = remaining_ttl(wait, campaign.what.ttl, now)
    if ttl <= 0:  # a queued message released into DND hours, and held there past its TTL
        return _suppress(out, campaign, state, now, wait, variant, "limit",
                         f"queued {(now - wait.held) // 1000}s: its ttl ran out")
    try:
        payload = render_payload(campaign, wait.message_id, state.profile, wait.props, variant, campaigns.config)
    except RenderError as error:
        return _suppress(out, campaign, state, now, wait, variant, "render_error", str(error))
    if is_control(campaign, variant):
        # The holdout: it would have been sent. Kept in the history (not counted by any
        # limit) so that its conversions are the control's, for lift.
        _suppress(out, campaign, state, now, wait, variant, "control")
        state.sent.append(Sent(campaign.id, wait.message_id, now, counts_global=not test, variant=variant, control=True))
        return None
    what = message_of(campaign, variant)
    subscriptions = tuple([Subscription(endpoint, keys[0], keys[1]) for endpoint, keys in state.subscriptions.items()])
    out.add(Notify(wait.message_id, campaign.id, state.user, now, payload, subscriptions,
                   ttl, what.urgency, test, variant))
    state.sent.append(Sent(campaign.id, wait.message_id, now, counts_global=not test, variant=variant))
    if not test and campaigns.config.fatigue is not None:
        state.ignored = [(state.ignored[0] if state.ignored else 0) + 1, 0]
    if wait.held:
        out.add(Released(campaign.id, state.user, now, wait.message_id, wait.held))


def _suppress(out: Effects, campaign: Campaign, state: UserState, now: int, wait: Wait, variant: str | None,
              reason: str, detail: str = "") -> None:
    out.add(Suppressed(campaign.id, state.user, now, reason, wait.message_id, detail, variant))


def fatigued(state: UserState, fatigue: Fatigue, now: int) -> bool:
    """The user ignored their last `fatigue.ignored` pushes: paused for `fatigue.pause`
    from now; once the pause is over they get pushes again (and a new count)."""
    if not state.ignored or state.ignored[0] < fatigue.ignored:
        return False
    if not state.ignored[1]:
        state.ignored[1] = now + fatigue.pause * 1000
    if now < state.ignored[1]:
        return True
    state.ignored = []
    return False


def render_payload(campaign: Campaign, message_id: str, profile: dict, event: dict, variant: str | None = None,
                   config: GlobalConfig | None = None) -> dict:
    """The JSON the service worker shows (with the variant's message and name, so its
    reports carry the variant back). Raises RenderError for a missing value.
    `declarative: true` asks the sender for a Declarative Web Push message where the push
    service is Apple's (connectors/push/declarative.py); it needs the `url` to navigate to."""
    what: Message = message_of(campaign, variant) if not is_control(campaign, variant) else campaign.what
    payload: dict = {"title": what.title.render(profile, event), "message": message_id, "campaign": campaign.id}
    if variant is not None:
        payload["variant"] = variant
    if not payload["title"].strip():
        raise RenderError("what.title: rendered empty")
    for name in ("body", "url", "icon", "image", "badge", "tag"):
        text = getattr(what, name)
        if text is not None:
            payload[name] = text.render(profile, event)
    payload.setdefault("tag", message_id)
    if what.require_interaction:
        payload["require_interaction"] = True
    if what.actions:
        payload["actions"] = [
            {"action": action.action or f"action-{i}", "title": action.title.render(profile, event),
             "url": action.url.render(profile, event)}
            for i, action in enumerate(what.actions, start=1)
        ]
    declarative = what.declarative if what.declarative is not None else bool(config and config.declarative_push)
    if declarative and "url" in payload:
        payload["declarative"] = True
    return payload
