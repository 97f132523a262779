"""Each user's best hour: the hour of the day, in their own time zone, when they have
most often clicked a notification or been active, learned from their own events.

The state keeps one decayed weight per local hour (`UserState.hours`: the day the
weights were last decayed, then 24 integers). An event of the user adds 1 to its hour, a
notification click adds CLICK_WEIGHT; the weights halve every HALF_LIFE_DAYS, so last
month's habits fade. Learning runs only while a loaded campaign uses `best_time`.
"""

from __future__ import annotations

from datetime import timedelta

from engine.core.localtime import local, to_ms, wall_clock
from engine.rules.model import BestTime, TimeOfDay

DAY_MS = 86_400_000
HALF_LIFE_DAYS = 14
SCALE = 10  # weights are stored as integers, in tenths
CLICK_WEIGHT = 3
MIN_HISTORY = 4  # weight an hour needs before it is trusted over the fallback (two clicks, four events)


def record_activity(state, ts: int, tz, weight: int = 1) -> None:
    """Count one event (or a click, `weight` CLICK_WEIGHT) at its local hour."""
    day = ts // DAY_MS
    hours = state.hours
    if not hours:
        hours = state.hours = [day] + [0] * 24
    elif day > hours[0]:
        factor = 0.5 ** ((day - hours[0]) / HALF_LIFE_DAYS)
        hours[1:] = [int(w * factor) for w in hours[1:]]
        hours[0] = day
    hours[1 + local(ts, tz).hour] += weight * SCALE


def best_hour(state) -> int | None:
    """The local hour with the most weight (the earliest on a tie); None with too little."""
    return peak_hour(state.hours)


def peak_hour(hours: list | None) -> int | None:
    """`best_hour` of a state's stored hour weights (reach reads them without the state)."""
    if not hours:
        return None
    weights = hours[1:]
    top = max(weights)
    return weights.index(top) if top >= MIN_HISTORY * SCALE else None


# How a message was timed (stat `best_time.<how>`): the user's own best hour, the
# campaign's fallback, or neither within reach (sent at its slot).
BEST_TIME_HOWS = ("best_hour", "fallback", "no_slot")


def best_choice(state, earliest: int, best_time: BestTime, tz) -> tuple[int, str, str]:
    """When to deliver: the user's best hour, else the fallback time of day, at its first
    occurrence at or after `earliest` and within `best_time.within` of it; else `earliest`.
    Returns (due, how: one of BEST_TIME_HOWS, the choice in words for the explanation)."""
    hour = best_hour(state)
    candidates = [] if hour is None else [(TimeOfDay(hour, 0), "best_hour", "best hour")]
    candidates.append((best_time.fallback, "fallback", "fallback"))
    for at, how, words in candidates:
        due = _next_wall_time(earliest, at, tz)
        if due - earliest <= best_time.within * 1000:
            return due, how, f"{words} {at}"
    return earliest, "no_slot", "no slot within reach"


def _next_wall_time(after: int, at: TimeOfDay, tz) -> int:
    day = local(after, tz).date()
    due = to_ms(wall_clock(day, at, tz))
    return due if due >= after else to_ms(wall_clock(day + timedelta(days=1), at, tz))
