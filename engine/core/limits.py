"""Frequency limits over a user's send history: global windows, min gap, per campaign."""

from __future__ import annotations

from engine.core.isotime import minute_utc
from engine.core.state import Sent
from engine.rules.model import Campaign, FrequencyLimit, GlobalConfig
from engine.rules.parse import format_duration


def limit_reached(sent: list[Sent], campaign: Campaign, config: GlobalConfig, now_ms: int) -> str | None:
    """Which limit stops a send now, as text for the suppression detail; None if none."""
    # Every delivery checks this: the counted send times (and this campaign's) in one loop.
    counted: list[int] = []
    own_sends: list[int] = []
    cid = campaign.id
    for s in sent:
        if s.counts_global and not s.control:
            counted.append(s.at)
            if s.campaign == cid:
                own_sends.append(s.at)
    if not campaign.when.limits.ignore_global:
        for limit in config.limits:
            since = now_ms - limit.per * 1000
            if (n := len([at for at in counted if at > since])) >= limit.max:
                return f"global limit {limit.max} per {_span(limit.per)} reached ({n} sent since {minute_utc(since)})"
        if config.min_gap and counted:
            last = max(counted)
            if now_ms - last < config.min_gap * 1000:
                return f"global min_gap {format_duration(config.min_gap)} not over (last sent {minute_utc(last)})"
    for limit in campaign.when.limits.per_user:
        since = now_ms - limit.per * 1000
        own = len([at for at in own_sends if at > since])
        if own >= limit.max:
            return f"campaign limit {limit.max} per {_span(limit.per)} reached ({own} sent since {minute_utc(since)})"
    return None


def limits_free_at(sent: list[Sent], campaign: Campaign, config: GlobalConfig) -> int:
    """The earliest time (epoch ms) at which no limit holds a message of this campaign,
    from the sends so far: a window frees when its max-th newest counted send leaves it,
    min_gap when it has passed since the newest. At or after it `limit_reached` is None
    (until something else is sent); before it, not."""
    newest_first = sorted((s.at for s in sent if s.counts_global), reverse=True)
    free = 0
    if not campaign.when.limits.ignore_global:
        for limit in config.limits:
            free = max(free, _window_frees(newest_first, limit))
        if config.min_gap and newest_first:
            free = max(free, newest_first[0] + config.min_gap * 1000)
    if campaign.when.limits.per_user:
        own = sorted((s.at for s in sent if s.counts_global and s.campaign == campaign.id), reverse=True)
        for limit in campaign.when.limits.per_user:
            free = max(free, _window_frees(own, limit))
    return free


def _window_frees(newest_first: list[int], limit: FrequencyLimit) -> int:
    if len(newest_first) < limit.max:
        return 0
    return newest_first[limit.max - 1] + limit.per * 1000


def queue_delay(campaign: Campaign, config: GlobalConfig) -> int:
    """Seconds a message a limit holds may wait (`on_limit: queue`); 0: it is dropped.
    The campaign's `on_limit` wins over the global one, whichever limit holds it."""
    limits = campaign.when.limits
    if limits.on_limit is not None:
        return limits.max_delay if limits.on_limit == "queue" else 0
    return config.max_delay if config.on_limit == "queue" else 0
def _span(seconds: int) -> str:
    return {3600: "hour", 86400: "day", 604800: "week"}.get(seconds) or format_duration(seconds)


def prune(sent: list[Sent], now_ms: int, shortest_ms: int, by_campaign: dict[str, int]) -> list[Sent]:
    """Drop sends that no limit or conversion window can read any more (a send of a
    campaign no longer loaded: at least as long as the global limits read it)."""
    if not sent or sent[0].at > now_ms - shortest_ms:
        return sent
    return [s for s in sent if s.at > now_ms - by_campaign.get(s.campaign, shortest_ms)]
