"""Segments (WHO) compiled to predicates over a user's state at a given time."""

from __future__ import annotations

from typing import Callable

from engine.rules.model import All, Any_, Did, Not, ProfileMatch, PropertyFilter, Segment
from engine.rules.parse import format_duration
from engine.rules.predicates import compile_filter
from engine.windows.aggregates import compare, count, counter_id

SegmentCheck = Callable[[dict, dict, int], bool]  # (profile, counters, now_ms) -> bool


def collect_dids(segment: Segment | None) -> list[Did]:
    """Every `did` condition in a segment tree (they decide which aggregates to keep)."""
    if segment is None:
        return []
    if isinstance(segment, Did):
        return [segment]
    if isinstance(segment, (All, Any_)):
        return [did for item in segment.items for did in collect_dids(item)]
    if isinstance(segment, Not):
        return collect_dids(segment.item)
    return []


def compile_segment(segment: Segment | None) -> SegmentCheck:
    if segment is None:
        return lambda profile, counters, now: True
    if isinstance(segment, ProfileMatch):
        matches = compile_filter(segment.filter)
        return lambda profile, counters, now: matches(profile)
    if isinstance(segment, Did):
        did, cid = segment, counter_id(segment)
        return lambda profile, counters, now: compare(
            did.count_op, count(counters, did, cid, now), did.count
        )
    if isinstance(segment, All):
        items = [compile_segment(item) for item in segment.items]
        return lambda profile, counters, now: all(f(profile, counters, now) for f in items)
    if isinstance(segment, Any_):
        items = [compile_segment(item) for item in segment.items]
        return lambda profile, counters, now: any(f(profile, counters, now) for f in items)
    if isinstance(segment, Not):
        inner = compile_segment(segment.item)
        return lambda profile, counters, now: not inner(profile, counters, now)
    raise TypeError(f"not a segment: {segment!r}")


# --- why a segment failed (only on the failing path: never on the hot path) -----------

_NEEDS = {"at_least": "at least", "at_most": "at most", "exactly": "exactly"}


def why_not(segment: Segment, profile: dict, counters: dict, now: int, path: str = "segment") -> str:
    """The first condition that keeps the user out, in words, with its place in the
    campaign file (`segment.all[0]: Product Viewed 1 time in the last 7d, needs at least
    2`). Called only after the compiled check said no."""
    if isinstance(segment, ProfileMatch):
        for cond in segment.filter.conditions:
            if not compile_filter(PropertyFilter((cond,)))(profile):
                return f"{path}.profile.{cond.prop}: is {profile.get(cond.prop)!r}, needs {cond.op} {cond.value!r}"
        return f"{path}.profile: does not match"
    if isinstance(segment, Did):
        did = segment
        n = count(counters, did, counter_id(did), now)
        window = f"in the last {format_duration(did.in_last)}" if did.in_last else "in the dates given"
        return f"{path}.did: {did.event} {n} time{'s' if n != 1 else ''} {window}, needs {_NEEDS[did.count_op]} {did.count}"
    if isinstance(segment, All):
        for i, item in enumerate(segment.items):
            if not compile_segment(item)(profile, counters, now):
                return why_not(item, profile, counters, now, f"{path}.all[{i}]")
        return f"{path}.all: does not hold"
    if isinstance(segment, Any_):
        reasons = [why_not(item, profile, counters, now, f"{path}.any[{i}]") for i, item in enumerate(segment.items)]
        return "none of these holds: " + "; ".join(reasons)
    if isinstance(segment, Not):
        return f"{path}.not: holds but must not ({_holds(segment.item, profile, counters, now)})"
    return f"{path}: does not hold"


def _holds(segment: Segment, profile: dict, counters: dict, now: int) -> str:
    """What a `not` condition saw, in words."""
    if isinstance(segment, Did):
        n = count(counters, segment, counter_id(segment), now)
        window = f" in the last {format_duration(segment.in_last)}" if segment.in_last else ""
        return f"{segment.event} {n} time{'s' if n != 1 else ''}{window}"
    if isinstance(segment, ProfileMatch):
        return ", ".join(f"{c.prop} is {profile.get(c.prop)!r}" for c in segment.filter.conditions)
    return "its conditions hold"
