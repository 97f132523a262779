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
    if segment is None:
        return lambda profile, counters, now: True
    if isinstance(segment, ProfileMatch):
        matches = compile_filter(segment.filter)
        return lambda profile, counters, now: matches(profile)
    if isinstance(segment, Did):
        return _compile_did(segment)
    if isinstance(segment, All):
        items = [compile_segment(item) for item in segment.items]
        if len(items) == 2:  # the common shape; no generator per check
            first, second = items
            return lambda profile, counters, now: first(profile, counters, now) and second(profile, counters, now)

        def every(profile: dict, counters: dict, now: int) -> bool:
            for check in items:
                if not check(profile, counters, now):
                    return False
            return True
        return every
    if isinstance(segment, Any_):
        items = [compile_segment(item) for item in segment.items]

        def some(profile: dict, counters: dict, now: int) -> bool:
            for check in items:
                if check(profile, counters, now):
                    return True
            return False
        return some
    if isinstance(segment, Not):
        inner = compile_segment(segment.item)
        return lambda profile, counters, now: not inner(profile, counters, now)
    raise TypeError(f"not a segment: {segment!r}")


def _compile_did(did: Did) -> SegmentCheck:
    """`count(...)` and `compare(...)` of engine.windows.aggregates, folded into one
    closure per condition (the check every trigger of a segmented campaign runs)."""
    counted, wanted, op = _did_count(did), did.count, did.count_op
    if op == "at_least":
        return lambda profile, counters, now: counted(counters, now) >= wanted
    if op == "at_most":
        return lambda profile, counters, now: counted(counters, now) <= wanted
    return lambda profile, counters, now: counted(counters, now) == wanted


# --- why a segment failed ------------------------------------------------------------
#
# The core logs a failed segment as (code, seen): `code` is the path of the failing
# condition through `all` lists ("0.1": segment.all[0].all[1]; "": the segment itself),
# `seen` what the user's state showed for each leaf condition under it, in file order
# (a count for `did`, the profile value of each property for `profile`). That is a few
# bytes a row; `describe_failure` rebuilds the words from the loaded campaign.

SegmentVerdict = Callable[[dict, dict, int], "tuple[str, tuple | list] | None"]
_NEEDS = {"at_least": "at least", "at_most": "at most", "exactly": "exactly"}


def compile_verdict(segment: Segment | None) -> SegmentVerdict:
    """(profile, counters, now) -> None when the user is in the segment, else (code, seen)
    of the first condition that keeps them out: `compile_segment`'s answer and the
    failure's code in one pass, each condition evaluated once (a trigger's hot path)."""
    if segment is None:
        return lambda profile, counters, now: None
    if isinstance(segment, All):
        items = [(str(i), compile_verdict(item)) for i, item in enumerate(segment.items)]

        def first_failing(profile: dict, counters: dict, now: int) -> tuple[str, tuple | list] | None:
            for index, verdict in items:
                failed = verdict(profile, counters, now)
                if failed is not None:
                    code, seen = failed
                    return (f"{index}.{code}" if code else index), seen
            return None
        return first_failing
    counted = _did_count(segment.item if isinstance(segment, Not) else segment)
    if counted is not None:  # a `did` (or `not: {did}`): counted once, the count is what was seen
        did = segment.item if isinstance(segment, Not) else segment
        op, wanted, negated = did.count_op, did.count, isinstance(segment, Not)

        def did_verdict(profile: dict, counters: dict, now: int) -> tuple[str, tuple] | None:
            n = counted(counters, now)
            return None if compare(op, n, wanted) is not negated else ("", (n,))
        return did_verdict
    holds, seen = compile_segment(segment), _compile_seen(segment)
    return lambda profile, counters, now: None if holds(profile, counters, now) else ("", seen(profile, counters, now))


def _did_count(segment: Segment) -> Callable[[dict, int], int] | None:
    """(counters, now) -> the condition's count (`count` of engine.windows.aggregates);
    None when `segment` is not a `did`."""
    if not isinstance(segment, Did):
        return None
    cid = counter_id(segment)
    if segment.between is not None:
        return lambda counters, now: counters.get(cid) or 0
    window = segment.in_last * 1000

    def counted(counters: dict, now: int) -> int:
        stamps = counters.get(cid)
        if not stamps:
            return 0
        return bisect_right(stamps, now) - bisect_right(stamps, now - window)
    return counted


def _compile_seen(segment: Segment | None) -> Callable[[dict, dict, int], list]:
    """What the state shows for each leaf condition under `segment`, in file order."""
    if isinstance(segment, Did):
        did, cid = segment, counter_id(segment)
        return lambda profile, counters, now: [count(counters, did, cid, now)]
    if isinstance(segment, ProfileMatch):
        props = [cond.prop for cond in segment.filter.conditions]
        return lambda profile, counters, now: [profile.get(prop) for prop in props]
    if isinstance(segment, (All, Any_)):
        items = [_compile_seen(item) for item in segment.items]
        return lambda profile, counters, now: [value for seen in items for value in seen(profile, counters, now)]
    if isinstance(segment, Not):
        return _compile_seen(segment.item)
    return lambda profile, counters, now: []


