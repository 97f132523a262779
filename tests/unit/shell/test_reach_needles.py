"""A segment's byte needles (`engine.shell.reach.needles_of`) are necessary conditions:
every user the segment holds for has them in their stored bytes (state or snapshot),
so skipping who lacks them never changes a reach; and they do skip users. SQLite's
form of the filter (`engine.local.reach`) keeps the same rows as the Python one."""

from __future__ import annotations

import random
import sqlite3

import orjson

from engine.core.segments import compile_segment
from engine.local.reach import has_needles_sql, needle_values
from engine.rules.model import All, Any_, Condition, Did, Not, ProfileMatch, PropertyFilter
from engine.shell.reach import MAX_CLAUSES, having_needles, needles_of, snapshot_of
from engine.windows.aggregates import counter_id
from tests.unit.core.test_segment_compile import NOW, dids_of, random_segment, random_state

# texts JSON escapes or writes as UTF-8, and values of other types under the same names
ODD = ('say "hi"', "back\\slash", "tab\t", "ünï", "gold", "", 1, 0.5, True, False, None, ["gold"], {"a": "gold"})
PROPS = ("plan", 'we"ird', "ünï")
OPS = ("eq", "ne", "in", "not_in", "exists", "contains", "gt", "lte", "before", "after")


def random_condition(rng: random.Random) -> Condition:
    op = rng.choice(OPS)
    if op in ("in", "not_in"):
        value = tuple(rng.sample(ODD[:11], rng.randint(0, 3)))
    elif op == "exists":
        value = rng.choice((True, False))
    elif op in ("gt", "lte", "before", "after"):
        value = rng.choice((0, 1, NOW))
    else:
        value = rng.choice(ODD[:11])
    return Condition(rng.choice(PROPS), op, value)


def odd_segment(rng: random.Random, depth: int = 0):
    """`random_segment`, with profile conditions of every operator over odd names and values."""
    kind = rng.choice(("profile", "profile", "did", "all", "any", "not") if depth < 3 else ("profile", "did"))
    if kind == "profile":
        return ProfileMatch(PropertyFilter(tuple(random_condition(rng) for _ in range(rng.randint(1, 2)))))
    if kind == "did":
        return random_segment(rng, 3)
    if kind == "not":
        return Not(odd_segment(rng, depth + 1))
    items = tuple(odd_segment(rng, depth + 1) for _ in range(rng.randint(0, 4)))
    return All(items) if kind == "all" else Any_(items)


def odd_profile(rng: random.Random) -> dict:
    return {prop: rng.choice(ODD) for prop in PROPS if rng.random() < 0.7}


def stored_forms_of(profile: dict, counters: dict) -> list[bytes]:
    """The bytes a store may hold for this user: the state, its snapshot (format 2), and
    a format-1 snapshot."""
    state = {"u": "u1", "p": profile, "s": {"https://e/1": ["k", "a"]}, "c": counters, "h": [["x", "m1", NOW, 1]]}
    return [orjson.dumps(state), orjson.dumps(snapshot_of(state)),
            orjson.dumps({key: state[key] for key in ("u", "p", "c")})]


def test_every_qualifier_has_the_needles_of_its_segment():
    rng = random.Random(41)
    held = skipped = 0
    for make_segment, make_profile in ((random_segment, None), (odd_segment, odd_profile)) * 200:
        segment = make_segment(rng)
        check, needles = compile_segment(segment), needles_of(segment)
        assert len(needles) <= MAX_CLAUSES
        for _ in range(25):
            profile, counters = random_state(rng, dids_of(segment))
            if make_profile is not None:
                profile = make_profile(rng)
            blobs = stored_forms_of(profile, counters)
            kept = list(having_needles(blobs, needles))
            if check(profile, counters, NOW):
                held += 1
                assert kept == blobs, (segment, needles, profile, counters)
            elif not kept:
                skipped += 1
    assert held > 1000 and skipped > 1000  # both cases were exercised


def test_needles_name_the_values_and_counters_a_segment_needs():
    launched = Did("App Launched", "at_least", 2, 86400)
    gold = ProfileMatch(PropertyFilter((Condition("plan", "in", ("gold", "platinum")),)))
    # values first: a plan lets fewer users through than a counter's presence
    assert needles_of(All((launched, gold))) == ((b'plan":"gold"', b'plan":"platinum"'),
                                                 (counter_id(launched).encode() + b'":',))
    assert needles_of(Any_((gold, launched))) == ((b'plan":"gold"', b'plan":"platinum"',
                                                   counter_id(launched).encode() + b'":'),)
    never = Did("App Launched", "at_most", 2, 86400)
    assert needles_of(Any_((gold, never))) == ()  # `never` holds without the counter
    assert needles_of(Not(gold)) == needles_of(None) == ()
    assert needles_of(ProfileMatch(PropertyFilter((Condition("plan", "ne", "gold"),)))) == ()
    assert needles_of(ProfileMatch(PropertyFilter((Condition("vip", "eq", True),)))) == ((b'vip":true',),)
    assert needles_of(ProfileMatch(PropertyFilter((Condition("age", "gte", 18),)))) == ((b'age":',),)


def test_sqlite_keeps_the_rows_python_keeps():
    rng = random.Random(7)
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE users (user TEXT PRIMARY KEY, snap BLOB)")
    rows = []
    for i in range(400):
        profile, counters = odd_profile(rng), random_state(rng, [Did("App Launched", "at_least", 1, 86400)])[1]
        rows.append((f"u{i:04d}", stored_forms_of(profile, counters)[1]))
    db.executemany("INSERT INTO users VALUES (?, ?)", rows)
    compared = 0
    for _ in range(200):
        needles = needles_of(odd_segment(rng))
        if not needles:
            continue
        where = has_needles_sql(needles, "snap")
        found = [blob for (blob,) in db.execute(f"SELECT snap FROM users WHERE {where} ORDER BY user",
                                                needle_values(needles))]
        assert found == list(having_needles([blob for _, blob in rows], needles)), needles
        compared += 1
    assert compared > 50


def test_a_clause_another_implies_is_not_searched_for():
    gold = Condition("plan", "eq", "gold")
    assert needles_of(ProfileMatch(PropertyFilter((Condition("plan", "exists", True), gold)))) == ((b'plan":"gold"',),)
    assert needles_of(All((ProfileMatch(PropertyFilter((gold,))),) * 3)) == ((b'plan":"gold"',),)
