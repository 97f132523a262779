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

Most users fail a segment, and a scan spends most of its time parsing theirs. So a
segment also gives its byte needles (`needles_of`): text every qualifier's stored bytes
contain (`"plan":"gold"` for `plan: gold`, a counter's key for `did ... at_least 1`).
A reader skips, unparsed, the users whose bytes lack them (SQLite does it in C for the
embedded store: `engine.local.reach`), and counts the rest as before; the answer is the
same, since a needle is only ever a necessary condition.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Iterable

import orjson

from engine.core.best_time import peak_hour
from engine.core.campaigns import CampaignSet, CompiledCampaign
from engine.core.state import UserState
from engine.rules.model import All, Any_, Condition, Did, ProfileMatch, Segment
from engine.windows.aggregates import counter_id

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


def qualifying(rows: Iterable[tuple[object, bytes]], compiled: CompiledCampaign, now: int) -> list[tuple[object, object]]:
    """(key, parsed JSON) of the rows (key, stored state or snapshot) whose user qualifies
    now: what a scheduled run offers (the embedded scheduler's key is its whole row, whose
    state it hands to the writer; the core's scan builds a `UserState` from a parsed state)."""
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


def count_reach_raw(blobs: Iterable[bytes], compiled: CompiledCampaign, now: int, campaigns: CampaignSet,
                    users: int | None = None) -> Reach:
    """`engine.core.reach.count_reach` over stored states (or their snapshots), without
    building `UserState`s. `users`: how many were stored, when `blobs` are only those
    that have the segment's needles (`needles_of`); by default, one user a blob."""
    segment = compiled.segment
    test_users = frozenset(campaigns.config.test_users)
    read = qualified = reachable = no_subscription = tests = 0
    best_hours: dict | None = {} if compiled.campaign.when.best_time is not None else None
    for data in map(orjson.loads, blobs):  # parsed in C, one call per user less
        read += 1
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
    return Reach(compiled.id, now, read if users is None else users, qualified, reachable, no_subscription, tests,
                 best_hours=best_hours)


# --- byte needles: what every qualifier's stored bytes contain --------------------------
#
# Stored states and snapshots are orjson's bytes, which write a key and its value as
# `"key":value` with no space, and a text always the same way; a profile property the
# segment reads is a key of the stored profile, a `did` counter's id a key of the stored
# counters. Needles are (clause, ...): every clause must hold, and a clause holds when
# any one of its needles is in the bytes. A needle found elsewhere (in another
# property's text) only lets a user through to the exact check.

Needles = tuple[tuple[bytes, ...], ...]
# Each clause costs a search of a user's bytes (~0.15 µs), paid by every user who
# passed the clauses before it: the first two (values first) are worth it, more are
# not (bench/RESULTS.md).
MAX_CLAUSES = 2


def needles_of(segment: Segment | None) -> Needles:
    """The byte needles of a segment: () when it has none (every user is read)."""
    kept: list[tuple[bytes, ...]] = []
    for needles, _ in sorted(_clauses(segment), key=lambda clause: not clause[1]):  # values before bare keys
        if len(kept) < MAX_CLAUSES and not any(_implies(clause, needles) for clause in kept):
            kept.append(needles)
    return tuple(kept)


def _implies(clause: tuple[bytes, ...], other: tuple[bytes, ...]) -> bool:
    """Do bytes holding `clause` always hold `other` (`plan":"gold"` holds `plan":`)?"""
    return all(any(needle in found for needle in other) for found in clause)


def _key(name: str) -> bytes:
    # without its opening quote: a needle's first byte is what a search looks for at each
    # byte (SQLite's `instr`), and a quote is in every key and text (-25% a search)
    return orjson.dumps(name)[1:] + b":"


def _clauses(segment: Segment | None) -> list[tuple[tuple[bytes, ...], bool]]:
    """(needles, names a value) for each clause the segment implies: a value clause
    (`"plan":"gold"`) lets fewer users through than a bare key (`"plan":`)."""
    if isinstance(segment, ProfileMatch):
        return [clause for cond in segment.filter.conditions if (clause := _condition_clause(cond)) is not None]
    if isinstance(segment, Did):
        # a count of 1 or more needs the counter stored (`_did_count` reads 0 without it)
        if segment.count >= 1 and segment.count_op in ("at_least", "exactly"):
            return [((_key(counter_id(segment)),), False)]
        return []
    if isinstance(segment, All):
        return [clause for item in segment.items for clause in _clauses(item)]
    if isinstance(segment, Any_):
        # one of the items holds: the union of one clause of each (none if one has none)
        chosen = [sorted(_clauses(item), key=lambda clause: not clause[1])[:1] for item in segment.items]
        if not chosen or not all(chosen):
            return []
        needles = tuple(dict.fromkeys(needle for (clause,) in chosen for needle in clause[0]))
        return [(needles, all(clause[1] for (clause,) in chosen))]
    return []  # no segment, or `not`: nothing every qualifier's bytes must contain


def _condition_clause(cond: Condition) -> tuple[tuple[bytes, ...], bool] | None:
    """What `engine.rules.predicates` needs of the profile for the condition to hold."""
    key = _key(cond.prop)
    if cond.op == "eq" and type(cond.value) in (str, bool):  # equal to a text or a boolean: that same JSON
        return (key + orjson.dumps(cond.value),), True
    if cond.op == "in" and cond.value and all(type(v) in (str, bool) for v in cond.value):
        return tuple(dict.fromkeys(key + orjson.dumps(v) for v in cond.value)), True
    if cond.op == "exists" and not cond.value:
        return None
    if cond.op in ("eq", "in", "exists", "contains", "gt", "gte", "lt", "lte", "before", "after"):
        return (key,), False  # these never hold for a missing property
    return None  # ne, not_in: a missing property passes


def having_needles(blobs: Iterable[bytes], needles: Needles) -> Iterable[bytes]:
    """The stored states or snapshots that have every clause of `needles`, lazily: one
    compiled regex a clause (its needles as alternatives), its `search` applied by
    `filter` in C (no Python call a user: ~0.15 µs against ~0.6 for a Python function
    trying each needle, measured in bench/RESULTS.md)."""
    for clause in needles:
        blobs = filter(re.compile(b"|".join(map(re.escape, clause))).search, blobs)
    return blobs
