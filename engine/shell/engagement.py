"""The engagement guard (pushcast.yaml `engagement`), judged the same way for every
runtime: the embedded judge, the Kafka decider and the simulator call `assess` with the
campaigns' exact stats and hand the core the verdicts as data (`CampaignSet.guard`).

Chrome revokes the notification permission of sites whose users rarely click and get
many notifications. The guard reads each campaign's hourly send and click counts
(engine/shell/series.py) over the sliding `window` and compares clicks per send with
`min_click_rate`, for each campaign and for the whole site, once the window holds
`min_sends` sends. Below the floor the scope is throttled (a share of its messages
still go, so its click rate is still measured) or paused. The verdict lifts when the
rate is back at the floor, or when the window holds fewer than `min_sends` sends: a
paused campaign resumes at most one window later and is judged again from new sends.

A verdict depends only on the stats and the clock; runtimes keep the latest (its
`since` survives while the scope stays below the floor), log each change and show it.
"""

from __future__ import annotations

from typing import Callable

import orjson

from engine.core.campaigns import CampaignSet
from engine.core.guard import SITE, Verdict
from engine.rules.model import Engagement
from engine.rules.parse import format_duration
from engine.shell.series import HOUR_MS

META_KEY = "engagement"  # where the embedded runtime keeps the verdicts
LEVEL = {"throttle": 1, "pause": 2}  # the metric's value


def window_counts(stats: dict[str, float], now: int, window: int) -> tuple[int, int]:
    """(sends, clicks) counted in the hours of the last `window` seconds up to `now`."""
    newest = now // HOUR_MS
    oldest = newest - window // 3600  # exclusive
    sends = clicks = 0.0
    for key, amount in stats.items():
        if key.startswith("hour.sent."):
            if oldest < int(key[10:]) <= newest:
                sends += amount
        elif key.startswith("hour.clicked.") and oldest < int(key[13:]) <= newest:
            clicks += amount
    return int(round(sends)), int(round(clicks))


def assess(rule: Engagement | None, campaigns: CampaignSet, stats_of: Callable[[str], dict], now: int,
           previous: dict[str, Verdict]) -> dict[str, Verdict]:
    """The verdicts now: {scope: Verdict} for each scope below the floor (none: all clear)."""
    if rule is None:
        return {}
    figures = {cid: window_counts(stats_of(cid), now, rule.window) for cid in campaigns.by_id}
    site = (sum(s for s, _ in figures.values()), sum(c for _, c in figures.values()))
    out = {}
    for scope, (sends, clicks) in [(SITE, site), *sorted(figures.items())]:
        if sends < rule.min_sends or clicks >= rule.min_click_rate * sends:
            continue
        before = previous.get(scope)
        since = before.since if before is not None and before.action == rule.action else now
        share = rule.throttle if rule.action == "throttle" else 0.0
        out[scope] = Verdict(scope, rule.action, share, since, sends, clicks, _detail(rule, scope, sends, clicks))
    return out


def _scope_words(scope: str) -> str:
    return "the site's" if scope == SITE else f"campaign {scope}'s"


def _detail(rule: Engagement, scope: str, sends: int, clicks: int) -> str:
    action = f"throttled to {rule.throttle:.0%} of messages" if rule.action == "throttle" else "paused"
    return (f"engagement guard: {_scope_words(scope)} click rate {clicks / sends:.1%} ({clicks} clicks / {sends} "
            f"sends in the last {format_duration(rule.window)}) is below {rule.min_click_rate:.1%}: {action}")


def same(a: dict[str, Verdict], b: dict[str, Verdict]) -> bool:
    """The same verdicts, whatever figures each was judged on: nothing to keep or announce."""
    return {s: (v.action, v.share, v.since) for s, v in a.items()} == {s: (v.action, v.share, v.since)
                                                                       for s, v in b.items()}


def changes(before: dict[str, Verdict], after: dict[str, Verdict]) -> list[str]:
    """Log lines for what changed between two judgements."""
    lines = []
    for scope in sorted(set(before) | set(after)):
        old, new = before.get(scope), after.get(scope)
        if new is not None and (old is None or old.action != new.action):
            lines.append(new.detail)
        elif new is None and old is not None:
            lines.append(f"engagement guard: {_scope_words(scope)} {old.action} lifted (back at the floor, or "
                         f"fewer sends in the window than min_sends)")
    return lines


def publish(metrics, before: dict[str, Verdict], after: dict[str, Verdict]) -> None:
    """The guard's gauge: each scope's level, 0 once lifted."""
    if metrics is None:
        return
    for scope in set(before) | set(after):
        verdict = after.get(scope)
        metrics.engagement_guard.labels(scope).set(LEVEL[verdict.action] if verdict is not None else 0)


def as_stats(guard: dict[str, Verdict], campaign: str) -> dict | None:
    """How `pushcast stats` and the stats API show the verdict that holds a campaign back."""
    verdict = guard.get(campaign) or guard.get(SITE)
    if verdict is None:
        return None
    return {"scope": "site" if verdict.scope == SITE else "campaign", "action": verdict.action,
            "share": verdict.share, "since": verdict.since, "sends": verdict.sends, "clicks": verdict.clicks,
            "detail": verdict.detail}


def dumps(guard: dict[str, Verdict], at: int) -> bytes:
    """The verdicts judged at `at`, for a runtime's store or a Kafka record."""
    return orjson.dumps({"at": at, "verdicts": [vars(v) for v in guard.values()]})


def loads(raw: bytes | str) -> tuple[int, dict[str, Verdict]]:
    data = orjson.loads(raw)
    verdicts = [Verdict(**v) for v in data["verdicts"]]
    return int(data["at"]), {v.scope: v for v in verdicts}
