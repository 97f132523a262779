"""Local time in a user's zone: DND windows, cut-offs, date reminders. Pure functions."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.rules.model import DoNotDisturb, TimeOfDay


@lru_cache(maxsize=1024)
def zone(name: str | None, fallback: str = "UTC") -> ZoneInfo:
    """The ZoneInfo for an IANA name; the fallback for a missing or unknown name."""
    for candidate in (name, fallback, "UTC"):
        if isinstance(candidate, str) and candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def local(ms: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz)


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def wall_clock(day: date, at: TimeOfDay, tz: ZoneInfo) -> datetime:
    """`at` on `day` in tz. A time skipped by a DST change falls after the gap."""
    naive = datetime.combine(day, time(at.hour, at.minute))
    aware = naive.replace(tzinfo=tz)
    # Round-trip through UTC: a wall time inside a spring-forward gap becomes the real
    # instant just after the gap instead of a time that never happened.
    return aware.astimezone(timezone.utc).astimezone(tz)


_WALL_MS: dict[tuple, int] = {}  # (day, hour, minute, zone) -> epoch ms; a cache of a pure function


def wall_clock_ms(day: date, at: TimeOfDay, tz: ZoneInfo) -> int:
    """`to_ms(wall_clock(day, at, tz))`, remembered: every user held by DND in a zone on a
    day ends at the same instant (ZoneInfo(name) returns one object per zone)."""
    key = (day, at.hour, at.minute, tz)
    ms = _WALL_MS.get(key)
    if ms is None:
        if len(_WALL_MS) >= 100_000:  # a few zones x days x hours in practice; bounded anyway
            _WALL_MS.clear()
        ms = _WALL_MS[key] = to_ms(wall_clock(day, at, tz))
    return ms


def in_window(minutes: int, start: TimeOfDay, end: TimeOfDay) -> bool:
    """Is a minute of the day inside [start, end), a window that may wrap midnight?"""
    s, e = start.minutes, end.minutes
    if s == e:
        return False
    if s < e:
        return s <= minutes < e
    return minutes >= s or minutes < e


def dnd_end(now_ms: int, dnd: DoNotDisturb, tz: ZoneInfo, now: datetime | None = None) -> int | None:
    """When DND is on at now_ms: the instant it ends; None when it is off. `now`: now_ms
    already in tz (the caller converted it once for DND and the cut-off)."""
    if now is None:
        now = local(now_ms, tz)
    if not in_window(now.hour * 60 + now.minute, dnd.start, dnd.end):
        return None
    day = now.date()
    end = wall_clock_ms(day, dnd.end, tz)
    if end <= now_ms:
        end = wall_clock_ms(day + timedelta(days=1), dnd.end, tz)
    return end


def past_cutoff(now_ms: int, cutoff: TimeOfDay, tz: ZoneInfo, now: datetime | None = None) -> bool:
    if now is None:
        now = local(now_ms, tz)
    return now.hour * 60 + now.minute >= cutoff.minutes


def reminder_due(raw: object, offset_s: int, at: TimeOfDay | None, tz: ZoneInfo) -> int | None:
    """The due instant of a date reminder, or None when the property is not a date.

    Dates without a time are local midnight in the user's zone; day offsets move the
    calendar day (wall-clock arithmetic), so a reminder at 09:00 stays at 09:00 across
    a DST change.
    """
    moment = parse_local(raw, tz)
    if moment is None:
        return None
    moment = moment + timedelta(seconds=offset_s)
    if at is not None:
        moment = wall_clock(moment.date(), at, tz)
    else:
        moment = moment.astimezone(timezone.utc).astimezone(tz)
    return to_ms(moment)


def parse_local(raw: object, tz: ZoneInfo) -> datetime | None:
    """An event's date property as an aware datetime in tz."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        return datetime.fromtimestamp(raw / 1000, tz)
    if not isinstance(raw, str):
        return None
    text = raw.strip().replace("Z", "+00:00")
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(0, 0), tz)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=tz)
    return parsed.astimezone(tz)
