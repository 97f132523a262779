"""What the page says about a loaded campaign besides its stats: status now, trigger,
schedule and next run; plain dicts, so the HTML rendering needs no campaign model."""

from __future__ import annotations

from pathlib import PurePath

from engine.core.campaigns import CompiledCampaign
from engine.core.isotime import iso
from engine.core.schedule import run_times

NEXT_RUN_HORIZON_MS = 400 * 24 * 3600 * 1000  # a yearly cron still shows its next run


def status_now(compiled: CompiledCampaign, now: int) -> str:
    """paused | ended | not started | active: what the campaign does at `now`."""
    campaign = compiled.campaign
    if campaign.status == "paused":
        return "paused"
    when = campaign.when
    if when.end is not None and when.end <= now:
        return "ended"
    if when.start is not None and when.start > now:
        return "not started"
    return "active"


def describe(compiled: CompiledCampaign, now: int) -> dict:
    campaign = compiled.campaign
    schedule = campaign.when.schedule
    info = {"id": campaign.id, "name": campaign.name, "status": status_now(compiled, now),
            "kind": "live" if campaign.trigger is not None else "scheduled",
            "trigger": getattr(campaign.trigger, "event", None), "cron": None, "timezone": None, "next_run": None,
            "file": PurePath(campaign.position.file).name if campaign.position is not None else None}
    if schedule is not None:
        info["cron"] = schedule.cron
        info["timezone"] = schedule.timezone or campaign.timezone
        runs = run_times(compiled, now, now + NEXT_RUN_HORIZON_MS)
        if runs:
            info["next_run"] = iso(runs[0][1])
    return info
