"""Reach over stored user states, for every runtime: how many users qualify for a
campaign now, and how many of them can be reached (a live subscription, not a test
profile). The answer is the core's `engine.core.reach.reach_of` for each user; to go
fast it reads the stored JSON straight into the segment check instead of building each
`UserState` (waits and send history are not needed to decide who qualifies).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable

import orjson

from engine.core.best_time import peak_hour
from engine.core.campaigns import CampaignSet, CompiledCampaign

_EMPTY: dict = {}


@dataclass(frozen=True)
class Reach:
    campaign: str
    at: int  # epoch ms: the `now` the segment was evaluated at
    users: int  # stored user states read
    qualified: int  # the segment holds now
    reachable: int  # qualified, with a push subscription, not a test profile
    no_subscription: int  # qualified, no subscription
    test_profiles: int  # qualified test profiles (with a subscription): not counted as reach
    seconds: float = 0.0
    # when.best_time: the reachable users by the local hour they would get it now
    # ("20:00"), or "fallback" (too little history); None for other campaigns
    best_hours: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def qualifies_raw(blob: bytes, compiled: CompiledCampaign, now: int) -> dict | None:
    """The stored state as a dict when its user qualifies now, else None (a scheduled
    run builds a `UserState` for these users only)."""
    data = orjson.loads(blob)
    return data if compiled.segment(data.get("p", _EMPTY), data.get("c", _EMPTY), now) else None


def qualifiers(rows: Iterable[tuple[str, bytes]], compiled: CompiledCampaign, now: int) -> list[str]:
    """The users among (user, stored state) rows who qualify now (`qualifies_raw`)."""
    loads, segment = orjson.loads, compiled.segment
    found = []
    for user, blob in rows:
        data = loads(blob)
        if segment(data.get("p", _EMPTY), data.get("c", _EMPTY), now):
            found.append(user)
    return found


def count_reach_raw(blobs: Iterable[bytes], compiled: CompiledCampaign, now: int, campaigns: CampaignSet) -> Reach:
    """`engine.core.reach.count_reach` over stored states, without building `UserState`s."""
    loads = orjson.loads
    segment = compiled.segment
    test_users = frozenset(campaigns.config.test_users)
    users = qualified = reachable = no_subscription = tests = 0
    best_hours: dict | None = {} if compiled.campaign.when.best_time is not None else None
    for blob in blobs:
        users += 1
        data = loads(blob)
        profile = data.get("p", _EMPTY)
        if not segment(profile, data.get("c", _EMPTY), now):
            continue
        qualified += 1
        if not data.get("s"):
            no_subscription += 1
        elif profile.get("test") is True or data["u"] in test_users:
            tests += 1
        else:
            reachable += 1
            if best_hours is not None:
                hour = peak_hour(data.get("t"))
                label = "fallback" if hour is None else f"{hour:02d}:00"
                best_hours[label] = best_hours.get(label, 0) + 1
    return Reach(compiled.id, now, users, qualified, reachable, no_subscription, tests, best_hours=best_hours)
