"""Segments (WHO) compiled to predicates over a user's state at a given time."""

from __future__ import annotations

from bisect import bisect_right
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
    """The segment as one predicate. Every user state of a reach or scheduled run goes
    through it, so it is built from plain closures: no generator per `all`/`any`, and a
    sliding-window `did` reads its stamps directly (same answers as `count`/`compare`)."""
    if segment is None:
        return lambda profile, counters, now: True
    if isinstance(segment, ProfileMatch):
        matches = compile_filter(segment.filter)
        return lambda profile, counters, now: matches(profile)
    if isinstance(segment, Did):
        return _compile_did(segment)
    if isinstance(segment, (All, Any_)):
        return _compile_group([compile_segment(item) for item in segment.items], isinstance(segment, All))
    if isinstance(segment, Not):
        inner = compile_segment(segment.item)
        return lambda profile, counters, now: not inner(profile, counters, now)
    raise TypeError(f"not a segment: {segment!r}")


def _compile_did(did: Did) -> SegmentCheck:
    cid, wanted = counter_id(did), did.count
    if did.between is not None or did.count_op != "at_least":
        return lambda profile, counters, now: compare(did.count_op, count(counters, did, cid, now), wanted)
    window = did.in_last * 1000

    def at_least(profile: dict, counters: dict, now: int) -> bool:
        stamps = counters.get(cid)
        if stamps is None:
            return wanted <= 0
        return bisect_right(stamps, now) - bisect_right(stamps, now - window) >= wanted
    return at_least


def _compile_group(items: list[SegmentCheck], every: bool) -> SegmentCheck:
    if len(items) == 1:
        return items[0]
    if every and len(items) == 2:
        a, b = items
        return lambda profile, counters, now: a(profile, counters, now) and b(profile, counters, now)
    if every and len(items) == 3:
        a, b, c = items
        return lambda profile, counters, now: (a(profile, counters, now) and b(profile, counters, now)
                                               and c(profile, counters, now))
    checks = tuple(items)
    if every:
        def all_of(profile: dict, counters: dict, now: int) -> bool:
            for check in checks:
                if not check(profile, counters, now):
                    return False
            return True
        return all_of

    def any_of(profile: dict, counters: dict, now: int) -> bool:
        for check in checks:
            if check(profile, counters, now):
                return True
        return False
    return any_of


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
