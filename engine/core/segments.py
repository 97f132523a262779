"""Segments (WHO) compiled to predicates over a user's state at a given time."""

from __future__ import annotations

from typing import Callable

from engine.rules.model import All, Any_, Did, Not, ProfileMatch, Segment
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
