"""The core's entry point: (state, event or wake-up, now, campaigns) -> effects.

Pure and synchronous: no I/O, no clock. The state is updated in place and returned;
the shell stores it. Event time drives everything: waits due before an event fire
before it (at their own due time), so a late timer never lets a purchase cancel a
reminder that was already due.
"""

from __future__ import annotations

from engine.core.attribution import attribute_conversion, record_report
from engine.core.campaigns import CampaignSet, CompiledCampaign
from engine.core.best_time import CLICK_WEIGHT, record_activity
from engine.core.delivery import attempt, send_time, user_zone
from engine.core.effects import Decision, Effects, Suppressed, Wake
from engine.core.events import Event
from engine.core.ids import message_id
from engine.core.isotime import minute_utc
from engine.core.limits import prune
from engine.core.localtime import reminder_due
from engine.core.state import UserState, Wait
from engine.core.waits import add_wait, kept_props
from engine.rules.model import DateTrigger
from engine.windows.aggregates import record


def process_event(state: UserState, event: Event, campaigns: CampaignSet) -> Effects:
    """Apply one event of this user (event.ts is its time) and decide what follows."""
    out = Effects()
    waits, waits_before = state.waits, len(state.waits)
    next_due_before = state.next_due if waits_before else None
    if next_due_before is not None and next_due_before <= event.ts:
        _fire_due_waits(state, event.ts, campaigns, out)
    name = event.name
    if name.startswith("$"):
        _apply_system_event(state, event, out)
        if name == "$notification_clicked":
            state.ignored = []  # fatigue: the user engages again
            if campaigns.learns_best_time:
                record_activity(state, event.ts, user_zone(state, campaigns), CLICK_WEIGHT)
    elif campaigns.learns_best_time:
        record_activity(state, event.ts, user_zone(state, campaigns))
    if name in campaigns.interesting:
        if name in campaigns.converted_by:
            attribute_conversion(state, event, campaigns, out)
        if name in campaigns.cancelled_by:
            _cancel_waits(state, event, campaigns.cancelled_by[name], out)
        # Segments read past behaviour: the triggering event itself counts only after.
        for compiled in campaigns.triggered_by.get(name, ()):
            _trigger(state, event, compiled, campaigns, out)
        specs = campaigns.counters_by_event.get(name)
        if specs:
            known = campaigns.counters
            for key in state.counters:  # a few keys: a loop allocates nothing (key views would)
                if key not in known:
                    _forget_unread_counters(state, campaigns)
                    break
            for spec in specs:
                if spec.matches(event.props):
                    record(state.counters, spec, event.ts)
    sent = state.sent
    if sent and sent[0].at <= event.ts - campaigns.history_horizon_ms:  # prune's own first check, without the call
        state.sent = prune(sent, event.ts, campaigns.history_horizon_ms, campaigns.history_horizon_by_campaign)
    # Waits only change by appending or by a new list: the same list at the same length
    # holds the same waits, so the earliest due time (and its timer) stands.
    if state.waits and (state.waits is not waits or len(waits) != waits_before):
        _rearm(state, out, next_due_before)
    return out


def _forget_unread_counters(state: UserState, campaigns: CampaignSet) -> None:
    """Aggregates of conditions no loaded campaign reads any more (after a reload) go."""
    stale = [key for key in state.counters if key not in campaigns.counters]
    for key in stale:
        del state.counters[key]


def process_wake(state: UserState, now: int, campaigns: CampaignSet) -> Effects:
    """A timer went off: fire every wait due at or before now."""
    out = Effects()
    next_due_before = state.next_due
    _fire_due_waits(state, now, campaigns, out)
    _finish(state, now, campaigns, out, next_due_before)
    return out


def _finish(state: UserState, now: int, campaigns: CampaignSet, out: Effects, next_due_before: int | None) -> None:
    sent = state.sent
    if sent and sent[0].at <= now - campaigns.history_horizon_ms:  # prune's own first check, without the call
        state.sent = prune(sent, now, campaigns.history_horizon_ms, campaigns.history_horizon_by_campaign)
    if state.waits:
        _rearm(state, out, next_due_before)


