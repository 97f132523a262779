"""Reach over stored user states, for every runtime: how many users qualify for a
campaign now, and how many of them can be reached (a live subscription, not a test
profile). The answer is the core's `engine.core.reach.reach_of` for each user; to go
fast it reads the stored JSON straight into the segment check instead of building each
`UserState` (waits and send history are not needed to decide who qualifies).

A store can keep, beside each state, its reach snapshot (`snapshot_of`): only what a
segment and reach read (half the bytes of a state or less), as a fixed JSON array rather
than an object (no keys to read, no outer dict to fill: see bench/RESULTS.md), so a scan
parses less. Every reader here takes a stored state, or a snapshot in
either form (`SNAPSHOT_FORMAT` 2, or 1: the state's keys, written before 2026-12-02), alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable

import orjson

from engine.core.best_time import peak_hour
from engine.core.campaigns import CampaignSet, CompiledCampaign
from engine.core.state import UserState

_EMPTY: dict = {}
# The stored snapshot's layout: [profile, counters, subscribed (1 or 0), hour weights
# (best_time) or null, user]. Format 1 was an object under the state's keys; a store
# rewrites its snapshots when it finds an older format (`engine.local.store`).
SNAPSHOT_FORMAT = "2"


def snapshot_of(data: dict) -> list:
    """The reach snapshot of a stored state (its dict form): what `count_reach_raw` and
    the compiled segment read of it, and nothing else (subscriptions as presence only)."""
    return [data.get("p", _EMPTY), data.get("c", _EMPTY), 1 if data.get("s") else 0, data.get("t"), data.get("u")]


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


def qualifying(rows: Iterable[tuple[object, bytes]], compiled: CompiledCampaign, now: int) -> list[tuple[object, object]]:
    """(key, parsed JSON) of the rows (key, stored state or snapshot) whose user qualifies
    now: a scheduled run builds a `UserState` from the parsed JSON of these only, never
    parsing their bytes twice."""
    loads, segment = orjson.loads, compiled.segment
    found = []
    for key, blob in rows:
        data = loads(blob)
        if data.__class__ is list:  # a snapshot
            profile, counters = data[0], data[1]
        else:
            profile, counters = data.get("p", _EMPTY), data.get("c", _EMPTY)
        if segment(profile, counters, now):
            found.append((key, data))
    return found


def qualifiers(rows: Iterable[tuple[str, bytes]], compiled: CompiledCampaign, now: int) -> list[str]:
    """The users among (user, stored state or snapshot) rows who qualify now."""
    return [user for user, _data in qualifying(rows, compiled, now)]


def count_reach_raw(blobs: Iterable[bytes], compiled: CompiledCampaign, now: int, campaigns: CampaignSet) -> Reach:
    """`engine.core.reach.count_reach` over stored states (or their snapshots), without
    building `UserState`s."""
    segment = compiled.segment
    test_users = frozenset(campaigns.config.test_users)
    users = qualified = reachable = no_subscription = tests = 0
    best_hours: dict | None = {} if compiled.campaign.when.best_time is not None else None
    for data in map(orjson.loads, blobs):  # parsed in C, one call per user less
        users += 1
        if data.__class__ is list:  # a snapshot
            profile, counters, subscribed, hours, user = data
        else:  # a state, or a snapshot of format 1
            profile, counters, subscribed = data.get("p", _EMPTY), data.get("c", _EMPTY), data.get("s")
            hours, user = data.get("t"), data.get("u")
        if not segment(profile, counters, now):
            continue
        qualified += 1
        if not subscribed:
            no_subscription += 1
        elif profile.get("test") is True or user in test_users:
            tests += 1
        else:
            reachable += 1
            if best_hours is not None:
                hour = peak_hour(hours)
                label = "fallback" if hour is None else f"{hour:02d}:00"
                best_hours[label] = best_hours.get(label, 0) + 1
    return Reach(compiled.id, now, users, qualified, reachable, no_subscription, tests, best_hours=best_hours)
