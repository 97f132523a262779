"""Property filters compiled to plain functions over a props (or profile) dict."""

from __future__ import annotations

from typing import Any, Callable

from engine.core.isotime import parse_iso
from engine.rules.model import Condition, PropertyFilter

Predicate = Callable[[dict], bool]
_MISSING = object()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def to_epoch_ms(value: Any) -> int | None:
    """A date property as epoch ms: ISO 8601 text (date or datetime, UTC if no offset)
    or a number of epoch milliseconds. None when it is neither."""
    if _is_number(value):
        return int(value)
    if not isinstance(value, str):
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None


def _equal(actual: Any, expected: Any) -> bool:
    if _is_number(actual) and _is_number(expected):
        return actual == expected
    return type(actual) is type(expected) and actual == expected


def _compile_condition(cond: Condition) -> Predicate:
    prop, op, value = cond.prop, cond.op, cond.value

    def get(props: dict) -> Any:
        return props.get(prop, _MISSING)

    if op == "eq":
        if isinstance(value, str):  # the common case: no numeric coercion to consider
            return lambda p: p.get(prop) == value
        return lambda p: _equal(get(p), value)
    if op == "ne":
        return lambda p: not _equal(get(p), value)
    if op in ("in", "not_in") and value and all(type(v) is str for v in value):
        texts = frozenset(value)  # strings equal strings only: a set look-up says the same
        if op == "in":
            return lambda p: type(actual := p.get(prop)) is str and actual in texts
        return lambda p: not (type(actual := p.get(prop)) is str and actual in texts)
    if op == "in":
        return lambda p: any(_equal(get(p), v) for v in value)
    if op == "not_in":
        return lambda p: not any(_equal(get(p), v) for v in value)
    if op == "exists":
        return lambda p: (prop in p and p[prop] is not None) == bool(value)
    if op == "contains":
        def contains(p: dict) -> bool:
            actual = get(p)
            if isinstance(actual, str) and isinstance(value, str):
                return value in actual
            if isinstance(actual, list):
                return any(_equal(item, value) for item in actual)
            return False
        return contains
    if op in ("gt", "gte", "lt", "lte"):
        compare = {
            "gt": lambda a: a > value, "gte": lambda a: a >= value,
            "lt": lambda a: a < value, "lte": lambda a: a <= value,
        }[op]
        return lambda p: _is_number(actual := get(p)) and compare(actual)
    if op in ("before", "after"):
        def dated(p: dict) -> bool:
            actual = to_epoch_ms(get(p))
            if actual is None:
                return False
            return actual < value if op == "before" else actual > value
        return dated
    raise ValueError(f"unknown operator {op!r}")  # the loader refuses these first


def compile_filter(flt: PropertyFilter) -> Predicate:
    """All conditions of the filter as one predicate."""
    checks = [_compile_condition(c) for c in flt.conditions]
    if not checks:
        return lambda props: True
    if len(checks) == 1:
        return checks[0]
    return lambda props: all(check(props) for check in checks)


def filter_key(flt: PropertyFilter) -> str:
    """A stable text form of a filter, so equal filters share one aggregate."""
    return ";".join(f"{c.prop}:{c.op}:{c.value!r}" for c in sorted(flt.conditions, key=repr))
