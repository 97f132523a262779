"""Scheduled campaigns over past behaviour: when runs happen, and what a run decides
for one user. A run evaluates the segment now and leaves a `deliver` wait at the send
time, so limits, DND, cut-off and personalisation are the live campaigns' own."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from engine.core.campaigns import CampaignSet, CompiledCampaign
from engine.core.delivery import attempt, user_zone
from engine.core.effects import Effects, Qualified, Suppressed, Wake
from engine.core.ids import message_id
from engine.core.localtime import local, to_ms, zone
from engine.core.state import UserState, Wait

# `timezone: user` runs start where the wall time comes first (UTC+14) and leave each
# user a wait at that wall time in their own zone.
EARLIEST_ZONE = ZoneInfo("Etc/GMT-14")
SLOT_FORMAT = "%Y-%m-%dT%H:%M"


def _run_zone(compiled: CompiledCampaign) -> ZoneInfo:
    schedule = compiled.campaign.when.schedule
    if schedule.timezone == "user":
        return EARLIEST_ZONE
    return zone(schedule.timezone or compiled.campaign.timezone)


def run_times(compiled: CompiledCampaign, after: int, until: int) -> list[tuple[str, int]]:
    """The campaign's runs with after < run time <= until, as (slot, run time ms).
    The slot is the wall time `YYYY-MM-DDTHH:MM` in the run's zone."""
    schedule = compiled.campaign.when.schedule
    if schedule is None:
        return []
    tz = _run_zone(compiled)
    runs: list[tuple[str, int]] = []
    if schedule.timezone == "user":
        for text in schedule.at_local:
            wall = datetime.fromisoformat(text).replace(tzinfo=tz)
            runs.append((wall.strftime(SLOT_FORMAT), to_ms(wall)))
    else:
        for at in schedule.at:
            runs.append((local(at, tz).strftime(SLOT_FORMAT), at))
    if schedule.cron:
        cron = croniter(schedule.cron, local(after, tz))
        while True:
            wall = cron.get_next(datetime)
            if to_ms(wall) > until:
                break
            runs.append((wall.strftime(SLOT_FORMAT), to_ms(wall)))
    return sorted({(slot, t) for slot, t in runs if after < t <= until}, key=lambda run: run[1])


def process_scheduled_run(state: UserState, compiled: CompiledCampaign, slot: str, now: int,
                          campaigns: CampaignSet) -> Effects:
    """One user in one run: qualify by segment, then wait for the send time."""
    out = Effects()
    before = state.next_due
    _decide_run(state, compiled, slot, now, campaigns, out)
    if state.next_due is not None and state.next_due != before:
        out.add(Wake(state.user, state.next_due))
    return out


def _decide_run(state: UserState, compiled: CompiledCampaign, slot: str, now: int,
                campaigns: CampaignSet, out: Effects) -> None:
    campaign = compiled.campaign
    when = campaign.when
    if campaign.status != "active":
        return
    if (when.start is not None and now < when.start) or (when.end is not None and now >= when.end):
        return
    if not compiled.segment(state.profile, state.counters, now):
        return
    mid = message_id(campaign.id, state.user, "$schedule", 0, {}, slot)
    if any(w.message_id == mid for w in state.waits) or any(s.message_id == mid for s in state.sent):
        return out  # this run already reached this user (a replayed run)
    due = now
    if when.schedule.timezone == "user":
        tz = user_zone(state, campaigns)
        wall = datetime.fromisoformat(slot).replace(tzinfo=tz)
        due = to_ms(wall)
        if due < now and when.schedule.late == "next_day":
            due = to_ms(wall + timedelta(days=1))
        elif due < now:
            out.add(Qualified(campaign.id, state.user, now, mid))
            out.add(Suppressed(campaign.id, state.user, now, "late", mid, f"{slot} already passed in {tz.key}"))
            return
    wait = Wait(campaign.id, "deliver", due, mid, "$schedule", {"slot": slot})
    if due <= now:
        attempt(state, wait, now, campaigns, out)
    else:
        state.waits.append(wait)
