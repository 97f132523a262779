"""Messages a frequency limit holds, with `on_limit: queue`: kept as a `queued` wait due
exactly when the blocking windows free (from the send history, no polling), then tried
again like any due message (pause, end, cut-off, DND and the limits apply then).

A message waits at most `max_delay`, and never beyond its TTL, from the first time a
limit held it: when the limits free only later, it is suppressed `limit` at once (the
history only grows, so waiting could not help). Queued messages freed at the same time
go in `when.priority` order (engine.core.process orders due waits).
"""

from __future__ import annotations

from engine.core.campaigns import CampaignSet
from engine.core.effects import Effects, Queued, Suppressed
from engine.core.limits import limits_free_at, queue_delay
from engine.core.state import UserState, Wait
from engine.core.waits import add_wait, kept_props


def hold(state: UserState, wait: Wait, now: int, campaigns: CampaignSet, reached: str, out: Effects) -> None:
    """A limit (`reached`) holds this message now: queue it until the limits free, or
    suppress it `limit` (on_limit: drop, or the limits free after its max_delay)."""
    compiled = campaigns.get(wait.campaign)
    campaign = compiled.campaign
    max_delay = queue_delay(campaign, campaigns.config)
    if not max_delay:
        out.add(Suppressed(campaign.id, state.user, now, "limit", wait.message_id, reached))
        return
    since = wait.held or now
    deadline = since + min(max_delay, campaign.what.ttl) * 1000
    release = limits_free_at(state.sent, campaign, campaigns.config)
    if release > deadline:
        waited = f"; queued {(now - since) // 1000}s" if wait.held else ""
        detail = (f"{reached}{waited}; the limits free in {(release - now) // 1000}s, "
                  f"after max_delay {max_delay}s")
        out.add(Suppressed(campaign.id, state.user, now, "limit", wait.message_id, detail))
        return
    queued = Wait(campaign.id, "queued", release, wait.message_id, wait.event,
                  kept_props(wait.props, compiled.wait_props), attempted=True, held=since)
    add_wait(state, queued, now, out)
    out.add(Queued(campaign.id, state.user, now, wait.message_id, release, since))


def remaining_ttl(wait: Wait, ttl: int, now: int) -> int:
    """Seconds of its TTL a message has left when sent: what it spent held by a limit
    counts (the push service keeps it no longer than it was worth)."""
    if not wait.held:
        return ttl
    return ttl - (now - wait.held) // 1000