def _rearm(state: UserState, out: Effects, next_due_before: int | None) -> None:
    next_due = state.next_due
    # Waits due by now have fired, so an unchanged earliest due needs no new timer.
    if next_due != next_due_before:
        out.add(Wake(state.user, next_due))


def _fire_due_waits(state: UserState, until: int, campaigns: CampaignSet, out: Effects) -> None:
    # Firing may add waits (DND holds, delays after inaction); loop until none is due.
    while True:
        due, later = [], []
        for wait in state.waits:
            (due if wait.due <= until else later).append(wait)
        if not due:
            return
        state.waits = later
        if len(due) > 1:
            due.sort(key=lambda w: _firing_order(w, campaigns))
        for wait in due:
            _fire(state, wait, campaigns, out)


def _firing_order(wait: Wait, campaigns: CampaignSet) -> tuple:
    """Waits due at the same time fire by campaign priority (higher first), then by when
    they were first due (a message queued by a limit: when it was first held), campaign
    id and message id, so every runtime sends the same one when a limit lets one through."""
    compiled = campaigns.get(wait.campaign)
    priority = compiled.campaign.when.priority if compiled is not None else 0
    return wait.due, -priority, wait.held or wait.due, wait.campaign, wait.message_id


def _fire(state: UserState, wait: Wait, campaigns: CampaignSet, out: Effects) -> None:
    compiled = campaigns.get(wait.campaign)
    if compiled is None:
        return
    delay = compiled.campaign.when.delay
    if wait.kind == "inaction" and delay:
        due = send_time(state, wait.due + delay * 1000, compiled.campaign, campaigns, wait.due, out)
        state.waits.append(Wait(wait.campaign, "deliver", due, wait.message_id, wait.event, wait.props))
        return
    attempt(state, wait, wait.due, campaigns, out)


def _apply_system_event(state: UserState, event: Event, out: Effects) -> None:
    props = event.props
    if event.name == "$profile":
        state.profile.update(props)
    elif event.name == "$push_subscribe":
        keys = props.get("keys") or {}
        endpoint = props.get("endpoint")
        if isinstance(endpoint, str) and isinstance(keys, dict) and keys.get("p256dh") and keys.get("auth"):
            state.subscriptions[endpoint] = [keys["p256dh"], keys["auth"]]
    elif event.name == "$push_unsubscribe":
        state.subscriptions.pop(props.get("endpoint"), None)
    elif event.name in ("$notification_sent", "$notification_clicked"):
        record_report(state, event)
    elif event.name == "$notification_failed":
        _delivery_failed(state, event, out)


def _delivery_failed(state: UserState, event: Event, out: Effects) -> None:
    """A push service refused one subscription's copy: logged for `pushcast explain`
    (only for a message this user was sent)."""
    message = event.props.get("message")
    sent = next((s for s in reversed(state.sent) if s.message_id == message), None)
    if sent is None:
        return
    status, reason = event.props.get("status"), event.props.get("reason") or ""
    detail = " ".join(str(part) for part in (status, reason) if part not in (None, ""))
    out.add(Decision(sent.campaign, state.user, event.ts, "failed", detail or "refused by the push service"))


def _match_key(props: dict, match: tuple[str, ...]) -> str:
    if len(match) == 1:  # the usual `match: [cart_id]`: no generator per trigger
        return str(props.get(match[0], ""))
    return "\x1f".join(str(props.get(name, "")) for name in match)


def _cancel_waits(state: UserState, event: Event, compiled_list: list[CompiledCampaign], out: Effects) -> None:
    for compiled in compiled_list:
        unless = compiled.campaign.unless
        key = _match_key(event.props, unless.match)
        kept = []
        for w in state.waits:
            if w.campaign == compiled.id and w.kind == "inaction" and w.key == key:
                out.add(Decision(compiled.id, state.user, event.ts, "cancelled", f"{event.name} came"
                                 + (f" for the same {', '.join(unless.match)}" if unless.match else "")))
            else:
                kept.append(w)
        state.waits = kept


