"""The compiled segment check (the hot path of reach and scheduled runs) says what a
plain reading of the segment says, for random segments over random user states."""

from __future__ import annotations

import random

from engine.core.segments import _compile_seen, compile_segment, compile_verdict, describe_failure
from engine.rules.model import All, Any_, Condition, Did, Not, ProfileMatch, PropertyFilter
from engine.rules.predicates import _equal, compile_filter
from engine.windows.aggregates import compare, count, counter_id

NOW = 1_800_000_000_000
HOUR = 3_600_000
EVENTS = ("App Launched", "Charged")
VALUES = ("gold", "free", 1, 1.0, True, None, ["gold"])


def plainly(segment, profile: dict, counters: dict) -> bool:
    """The segment read word for word: what `compile_segment` must agree with."""
    if isinstance(segment, ProfileMatch):
        results = []
        for cond in segment.filter.conditions:
            if cond.op in ("in", "not_in"):
                found = cond.prop in profile and any(_equal(profile[cond.prop], v) for v in cond.value)
                results.append(found if cond.op == "in" else not found)
            else:
                results.append(compile_filter(PropertyFilter((cond,)))(profile))
        return all(results)
    if isinstance(segment, Did):
        return compare(segment.count_op, count(counters, segment, counter_id(segment), NOW), segment.count)
    if isinstance(segment, All):
        return all(plainly(item, profile, counters) for item in segment.items)
    if isinstance(segment, Any_):
        return any(plainly(item, profile, counters) for item in segment.items)
    return not plainly(segment.item, profile, counters)


def random_segment(rng: random.Random, depth: int = 0):
    kind = rng.choice(("profile", "did", "did", "all", "any", "not") if depth < 3 else ("profile", "did"))
    if kind == "profile":
        op = rng.choice(("in", "not_in", "eq", "exists"))
        if op in ("in", "not_in"):
            value = tuple(rng.sample(VALUES[:6], rng.randint(0, 3))) if rng.random() < 0.5 else ("gold", "platinum")
        else:
            value = rng.choice(("gold", 1, True))
        return ProfileMatch(PropertyFilter((Condition("plan", op, value),)))
    if kind == "did":
        between = (NOW - 48 * HOUR, NOW) if rng.random() < 0.2 else None
        return Did(rng.choice(EVENTS), rng.choice(("at_least", "at_most", "exactly")), rng.randint(0, 3),
                   None if between else rng.choice((3600, 86400, 7 * 86400)), between, PropertyFilter())
    if kind == "not":
        return Not(random_segment(rng, depth + 1))
    items = tuple(random_segment(rng, depth + 1) for _ in range(rng.randint(0, 5)))
    return All(items) if kind == "all" else Any_(items)


def random_state(rng: random.Random, dids: list[Did]) -> tuple[dict, dict]:
    profile = {"plan": rng.choice(VALUES)} if rng.random() < 0.8 else {}
    counters = {}
    for did in dids:
        if rng.random() < 0.3:
            continue
        if did.between is not None:
            counters[counter_id(did)] = rng.randint(0, 4)
        else:
            counters[counter_id(did)] = sorted(NOW - rng.randint(-HOUR, 10 * 24 * HOUR) for _ in range(rng.randint(0, 4)))
    return profile, counters


def dids_of(segment) -> list[Did]:
    if isinstance(segment, Did):
        return [segment]
    if isinstance(segment, (All, Any_)):
        return [d for item in segment.items for d in dids_of(item)]
    if isinstance(segment, Not):
        return dids_of(segment.item)
    return []


def test_compiled_segments_agree_with_a_plain_reading():
    rng = random.Random(13)
    checked = held = 0
    for _ in range(400):
        segment = random_segment(rng)
        check = compile_segment(segment)
        for _ in range(25):
            profile, counters = random_state(rng, dids_of(segment))
            expected = plainly(segment, profile, counters)
            assert check(profile, counters, NOW) == expected, (segment, profile, counters)
            checked += 1
            held += expected
    assert 0.1 < held / checked < 0.9  # both answers were exercised


def test_a_missing_counter_counts_zero():
    never = Did("App Launched", "at_least", 0, 86400, None, PropertyFilter())
    once = Did("App Launched", "at_least", 1, 86400, None, PropertyFilter())
    assert compile_segment(never)({}, {}, NOW) is True
    assert compile_segment(once)({}, {}, NOW) is False
    assert compile_segment(All(()))({}, {}, NOW) is True
    assert compile_segment(Any_(()))({}, {}, NOW) is False


def first_failing_plainly(segment, profile: dict, counters: dict) -> tuple[str, list]:
    """The failing condition's place through `all` lists and what the state showed for
    each condition under it (a count per `did`, the value per profile property)."""
    if isinstance(segment, All):
        for i, item in enumerate(segment.items):
            if not plainly(item, profile, counters):
                code, seen = first_failing_plainly(item, profile, counters)
                return (f"{i}.{code}" if code else str(i)), seen
    return "", _compile_seen(segment)(profile, counters, NOW)


def test_the_verdict_is_the_check_and_the_failing_condition_in_one_pass():
    rng = random.Random(29)
    failed = 0
    for _ in range(400):
        segment = random_segment(rng)
        verdict = compile_verdict(segment)
        for _ in range(25):
            profile, counters = random_state(rng, dids_of(segment))
            got = verdict(profile, counters, NOW)
            if plainly(segment, profile, counters):
                assert got is None, (segment, profile, counters)
                continue
            failed += 1
            code, seen = first_failing_plainly(segment, profile, counters)
            assert (got[0], list(got[1])) == (code, seen), (segment, profile, counters)
            assert describe_failure(segment, got[0], list(got[1])) is not None
    assert failed > 1000
    assert compile_verdict(None)({}, {}, NOW) is None
