"""Parse campaign test files (`pushcast test`; the format: docs/campaign-tests.md).

Times are turned into seconds from the suite's `start`; campaign and config paths are
taken relative to the test file, as a reader of the file would expect.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path
from typing import Any

from engine.core.variants import PIN_PROPERTY
from engine.rules.declared import CASE, DOWN, EXPECT, EXPECTED_ACTION, RELOAD, SUITE, TEST_EVENT
from engine.rules.errors import ConfigError, Problem
from engine.rules.fields import At, Checker, kind
from engine.rules.model import Position
from engine.rules.parse import BadValue, parse_datetime, parse_duration
from engine.rules.what import URGENCIES
from engine.rules.yamlpos import YList, YMap, plain, read_yaml

SUITE_KEYS, CASE_KEYS, EVENT_KEYS, EXPECT_KEYS = SUITE.names, CASE.names, TEST_EVENT.names, EXPECT.names
EXPECT_TEXT_KEYS = ("user", "campaign", "variant", "title", "body", "url", "icon", "image", "badge", "tag")


@dataclass(frozen=True)
class TestEvent:
    __test__ = False  # not a pytest class

    at: int  # seconds from start
    user: str
    event: str
    props: dict
    ts: int | None  # epoch ms when the event gives `ts`, else None (= its arrival time)
    position: Position


@dataclass(frozen=True)
class Expectation:
    at: int | None  # seconds from start; None: any time
    fields: dict[str, Any]  # every other key the expectation names
    position: Position


@dataclass(frozen=True)
class TestCase:
    __test__ = False

    name: str
    events: tuple[TestEvent, ...]
    until: int | None  # seconds from start; None: last event + 1d
    expect: tuple[Expectation, ...]
    position: Position


@dataclass(frozen=True)
class Downtime:
    """The runtime is down after `start` until `end` (seconds from the suite's start): a
    real runtime is killed (-9) at `start` and started again with its clock at `end`;
    `start == end` is a restart. While down nothing runs: waits and scheduled runs due
    in between are caught up at `end`, then the events of (start, end], which were kept
    waiting, are applied. The same for every case of the file (they share one runtime)."""

    start: int
    end: int
    position: Position


@dataclass(frozen=True)
class Reload:
    """At `at` (seconds from start), after everything due then, pushcast.yaml becomes
    `config` (relative to the test file) and the runtime reloads it."""

    at: int
    config: Path
    position: Position


@dataclass(frozen=True)
class TestSuite:
    __test__ = False

    path: Path
    campaigns: tuple[Path, ...]
    config: Path | None
    start: int  # epoch ms
    cases: tuple[TestCase, ...]
    down: tuple[Downtime, ...] = ()
    reloads: tuple[Reload, ...] = ()


def load_test_file(path: Path) -> TestSuite:
    """Read a test file; ConfigError lists every problem with its position."""
    path = Path(path)
    value, pos, text, problems = read_yaml(path, aliases=True)  # `&sub` / `*sub`: within a budget
    if value is None and problems:
        raise ConfigError(problems)
    ck = Checker(str(path), text=text)
    suite = read_suite(ck, At(value, pos, ""), path)
    problems = sorted(problems + ck.problems, key=Problem.sort_key)
    if problems:
        raise ConfigError(problems)
    return suite


def read_suite(ck: Checker, at: At, path: Path) -> TestSuite | None:
    if not ck.declared(at, SUITE):
        return None
    m = at.value
    campaigns = read_paths(ck, at.child("campaigns"), path) if "campaigns" in m else None
    config = None
    if "config" in m:
        found = read_paths(ck, at.child("config"), path, single=True)
        config = found[0] if found else None
    start = ck.check(at.child("start"), lambda v: parse_datetime(v, timezone.utc)) if "start" in m else None
    cases = read_cases(ck, at.child("cases"), start or 0) if "cases" in m else None
    down = read_down(ck, at.child("down"), start or 0) if "down" in m else ()
    reloads = read_reloads(ck, at.child("reload"), start or 0, path) if "reload" in m else ()
    for reload in reloads:
        for down in down:
            if down.start < reload.at <= down.end:
                ck.error(reload.position, "reload", f"at {reload.at}s falls while the runtime is down (line "
                                                    f"{down.position.line}): reload before it goes down or after it is back")
    if ck.problems:
        return None
    return TestSuite(path, campaigns, config, start, cases, down, reloads)


def read_reloads(ck: Checker, at: At, start: int, path: Path) -> tuple[Reload, ...]:
    """`reload: [{at: 1h, config: stricter.pushcast.yaml}]`, in time order."""
    if not ck.sequence(at, example="[{at: 1h, config: config/stricter.pushcast.yaml}]"):
        return ()
    out: list[Reload] = []
    for item in at.items():
        if not ck.declared(item, RELOAD) or not all(key in item.value for key in RELOAD.names):
            continue  # reported by `mapping`
        when = read_time(ck, item.child("at"), start)
        found = read_paths(ck, item.child("config"), path, single=True)
        if when is None or not found:
            continue
        if out and when <= out[-1].at:
            ck.error(item.value.value_pos["at"], item.path + ".at",
                     f"must come after the previous reload's time (line {out[-1].position.line}): list them in time order")
            continue
        out.append(Reload(when, found[0], item.pos))
    return tuple(out)


def read_down(ck: Checker, at: At, start: int) -> tuple[Downtime, ...]:
    """`down: [{from: 1d, to: 2d12h}, {from: 3d, to: 3d}]`, in time order, not overlapping."""
    if not ck.sequence(at, example="[{from: 1d, to: 2d12h}] (a restart: from and to the same)"):
        return ()
    out: list[Downtime] = []
    for item in at.items():
        if not ck.declared(item, DOWN) or not all(key in item.value for key in DOWN.names):
            continue  # reported by `mapping`
        begin = read_time(ck, item.child("from"), start)
        end = read_time(ck, item.child("to"), start)
        if begin is None or end is None:
            continue
        if end < begin:
            ck.error(item.value.value_pos["to"], item.path + ".to", "is before `from`: the runtime comes back after it went down")
            continue
        if out and begin <= out[-1].end:
            ck.error(item.value.value_pos["from"], item.path + ".from",
                     f"must come after the previous downtime's end (line {out[-1].position.line}): list them in time order")
            continue
        out.append(Downtime(begin, end, item.pos))
    return tuple(out)


def read_paths(ck: Checker, at: At, base: Path, single: bool = False) -> tuple[Path, ...] | None:
    items = [at] if single or isinstance(at.value, str) else None
    if items is None:
        if not ck.sequence(at, example="[../abandoned-cart.yaml]"):
            return None
        items = list(at.items())
    out = []
    for item in items:
        name = ck.text(item)
        if name is None:
            continue
        resolved = Path(os.path.normpath(base.parent / name))
        if not resolved.exists():
            ck.error(item.pos, item.path, f'no such file or folder: {resolved} ("{name}" is relative to the test file)')
            continue
        out.append(resolved)
    return tuple(out) if len(out) == len(items) else None


def read_cases(ck: Checker, at: At, start: int) -> tuple[TestCase, ...] | None:
    if not ck.sequence(at):
        return None
    if not at.value:
        ck.error(at.pos, at.path, "must list at least one case")
        return None
    cases, names = [], {}
    for item in at.items():
        case = read_case(ck, item, start)
        if case is None:
            continue
        if case.name in names:
            ck.error(item.value.value_pos["name"], item.path + ".name", f'duplicate case name, also at line {names[case.name]}')
        names[case.name] = case.position.line
        cases.append(case)
    return tuple(cases)


def read_case(ck: Checker, at: At, start: int) -> TestCase | None:
    if not ck.declared(at, CASE):
        return None
    m = at.value
    name = ck.text(at.child("name")) if "name" in m else None
    events: list[TestEvent] = read_pins(ck, at.child("variants")) if "variants" in m else []
    if "events" in m and ck.sequence(at.child("events")):
        events += [e for e in (read_event(ck, item, start) for item in at.child("events").items()) if e]
    until = read_time(ck, at.child("until"), start) if "until" in m else None
    expect: list[Expectation] = []
    if "expect" in m and ck.sequence(at.child("expect"), example="[] (nothing sent) or [{at: 11m, title: ...}]"):
        expect = [e for e in (read_expectation(ck, item, start) for item in at.child("expect").items()) if e]
    if name is None:
        return None
    return TestCase(name, tuple(events), until, tuple(expect), at.pos)


def read_pins(ck: Checker, at: At) -> list[TestEvent]:
    """`variants: {u1: {price-drop-ab: b}}`: pin users to A/B variants, as a `$profile`
    event at time 0 setting the pin property the core reads (engine/core/variants.py)."""
    example = "{u1: {abandoned-cart: b}} (user: {campaign: variant})"
    if not ck.mapping(at, tuple(at.value) if isinstance(at.value, YMap) else (), example=example):
        return []
    pins = []
    for user in at.value:
        user_at = at.child(user)
        if not ck.mapping(user_at, tuple(user_at.value) if isinstance(user_at.value, YMap) else (), example=example):
            continue
        chosen = {campaign: ck.text(user_at.child(campaign)) for campaign in user_at.value}
        if None in chosen.values():
            continue
        pins.append(TestEvent(0, str(user), "$profile", {PIN_PROPERTY: chosen}, None, user_at.pos))
    return pins


def read_time(ck: Checker, at: At, start: int) -> int | None:
    """`11m` (from start) or an ISO datetime (UTC without an offset) -> seconds from start."""
    try:
        return parse_duration(at.value)
    except BadValue:
        pass
    try:
        ms = parse_datetime(at.value, timezone.utc)
    except BadValue:
        ck.error(at.pos, at.path, f"expected a time like 11m (after start) or 2026-11-25T10:11:00Z, got {kind(at.value)}")
        return None
    if ms < start:
        ck.error(at.pos, at.path, "is before the suite's start")
        return None
    return (ms - start) // 1000


def read_event(ck: Checker, at: At, start: int) -> TestEvent | None:
    if not ck.declared(at, TEST_EVENT):
        return None
    m = at.value
    when = read_time(ck, at.child("at"), start) if "at" in m else None
    user = ck.text(at.child("user")) if "user" in m else None
    event = ck.text(at.child("event")) if "event" in m else None
    props: dict = {}
    if "props" in m:
        if isinstance(m["props"], YMap):
            props = plain(m["props"])
        else:
            ck.error(m.value_pos["props"], at.path + ".props", f"expected a mapping of properties, got {kind(m['props'])}")
    ts = read_ts(ck, at.child("ts")) if "ts" in m else None
    if when is None or user is None or event is None:
        return None
    return TestEvent(when, user, event, props, ts, at.pos)


def read_ts(ck: Checker, at: At) -> int | None:
    if isinstance(at.value, int) and not isinstance(at.value, bool):
        return at.value  # epoch milliseconds, as producers may send them
    return ck.check(at, lambda v: parse_datetime(v, timezone.utc))


def read_expectation(ck: Checker, at: At, start: int) -> Expectation | None:
    if not ck.declared(at, EXPECT):
        return None
    m = at.value
    fields: dict[str, Any] = {}
    ok = True
    for key in m:
        if key not in EXPECT_KEYS or key == "at":
            continue
        field = at.child(key)
        if key in EXPECT_TEXT_KEYS:
            value = ck.text(field, allow_empty=key not in ("user", "campaign", "title"))
        elif key in ("require_interaction", "declarative"):
            value = ck.boolean(field)
        elif key == "ttl":
            value = ck.duration(field)
        elif key == "urgency":
            value = ck.choice(field, URGENCIES)
        else:
            value = read_expected_actions(ck, field)
        ok = ok and value is not None
        fields[key] = value
    when = read_time(ck, at.child("at"), start) if "at" in m else None
    if not ok or ("at" in m and when is None):
        return None
    return Expectation(when, fields, at.pos)


def read_expected_actions(ck: Checker, at: At) -> list[dict] | None:
    if not isinstance(at.value, YList):
        ck.error(at.pos, at.path, f"expected a list like [{{title: Checkout, url: ...}}], got {kind(at.value)}")
        return None
    ok = all(ck.declared(item, EXPECTED_ACTION) for item in at.items())
    return plain(at.value) if ok else None