def _trigger(state: UserState, event: Event, compiled: CompiledCampaign, campaigns: CampaignSet, out: Effects) -> None:
    campaign = compiled.campaign
    when = campaign.when
    if not compiled.trigger_matches(event.props):
        return
    # No closure for these (it would make the locals it reads cells for every trigger).
    if campaign.status != "active":
        return out.add(Decision(campaign.id, state.user, event.ts, "not_qualified", "campaign paused", "paused"))
    if when.start is not None and event.ts < when.start:
        return out.add(Decision(campaign.id, state.user, event.ts, "not_qualified",
                                f"campaign starts {minute_utc(when.start)}", "not_started"))
    if when.end is not None and event.ts >= when.end:
        return out.add(Decision(campaign.id, state.user, event.ts, "not_qualified",
                                f"campaign ended {minute_utc(when.end)}", "ended"))
    failed = compiled.segment_verdict(state.profile, state.counters, event.ts)
    if failed is not None:
        # Logged as the condition's code and what the state showed; the words are rebuilt
        # when read (engine.core.decisions), so the hot path and the stored row stay small.
        code, seen = failed
        out.add(Decision(campaign.id, state.user, event.ts, "not_qualified", code, "segment", tuple(seen)))
        return
    mid = message_id(campaign.id, state.user, event.name, event.ts, event.props)
    trigger = campaign.trigger
    if isinstance(trigger, DateTrigger):
        _schedule_reminder(state, event, compiled, trigger, mid, campaigns, out)
        return
    if campaign.unless is not None:
        key = _match_key(event.props, campaign.unless.match)
        # A new trigger for the same cart restarts its wait: one reminder, from the latest.
        state.waits = [w for w in state.waits if not (w.campaign == campaign.id and w.kind == "inaction" and w.key == key)]
        props = kept_props(event.props, compiled.wait_props)
        due = event.ts + campaign.unless.within * 1000
        add_wait(state, Wait(campaign.id, "inaction", due, mid, event.name, props, key), event.ts, out)
        out.add(Decision(campaign.id, state.user, event.ts, "waiting", reason="unless", seen=(due,)))
        return
    if when.delay:
        props = kept_props(event.props, compiled.wait_props)
        due = send_time(state, event.ts + when.delay * 1000, campaign, campaigns, event.ts, out)
        add_wait(state, Wait(campaign.id, "deliver", due, mid, event.name, props), event.ts, out)
        out.add(Decision(campaign.id, state.user, event.ts, "waiting", reason="delay", seen=(due,)))
    else:
        attempt(state, Wait(campaign.id, "deliver", event.ts, mid, event.name, event.props), event.ts, campaigns, out)


def _schedule_reminder(state, event, compiled, trigger: DateTrigger, mid: str, campaigns, out: Effects) -> None:
    due = reminder_due(event.props.get(trigger.date), trigger.offset, trigger.at, user_zone(state, campaigns))
    if due is None:
        out.add(Suppressed(compiled.id, state.user, event.ts, "invalid_date", mid,
                           f"event property {trigger.date!r} is not a date: {event.props.get(trigger.date)!r}"))
        return
    if due < event.ts:
        out.add(Suppressed(compiled.id, state.user, event.ts, "date_passed", mid,
                           f"the reminder time {minute_utc(due)} already passed"))
        return
    due += compiled.campaign.when.delay * 1000
    # The same booking sent again replaces its reminder instead of adding a second one.
    state.waits = [w for w in state.waits if not (w.campaign == compiled.id and w.message_id == mid)]
    add_wait(state, Wait(compiled.id, "deliver", due, mid, event.name, kept_props(event.props, compiled.wait_props)),
             event.ts, out)
    out.add(Decision(compiled.id, state.user, event.ts, "waiting", reason="date", seen=(due,)))

