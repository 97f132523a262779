"""Frequency limits over a user's send history: global windows, min gap, per campaign."""

from __future__ import annotations

from engine.core.state import Sent
from engine.rules.model import Campaign, GlobalConfig


def limit_reached(sent: list[Sent], campaign: Campaign, config: GlobalConfig, now_ms: int) -> str | None:
    """Which limit stops a send now, as text for the suppression detail; None if none."""
    counted = [s for s in sent if s.counts_global and not s.control]
    if not campaign.when.limits.ignore_global:
        for limit in config.limits:
            since = now_ms - limit.per * 1000
            if sum(1 for s in counted if s.at > since) >= limit.max:
                return f"global limit {limit.max} per {limit.per}s"
        if config.min_gap and counted:
            last = max(s.at for s in counted)
            if now_ms - last < config.min_gap * 1000:
                return f"global min_gap {config.min_gap}s"
    for limit in campaign.when.limits.per_user:
        since = now_ms - limit.per * 1000
        own = sum(1 for s in counted if s.campaign == campaign.id and s.at > since)
        if own >= limit.max:
            return f"campaign limit {limit.max} per {limit.per}s"
    return None


def prune(sent: list[Sent], now_ms: int, shortest_ms: int, by_campaign: dict[str, int]) -> list[Sent]:
    """Drop sends that no limit or conversion window can read any more (a send of a
    campaign no longer loaded: at least as long as the global limits read it)."""
    if not sent or sent[0].at > now_ms - shortest_ms:
        return sent
    return [s for s in sent if s.at > now_ms - by_campaign.get(s.campaign, shortest_ms)]
