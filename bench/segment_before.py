"""The segment check and raw reach count as they were before the reach work of
2026-12-01 (issue 13), kept verbatim for bench_schedule.py to measure against in the same
run and to check that the counts did not change. Bench code only: nothing imports it."""

from __future__ import annotations

import orjson

from engine.rules.model import All, Any_, Did, Not, ProfileMatch, PropertyFilter, Segment
from engine.rules.predicates import _MISSING, _equal, compile_filter
from engine.windows.aggregates import compare, count, counter_id

_EMPTY: dict = {}


def _filter_before(flt: PropertyFilter):
    """`compile_filter`, with `in`/`not_in` compared value by value as they were."""
    checks = []
    for cond in flt.conditions:
        prop, value = cond.prop, cond.value
        if cond.op == "in":
            checks.append(lambda p, prop=prop, value=value: any(_equal(p.get(prop, _MISSING), v) for v in value))
        elif cond.op == "not_in":
            checks.append(lambda p, prop=prop, value=value: not any(_equal(p.get(prop, _MISSING), v) for v in value))
        else:
            checks.append(compile_filter(PropertyFilter((cond,))))
    if len(checks) == 1:
        return checks[0]
    return lambda props: all(check(props) for check in checks)


def compile_segment_before(segment: Segment | None):
    if segment is None:
        return lambda profile, counters, now: True
    if isinstance(segment, ProfileMatch):
        matches = _filter_before(segment.filter)
        return lambda profile, counters, now: matches(profile)
    if isinstance(segment, Did):
        did, cid = segment, counter_id(segment)
        return lambda profile, counters, now: compare(
            did.count_op, count(counters, did, cid, now), did.count
        )
    if isinstance(segment, All):
        items = [compile_segment_before(item) for item in segment.items]
        return lambda profile, counters, now: all(f(profile, counters, now) for f in items)
    if isinstance(segment, Any_):
        items = [compile_segment_before(item) for item in segment.items]
        return lambda profile, counters, now: any(f(profile, counters, now) for f in items)
    if isinstance(segment, Not):
        inner = compile_segment_before(segment.item)
        return lambda profile, counters, now: not inner(profile, counters, now)
    raise TypeError(f"not a segment: {segment!r}")


def count_reach_raw_before(blobs, compiled, now: int, campaigns) -> tuple[int, int]:
    """`engine.shell.reach.count_reach_raw` as it was: (qualified, reachable)."""
    loads = orjson.loads
    segment = compile_segment_before(compiled.campaign.segment)
    test_users = frozenset(campaigns.config.test_users)
    qualified = reachable = 0
    for blob in blobs:
        data = loads(blob)
        profile = data.get("p", _EMPTY)
        if not segment(profile, data.get("c", _EMPTY), now):
            continue
        qualified += 1
        if data.get("s") and not (profile.get("test") is True or data["u"] in test_users):
            reachable += 1
    return qualified, reachable
