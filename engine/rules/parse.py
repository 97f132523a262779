"""Scalar formats of the campaign files: durations, times of day, datetimes, time zones.

Each parser takes the value as YAML gave it and returns the model's unit (seconds, epoch
milliseconds, `TimeOfDay`) or raises `BadValue` whose text is the end of a user-facing
message (`expected a duration like 10m, got "ten"`). No clock is read: relative times
stay relative.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.errors import PushcastError
from engine.rules.errors import EXCERPT
from engine.rules.model import TimeOfDay

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(-)?((?:\d+[smhdw])+)")
_DURATION_PART = re.compile(r"(\d+)([smhdw])")
_TIME_OF_DAY = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_BARE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?", re.IGNORECASE
)


# Far-off years are typos, and near datetime's limits an offset or a day overflows.
MIN_YEAR, MAX_YEAR = 1970, 9998


class BadValue(PushcastError, ValueError):
    """A value of the wrong shape; `str()` is the message to show after the field path."""


def describe(value: Any) -> str:
    """How to quote a bad value in a message: strings in quotes, the rest by kind."""
    if isinstance(value, str):  # an excerpt: a stray file's content is not echoed back
        return json.dumps(value if len(value) <= EXCERPT else value[: EXCERPT - 1] + "…", ensure_ascii=False)
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return str(value)


def parse_duration(value: Any, *, allow_negative: bool = False) -> int:
    """`30s`, `10m`, `2h`, `1d`, `4w` (or compound `1h30m`) -> whole seconds."""
    hint = "-1d" if allow_negative else "10m"
    match = _DURATION.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None or (match.group(1) and not allow_negative):
        raise BadValue(f"expected a duration like {hint}, got {describe(value)}")
    seconds = sum(int(n) * UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(match.group(2)))
    return -seconds if match.group(1) else seconds


def format_duration(seconds: int) -> str:
    """The shortest exact spelling of a duration, for messages (`86400` -> `1d`)."""
    for unit in ("d", "h", "m"):
        if seconds and seconds % UNIT_SECONDS[unit] == 0:
            return f"{seconds // UNIT_SECONDS[unit]}{unit}"
    return f"{seconds}s"


def parse_time_of_day(value: Any) -> TimeOfDay:
    """`HH:MM` (24-hour clock) -> TimeOfDay."""
    match = _TIME_OF_DAY.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise BadValue(f'expected a time of day like "21:00", got {describe(value)}')
    return TimeOfDay(int(match.group(1)), int(match.group(2)))


@lru_cache(maxsize=None)
def zone(name: str) -> ZoneInfo:
    """An IANA time zone by name; BadValue if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise BadValue(f"unknown time zone {describe(name)}; expected an IANA name like Europe/Paris") from None


def check_zone(value: Any) -> str:
    """Validate a time zone value from a file and return its name."""
    if not isinstance(value, str) or not value.strip():
        raise BadValue(f"expected an IANA time zone like Europe/Paris, got {describe(value)}")
    zone(value.strip())
    return value.strip()


def parse_local_datetime(value: Any) -> tuple[datetime, bool]:
    """Read an ISO 8601 date or datetime: (datetime, is_bare_date).

    The datetime is naive when the text has no offset: the caller decides its zone.
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            if _BARE_DATE.fullmatch(text):
                moment, is_date = datetime.combine(date.fromisoformat(text), datetime.min.time()), True
            elif _DATETIME.fullmatch(text):
                moment, is_date = datetime.fromisoformat(text.upper()), False
            else:
                moment = None
        except ValueError:
            moment = None  # well-formed but impossible, e.g. 2026-02-30: same message below
        if moment is not None:
            if not MIN_YEAR <= moment.year <= MAX_YEAR:
                raise BadValue(f"expected a year between {MIN_YEAR} and {MAX_YEAR}, got {describe(value)}")
            return moment, is_date
    raise BadValue(f"expected a datetime like 2026-12-24T10:00:00Z or a date like 2026-12-24, got {describe(value)}")


def to_epoch_ms(moment: datetime, tz: ZoneInfo | timezone) -> int:
    """Epoch ms of a datetime; a naive one is read as wall time in `tz`."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return int(moment.timestamp() * 1000)


def parse_datetime(value: Any, tz: ZoneInfo | timezone, *, end_of_day: bool = False) -> int:
    """ISO 8601 datetime or date -> epoch ms; no offset means `tz`, a bare date midnight.

    With `end_of_day`, a bare date means the midnight that ends it (for inclusive ends
    such as `between: [2026-11-01, 2026-11-30]`, which users read as the whole 30th).
    """
    moment, is_date = parse_local_datetime(value)
    if is_date and end_of_day:
        moment += timedelta(days=1)
    return to_epoch_ms(moment, tz)


def format_ms(ms: int) -> str:
    """Epoch ms as an ISO UTC datetime, for messages."""
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
