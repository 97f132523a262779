"""WHO: triggers (`who.on`), inaction (`who.unless`), segments and property filters."""

from __future__ import annotations

from datetime import tzinfo

from engine.rules.declared import DID, ON, UNLESS, WHO
from engine.rules.fields import At, Checker, kind, unknown_key_message
from engine.rules.model import (
    OPERATORS, All, Any_, Condition, DateTrigger, Did, Inaction, LiveTrigger, Not,
    ProfileMatch, PropertyFilter, Segment,
)
from engine.rules.parse import format_duration, parse_datetime, parse_time_of_day
from engine.rules.yamlpos import YList, YMap

# Aggregates are kept this long; a campaign asking further back could never be true.
RETENTION_HORIZON = 400 * 86400
_HORIZON_WHY = f"events older than the {format_duration(RETENTION_HORIZON)} retention horizon are not kept"

SEGMENT_HEADS = ("all", "any", "not", "profile", "did")
DID_KEYS = DID.names
COUNT_OPS = ("at_least", "at_most", "exactly")
_NUMERIC_OPS = ("gt", "gte", "lt", "lte")


def read_who(ck: Checker, at: At, tz: tzinfo) -> tuple[LiveTrigger | DateTrigger | None, Inaction | None, Segment | None]:
    if not ck.declared(at, WHO):
        return None, None, None
    m = at.value
    trigger = read_trigger(ck, at.child("on"), tz) if "on" in m else None
    unless = None
    if "unless" in m:
        unless = read_unless(ck, at.child("unless"))
        if "on" not in m:
            ck.error(at.key_pos("unless"), at.path + ".unless", "needs who.on: inaction is counted from a live trigger")
        elif isinstance(trigger, DateTrigger):
            ck.error(at.key_pos("unless"), at.path + ".unless", "works with a plain live trigger, not a date reminder (who.on with date)")
    segment = read_segment(ck, at.child("segment"), tz) if "segment" in m else None
    return trigger, unless, segment


def read_trigger(ck: Checker, at: At, tz: tzinfo) -> LiveTrigger | DateTrigger | None:
    if isinstance(at.value, str):  # `on: Added To Cart` is shorthand for {event: ...}
        name = ck.text(at)
        return LiveTrigger(name) if name else None
    if not ck.declared(at, ON):
        return None
    m = at.value
    event = ck.text(at.child("event")) if "event" in m else None
    where = read_filter(ck, at.child("where"), tz) if "where" in m else PropertyFilter()
    if "date" not in m:
        for key in ("offset", "at"):
            if key in m:
                ck.error(at.key_pos(key), f"{at.path}.{key}", '"date" is missing: offset and at apply to a date property of the event')
        return LiveTrigger(event, where) if event else None
    date = ck.text(at.child("date"))
    offset = ck.duration(at.child("offset"), allow_negative=True) if "offset" in m else 0
    time = ck.check(at.child("at"), parse_time_of_day) if "at" in m else None
    if event and date and offset is not None:
        return DateTrigger(event, date, offset, time, where)
    return None


def read_unless(ck: Checker, at: At) -> Inaction | None:
    if not ck.declared(at, UNLESS):
        return None
    m = at.value
    event = ck.text(at.child("event")) if "event" in m else None
    within = ck.duration(at.child("within"), minimum=1) if "within" in m else None
    match = ck.strings(at.child("match"), example="[cart_id]") if "match" in m else ()
    if event and within and match is not None:
        return Inaction(event, within, match)
    return None


# --- segments ----------------------------------------------------------------------


def read_segment(ck: Checker, at: At, tz: tzinfo) -> Segment | None:
    m = at.value
    if not isinstance(m, YMap):
        ck.error(at.pos, at.path, f"expected a segment (a mapping with one of {', '.join(SEGMENT_HEADS)}), got {kind(m)}")
        return None
    heads = [k for k in m if k in SEGMENT_HEADS]  # file order: blame the later one
    if not heads:
        ck.error(at.pos, at.path, f"expected one of {', '.join(SEGMENT_HEADS)}, got keys {', '.join(map(str, m))}")
        return None
    if len(heads) > 1:
        ck.error(at.key_pos(heads[1]), f"{at.path}.{heads[1]}",
                 f'cannot be combined with "{heads[0]}" in one segment; nest them, e.g. all: [..., ...]')
        return None
    head = heads[0]
    if not ck.mapping(at, DID_KEYS if head == "did" else (head,)):
        return None
    if head == "did":
        return read_did(ck, at, tz)
    if head == "profile":
        where = read_filter(ck, at.child("profile"), tz)
        return ProfileMatch(where) if where is not None else None
    if head == "not":
        item = read_segment(ck, at.child("not"), tz)
        return Not(item) if item is not None else None
    group = at.child(head)
    if not ck.sequence(group, example="[{profile: ...}, {did: ...}]"):
        return None
    if not group.value:
        ck.error(group.pos, group.path, "must list at least one segment")
        return None
    items = [read_segment(ck, item, tz) for item in group.items()]
    if any(item is None for item in items):
        return None
    return All(tuple(items)) if head == "all" else Any_(tuple(items))


