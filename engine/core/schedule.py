"""Scheduled campaigns over past behaviour: when runs happen, and what a run decides
for one user. A run evaluates the segment now and leaves a `deliver` wait at the send
time, so limits, DND, cut-off and personalisation are the live campaigns' own."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from croniter import croniter

from engine.core.campaigns import CampaignSet, CompiledCampaign
from engine.core.delivery import attempt, send_time, user_zone
from engine.core.effects import Effects, Qualified, Suppressed, Wake
from engine.core.ids import message_id
from engine.core.localtime import local, to_ms, zone
from engine.core.state import UserState, Wait

# `timezone: user` runs start where the wall time comes first (UTC+14) and leave each
# user a wait at that wall time in their own zone.
EARLIEST_ZONE = ZoneInfo("Etc/GMT-14")
SLOT_FORMAT = "%Y-%m-%dT%H:%M"
# UTC+14 to UTC-12, plus a DST hour: how long one wall time takes to pass every zone.
LAST_ZONE_LAG_MS = 27 * 3600 * 1000


def _run_zone(compiled: CompiledCampaign) -> ZoneInfo:
    schedule = compiled.campaign.when.schedule
    if schedule.timezone == "user":
        return EARLIEST_ZONE
    return zone(schedule.timezone or compiled.campaign.timezone)


def run_times(compiled: CompiledCampaign, after: int, until: int) -> list[tuple[str, int]]:
    """The campaign's runs with after < run time <= until, as (slot, run time ms).
    The slot is the wall time `YYYY-MM-DDTHH:MM` in the run's zone.

    Cron times are wall times: a weekly 10:00 stays at 10:00 across a DST change; a wall
    time the clocks skip runs just after the gap (as DND and reminders do) and one they
    repeat runs once, at its first occurrence. A `timezone: user` run whose UTC+14 time
    falls before the campaign's `start` is made at `start` (users whose local slot is
    already past then are `late`), as long as the slot is still ahead somewhere.
    """
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
    start = compiled.campaign.when.start
    late_start = schedule.timezone == "user" and start is not None
    if schedule.cron:
        runs.extend(_cron_runs(schedule.cron, tz, after - LAST_ZONE_LAG_MS if late_start else after, until))
    if late_start:
        runs = [(slot, start if t < start < t + LAST_ZONE_LAG_MS else t) for slot, t in runs]
    # Runs outside start..end would reach nobody: not made at all.
    first = max(after + 1, start if start is not None else after + 1)
    end = compiled.campaign.when.end
    last = min(until, end - 1 if end is not None else until)
    return sorted({(slot, t) for slot, t in runs if first <= t <= last}, key=lambda run: (run[1], run[0]))


def _cron_runs(cron: str, tz: ZoneInfo, after: int, until: int) -> list[tuple[str, int]]:
    # croniter mishandles aware datetimes across DST changes (a weekly 10:00 becomes
    # 11:00 after the autumn change): iterate naive wall times and place each one here.
    runs: list[tuple[str, int]] = []
    instants: set[int] = set()
    # From a day earlier: the wall clock runs backwards in an autumn change.
    cursor = croniter(cron, local(after, tz).replace(tzinfo=None) - timedelta(days=1))
    while True:
        wall = cursor.get_next(datetime)
        at = to_ms(wall_time(wall, tz))
        if at > until:
            return runs
        # A skipped wall time lands after the gap, maybe on the next run's instant: once.
        if after < at and at not in instants:
            instants.add(at)
            runs.append((wall.strftime(SLOT_FORMAT), at))


def wall_time(naive: datetime, tz: ZoneInfo) -> datetime:
    """A wall time in tz: a repeated one is its first occurrence, a skipped one the
    instant just after the gap."""
    return naive.replace(tzinfo=tz, fold=0).astimezone(timezone.utc).astimezone(tz)


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
        return  # this run already reached this user (a replayed run)
    due = now
    if when.schedule.timezone == "user":
        tz = user_zone(state, campaigns)
        naive = datetime.fromisoformat(slot)
        due = to_ms(wall_time(naive, tz))
        if due < now and when.schedule.late == "next_day":
            due = to_ms(wall_time(naive + timedelta(days=1), tz))
        if due < now:  # a run made late (after downtime, or from `start`): never off-hours
            out.add(Qualified(campaign.id, state.user, now, mid))
            out.add(Suppressed(campaign.id, state.user, now, "late", mid, f"{slot} already passed in {tz.key}"))
            return
    due = send_time(state, due, campaign, campaigns, now, out)
    wait = Wait(campaign.id, "deliver", due, mid, "$schedule", {"slot": slot})
    if due <= now:
        attempt(state, wait, now, campaigns, out)
    else:
        state.waits.append(wait)