def failure_path(code: str) -> str:
    """`segment.all[0].all[1]` for the code "0.1"."""
    return "segment" + "".join(f".all[{part}]" for part in code.split(".") if part)


def describe_failure(segment: Segment | None, code: str, seen: list) -> str | None:
    """The words for a logged (code, seen), from the campaign's segment as loaded now;
    None when it no longer has that condition (the campaign changed since)."""
    node, path = segment, "segment"
    for part in code.split(".") if code else ():
        if not isinstance(node, All) or not part.isdigit() or int(part) >= len(node.items):
            return None
        node, path = node.items[int(part)], f"{path}.all[{part}]"
    if node is None or not _fits(node, list(seen)):
        return None
    return _words(node, list(seen), path)


def _width(segment: Segment) -> int:
    """How many values `seen` holds for this condition."""
    if isinstance(segment, Did):
        return 1
    if isinstance(segment, ProfileMatch):
        return len(segment.filter.conditions)
    if isinstance(segment, (All, Any_)):
        return sum(_width(item) for item in segment.items)
    if isinstance(segment, Not):
        return _width(segment.item)
    return 0


def _fits(segment: Segment, seen: list) -> bool:
    """Do the logged values fit this condition (a count for each `did`)?"""
    if _width(segment) != len(seen):
        return False
    if isinstance(segment, Did):
        return isinstance(seen[0], int) and not isinstance(seen[0], bool)
    if isinstance(segment, (All, Any_)):
        return all(_fits(item, part) for item, part in _parts(segment, seen))
    if isinstance(segment, Not):
        return _fits(segment.item, seen)
    return True


def _parts(segment: All | Any_, seen: list) -> list[tuple[Segment, list]]:
    parts, at = [], 0
    for item in segment.items:
        width = _width(item)
        parts.append((item, seen[at:at + width]))
        at += width
    return parts


def _profile_of(segment: ProfileMatch, seen: list) -> dict:
    # A missing property was logged as null; every operator reads null as missing.
    return {cond.prop: value for cond, value in zip(segment.filter.conditions, seen) if value is not None}


def _held(segment: Segment, seen: list) -> bool:
    """Did the condition hold, judged from the values logged for it."""
    if isinstance(segment, Did):
        return compare(segment.count_op, seen[0], segment.count)
    if isinstance(segment, ProfileMatch):
        return compile_filter(segment.filter)(_profile_of(segment, seen))
    if isinstance(segment, All):
        return all(_held(item, part) for item, part in _parts(segment, seen))
    if isinstance(segment, Any_):
        return any(_held(item, part) for item, part in _parts(segment, seen))
    if isinstance(segment, Not):
        return not _held(segment.item, seen)
    return True


def _words(segment: Segment, seen: list, path: str) -> str:
    if isinstance(segment, ProfileMatch):
        profile = _profile_of(segment, seen)
        for cond in segment.filter.conditions:
            if not compile_filter(PropertyFilter((cond,)))(profile):
                return f"{path}.profile.{cond.prop}: is {profile.get(cond.prop)!r}, needs {cond.op} {cond.value!r}"
        return f"{path}.profile: does not match"
    if isinstance(segment, Did):
        did, n = segment, seen[0]
        window = f"in the last {format_duration(did.in_last)}" if did.in_last else "in the dates given"
        return f"{path}.did: {did.event} {n} time{'s' if n != 1 else ''} {window}, needs {_NEEDS[did.count_op]} {did.count}"
    if isinstance(segment, All):
        for i, (item, part) in enumerate(_parts(segment, seen)):
            if not _held(item, part):
                return _words(item, part, f"{path}.all[{i}]")
        return f"{path}.all: does not hold"
    if isinstance(segment, Any_):
        reasons = [_words(item, part, f"{path}.any[{i}]") for i, (item, part) in enumerate(_parts(segment, seen))]
        return "none of these holds: " + "; ".join(reasons)
    if isinstance(segment, Not):
        return f"{path}.not: holds but must not ({_holds(segment.item, seen)})"
    return f"{path}: does not hold"


def _holds(segment: Segment, seen: list) -> str:
    """What a `not` condition saw, in words."""
    if isinstance(segment, Did):
        n = seen[0]
        window = f" in the last {format_duration(segment.in_last)}" if segment.in_last else ""
        return f"{segment.event} {n} time{'s' if n != 1 else ''}{window}"
    if isinstance(segment, ProfileMatch):
        profile = _profile_of(segment, seen)
        return ", ".join(f"{c.prop} is {profile.get(c.prop)!r}" for c in segment.filter.conditions)
    return "its conditions hold"