def read_did(ck: Checker, at: At, tz: tzinfo) -> Did | None:
    m = at.value
    event = ck.text(at.child("did"))
    ok = event is not None
    ops = [k for k in COUNT_OPS if k in m]
    count_op, count = "at_least", 1
    if len(ops) > 1:
        ck.error(at.key_pos(ops[1]), f"{at.path}.{ops[1]}", f"use only one of at_least, at_most, exactly (already {ops[0]})")
        ok = False
    elif ops:
        count_op = ops[0]
        count = ck.integer(at.child(count_op), minimum=0)
        ok = ok and count is not None
    in_last = between = None
    if "in_last" in m and "between" in m:
        ck.error(at.key_pos("between"), f"{at.path}.between", "use in_last or between, not both")
        ok = False
    elif "in_last" in m:
        in_last = ck.duration(at.child("in_last"), minimum=1, maximum=RETENTION_HORIZON, why_max=_HORIZON_WHY)
        ok = ok and in_last is not None
    elif "between" in m:
        between = read_between(ck, at.child("between"), tz)
        ok = ok and between is not None
    else:
        ck.error(at.head, at.path, "did needs a time window: in_last: 30d or between: [2026-11-01, 2026-11-30]")
        ok = False
    where = read_filter(ck, at.child("where"), tz) if "where" in m else PropertyFilter()
    if not ok or where is None:
        return None
    return Did(event, count_op, count, in_last, between, where)


def read_between(ck: Checker, at: At, tz: tzinfo) -> tuple[int, int] | None:
    if not isinstance(at.value, YList) or len(at.value) != 2:
        ck.error(at.pos, at.path, f"expected two dates like [2026-11-01, 2026-11-30], got {kind(at.value)}")
        return None
    first, last = at.items()
    start = ck.check(first, lambda v: parse_datetime(v, tz))
    end = ck.check(last, lambda v: parse_datetime(v, tz, end_of_day=True))  # a bare end date is included
    if start is None or end is None:
        return None
    if end <= start:
        ck.error(last.pos, last.path, "must be after the first date")
        return None
    if end - start > RETENTION_HORIZON * 1000:
        ck.error(at.pos, at.path, f"spans more than {format_duration(RETENTION_HORIZON)} ({_HORIZON_WHY})")
        return None
    return start, end


# --- property filters ----------------------------------------------------------------


def read_filter(ck: Checker, at: At, tz: tzinfo) -> PropertyFilter | None:
    """`{price: {gte: 10}, category: shoes}`: every condition must hold."""
    if not isinstance(at.value, YMap):
        ck.error(at.pos, at.path, f"expected property conditions like {{price: {{gte: 10}}}}, got {kind(at.value)}")
        return None
    conditions: list[Condition] = []
    ok = True
    for prop in at.value:
        if not isinstance(prop, str) or not prop:
            ck.error(at.key_pos(prop), at.path, f"expected a property name, got {kind(prop)}")
            ok = False
            continue
        found = read_conditions(ck, at.child(prop), prop, tz)
        if found is None:
            ok = False
        else:
            conditions.extend(found)
    return PropertyFilter(tuple(conditions)) if ok else None


def read_conditions(ck: Checker, at: At, prop: str, tz: tzinfo) -> list[Condition] | None:
    value = at.value
    if isinstance(value, YList):
        ck.error(at.pos, at.path, "a list needs an operator, e.g. {in: [a, b]}")
        return None
    if not isinstance(value, YMap):
        return [Condition(prop, "eq", value)]  # a bare value means eq
    if not value:
        ck.error(at.pos, at.path, f"expected at least one operator: {', '.join(OPERATORS)}")
        return None
    out: list[Condition] = []
    for op in value:
        if op not in OPERATORS:
            ck.error(at.key_pos(op), f"{at.path}.{op}", unknown_key_message(op, OPERATORS).replace("key", "operator", 1))
            continue
        operand = read_operand(ck, at.child(op), op, tz)
        if operand is not _BAD:
            out.append(Condition(prop, op, operand))
    return out if len(out) == len(value) else None


_BAD = object()


def read_operand(ck: Checker, at: At, op: str, tz: tzinfo) -> object:
    value = at.value
    if op in ("in", "not_in"):
        if not isinstance(value, YList) or not value or any(isinstance(v, (YMap, YList)) for v in value):
            ck.error(at.pos, at.path, f"expected a list of values like [IN, US], got {kind(value)}")
            return _BAD
        return tuple(value)
    if op in _NUMERIC_OPS:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            ck.error(at.pos, at.path, f"expected a number, got {kind(value)}")
            return _BAD
        return value
    if op == "exists":
        return value if ck.boolean(at) is not None else _BAD
    if op in ("before", "after"):
        ms = ck.check(at, lambda v: parse_datetime(v, tz))
        return _BAD if ms is None else ms
    if isinstance(value, (YMap, YList)):  # eq, ne, contains compare one plain value
        ck.error(at.pos, at.path, f"expected a single value, got {kind(value)}")
        return _BAD
    return value
