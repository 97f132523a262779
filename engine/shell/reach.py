"""Reach over stored user states, for every runtime: how many users qualify for a
campaign now, and how many of them can be reached (a live subscription, not a test
profile). The answer is the core's `engine.core.reach.reach_of` for each user; to go
fast it reads the stored JSON straight into the segment check instead of building each
`UserState` (waits and send history are not needed to decide who qualifies).

A store can keep, beside each state, its reach snapshot (`snapshot_of`): the same JSON
keys, holding only what a segment and reach read (half the bytes of a state or less),
so a scan parses less. Every reader here takes a stored state or its snapshot alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable

import orjson

from engine.core.best_time import peak_hour
from engine.core.campaigns import CampaignSet, CompiledCampaign
from engine.core.state import UserState

_EMPTY: dict = {}
# The stored keys a segment and reach read: the user (test users), profile, counters,
# hour weights (best_time). Subscriptions are kept as presence only ("s": 1).
_SNAPSHOT_KEYS = ("u", "p", "c", "t")


def snapshot_of(data: dict) -> dict:
    """The reach snapshot of a stored state (its dict form): what `count_reach_raw` and
    the compiled segment read of it, under the same keys, and nothing else."""
    snapshot = {key: data[key] for key in _SNAPSHOT_KEYS if key in data}
    if data.get("s"):
        snapshot["s"] = 1
    return snapshot


def encode_snapshot(data: dict) -> bytes:
    """The stored form of a state's reach snapshot (the state in its dict form)."""
    return orjson.dumps(snapshot_of(data))


def stored_forms(state: UserState) -> tuple[bytes, bytes]:
    """(the stored state, its reach snapshot), from one `to_dict`: what a writer saves."""
    data = state.to_dict()
    return orjson.dumps(data), encode_snapshot(data)


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
    """The users among (user, stored state or snapshot) rows who qualify now."""
    loads, segment = orjson.loads, compiled.segment
    found = []
    for user, blob in rows:
        data = loads(blob)
        if segment(data.get("p", _EMPTY), data.get("c", _EMPTY), now):
            found.append(user)
    return found


def count_reach_raw(blobs: Iterable[bytes], compiled: CompiledCampaign, now: int, campaigns: CampaignSet) -> Reach:
    """`engine.core.reach.count_reach` over stored states (or their snapshots), without
    building `UserState`s."""
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
