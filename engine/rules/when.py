"""WHEN: start/end, delay, limits, do-not-disturb, cut-off and schedules.

`read_limits` and `read_dnd` are shared with `pushcast.yaml` (engine.rules.config).
"""

from __future__ import annotations

from datetime import timezone as _timezone
from datetime import tzinfo

from croniter import croniter

from engine.rules.declared import BEST_TIME, CAMPAIGN_LIMITS, DND_HOURS, LIMIT, SCHEDULE, WHEN
from engine.rules.fields import At, Checker, join, kind
from engine.rules.model import (
    DND_OFF, ON_LIMIT, BestTime, DoNotDisturb, FrequencyLimit, Limits, Schedule, TimeOfDay, When,
)
from engine.rules.parse import (
    BadValue, format_ms, parse_datetime, parse_local_datetime, parse_time_of_day, to_epoch_ms, zone,
)
from engine.rules.yamlpos import YList, YMap

# A queued message goes stale: it waits at least a minute (less is no queue) and at most
# as long as push services keep a message.
MAX_DELAY_RANGE = (60, 28 * 86400)


def read_when(ck: Checker, at: At, tz: tzinfo, *, live: bool) -> When | None:
    if not ck.declared(at, WHEN):
        return None
    m = at.value
    ok = True

    def field(key: str, reader, default=None):
        nonlocal ok
        if key not in m:
            return default
        value = reader(at.child(key))
        ok = ok and value is not None
        return value if value is not None else default

    start = field("start", lambda a: ck.check(a, lambda v: parse_datetime(v, tz)))
    end = field("end", lambda a: ck.check(a, lambda v: parse_datetime(v, tz)))
    if start is not None and end is not None and end <= start:
        ck.error(m.value_pos["end"], at.path + ".end", f"must be after start ({format_ms(start)})")
        ok = False
    delay = 0
    if "delay" in m:
        if live:
            delay = field("delay", lambda a: ck.duration(a), 0)
        else:
            ck.error(at.key_pos("delay"), at.path + ".delay", "applies to live campaigns (who.on); a scheduled campaign sends at its schedule")
            ok = False
    limits = field("limits", lambda a: read_campaign_limits(ck, a), Limits())
    dnd = field("dnd", lambda a: read_dnd(ck, a))
    schedule = field("schedule", lambda a: read_schedule(ck, a, tz))
    best_time = field("best_time", lambda a: read_best_time(ck, a))
    if best_time is not None and schedule is None and not delay:
        ck.error(at.key_pos("best_time"), at.path + ".best_time",
                 "applies to scheduled campaigns and live campaigns with a delay: a message sent at once has no time to move")
        ok = False
    cutoff = cutoff_at = None
    if "cutoff" in m:
        cutoff, cutoff_at = read_cutoff(ck, at.child("cutoff"), tz, live=live, schedule=schedule)
        ok = ok and (cutoff is not None or cutoff_at is not None)
    priority = field("priority", lambda a: ck.integer(a), 0)
    if not ok:
        return None
    return When(start, end, delay, limits, dnd, cutoff, cutoff_at, schedule, best_time, priority)


def read_best_time(ck: Checker, at: At) -> BestTime | None:
    if not ck.declared(at, BEST_TIME):
        return None
    m = at.value
    within = ck.duration(at.child("within"), minimum=3600, maximum=7 * 86400) if "within" in m else 86400
    fallback = ck.check(at.child("fallback"), parse_time_of_day) if "fallback" in m else TimeOfDay(10, 0)
    if within is None or fallback is None:
        return None
    return BestTime(within, fallback)


def read_cutoff(ck: Checker, at: At, tz: tzinfo, *, live: bool, schedule: Schedule | None):
    """A time of day (`22:00`, each send day) or, for scheduled campaigns, a datetime."""
    try:
        return parse_time_of_day(at.value), None
    except BadValue as exc:
        if live and isinstance(at.value, str) and len(at.value.strip()) > 5:
            ck.error(at.pos, at.path, f"{exc}; a live campaign's cut-off is a time of day (use end: for a date)")
            return None, None
        if live or isinstance(at.value, str) and len(at.value.strip()) <= 5:
            ck.error(at.pos, at.path, str(exc))
            return None, None
    # An absolute moment (the core compares it with now): without an offset it is read in
    # the schedule's zone, or the campaign's when the schedule follows each user's zone.
    ms = ck.check(at, lambda v: parse_datetime(v, _schedule_zone(schedule, tz)))
    if ms is None:
        return None, None
    if schedule and schedule.at and schedule.timezone != "user" and ms <= min(schedule.at):
        ck.error(at.pos, at.path, f"is before the first scheduled time ({format_ms(min(schedule.at))}): nothing would be sent")
        return None, None
    return None, ms


def _schedule_zone(schedule: Schedule | None, tz: tzinfo) -> tzinfo:
    if schedule and schedule.timezone and schedule.timezone != "user":
        return zone(schedule.timezone)
    return tz


# --- limits and DND (shared with pushcast.yaml) -------------------------------------


def read_limit(ck: Checker, at: At) -> FrequencyLimit | None:
    if not ck.declared(at, LIMIT):
        return None
    m = at.value
    most = ck.integer(at.child("max"), minimum=1) if "max" in m else None
    per = ck.duration(at.child("per"), minimum=1) if "per" in m else None
    return FrequencyLimit(most, per) if most is not None and per is not None else None


def read_limits(ck: Checker, at: At) -> tuple[FrequencyLimit, ...] | None:
    """One `{max, per}` or a list of them."""
    if isinstance(at.value, YList):
        found = [read_limit(ck, item) for item in at.items()]
        return None if any(f is None for f in found) else tuple(found)
    if isinstance(at.value, YMap):
        found = read_limit(ck, at)
        return None if found is None else (found,)
    ck.error(at.pos, at.path, f"expected {{max: 1, per: 1d}} or a list of them, got {kind(at.value)}")
    return None


def read_campaign_limits(ck: Checker, at: At) -> Limits | None:
    if not ck.declared(at, CAMPAIGN_LIMITS):
        return None
    m = at.value
    ignore = ck.boolean(at.child("ignore_global")) if "ignore_global" in m else False
    per_user = read_limits(ck, at.child("per_user")) if "per_user" in m else ()
    policy = read_on_limit(ck, at, default=None)
    if ignore is None or per_user is None or policy is None:
        return None
    return Limits(ignore, per_user, *policy)


def read_on_limit(ck: Checker, at: At, default: str | None) -> tuple[str | None, int] | None:
    """`on_limit` (drop | queue) and `max_delay`, keys of the mapping at `at` (a
    campaign's `when.limits` or pushcast.yaml): (on_limit, max_delay seconds)."""
    m = at.value
    on_limit = ck.choice(at.child("on_limit"), ON_LIMIT) if "on_limit" in m else default
    max_delay = _read_max_delay(ck, at.child("max_delay")) if "max_delay" in m else 0
    if "on_limit" in m and on_limit is None or max_delay is None:
        return None
    if on_limit == "queue" and not max_delay:
        ck.error(m.value_pos["on_limit"], join(at.path, "on_limit"),
                 "queue needs max_delay: the longest a held message waits, like max_delay: 1d")
        return None
    if on_limit != "queue" and "max_delay" in m:
        ck.error(at.key_pos("max_delay"), join(at.path, "max_delay"),
                 "applies only with on_limit: queue (how long a held message may wait)")
        return None
    return on_limit, max_delay


def _read_max_delay(ck: Checker, at: At) -> int | None:
    low, high = MAX_DELAY_RANGE
    return ck.duration(at, minimum=low, maximum=high,
                       why_max="a held message goes stale; push services keep one at most 28 days")


def read_dnd(ck: Checker, at: At) -> DoNotDisturb | None:
    if at.value is False or at.value == "off":
        return DND_OFF  # this campaign ignores the global quiet hours
    if not ck.declared(at, DND_HOURS):
        return None
    m = at.value
    start = ck.check(at.child("from"), parse_time_of_day) if "from" in m else None
    end = ck.check(at.child("to"), parse_time_of_day) if "to" in m else None
    then = ck.choice(at.child("then"), ("delay", "discard")) if "then" in m else "delay"
    if start is None or end is None or then is None:
        return None
    if start == end:
        ck.error(m.value_pos["to"], at.path + ".to", f'must differ from "from" ({start}): the window would be empty')
        return None
    return DoNotDisturb(start, end, then)


# --- schedules ---------------------------------------------------------------------


def read_schedule(ck: Checker, at: At, tz: tzinfo) -> Schedule | None:
    if not ck.declared(at, SCHEDULE):
        return None
    m = at.value
    ok = True
    if ("at" in m) == ("cron" in m):
        where = m.value_pos["cron"] if "cron" in m else at.pos
        ck.error(where, at.path, "needs exactly one of at (datetimes) or cron (recurring)")
        ok = False
    zone_name = None
    if "timezone" in m:
        zone_name = at.value["timezone"]
        if zone_name != "user" and not _is_zone(zone_name):
            ck.error(m.value_pos["timezone"], at.path + ".timezone",
                     f'expected "user" or an IANA time zone like Europe/Paris, got {kind(zone_name)}')
            zone_name, ok = None, False
    late = ck.choice(at.child("late"), ("skip", "next_day")) if "late" in m else "skip"
    ok = ok and late is not None
    times: tuple[int, ...] = ()
    local: tuple[str, ...] = ()
    if "at" in m:
        found = read_schedule_times(ck, at.child("at"), zone_name, tz)
        ok = ok and found is not None
        times, local = found or ((), ())
    cron = None
    if "cron" in m:
        cron = read_cron(ck, at.child("cron"))
        ok = ok and cron is not None
    return Schedule(times, local, cron, zone_name, late) if ok else None


def read_schedule_times(ck: Checker, at: At, zone_name: str | None, tz: tzinfo):
    """(epoch ms, local texts), sorted. With timezone: user, times are wall times: the
    epoch ms encode them as if UTC and `at_local` keeps them as written."""
    items = list(at.items()) if isinstance(at.value, YList) else [at]
    if isinstance(at.value, YList) and not items:
        ck.error(at.pos, at.path, "must list at least one datetime")
        return None
    pairs = []
    for item in items:
        try:
            moment, _ = parse_local_datetime(item.value)
        except BadValue as exc:
            ck.error(item.pos, item.path, str(exc))
            continue
        if zone_name == "user":
            if moment.tzinfo is not None:
                ck.error(item.pos, item.path, "with timezone: user, write a local time without an offset (it is each user's own)")
                continue
            pairs.append((to_epoch_ms(moment, _timezone.utc), moment.isoformat()))
        else:
            pairs.append((to_epoch_ms(moment, _schedule_zone_name(zone_name, tz)), ""))
    if len(pairs) != len(items):
        return None
    pairs.sort()
    return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs) if zone_name == "user" else ()


def _is_zone(name: object) -> bool:
    try:
        return isinstance(name, str) and zone(name) is not None
    except BadValue:
        return False


def _schedule_zone_name(zone_name: str | None, tz: tzinfo) -> tzinfo:
    return zone(zone_name) if zone_name else tz


def read_cron(ck: Checker, at: At) -> str | None:
    text = at.value.strip() if isinstance(at.value, str) else None
    # Five fields only: croniter would read a sixth as seconds, which nobody means here.
    if text is None or len(text.split()) != 5 or not croniter.is_valid(text):
        ck.error(at.pos, at.path, f'expected a cron expression like "0 10 * * MON", got {kind(at.value)}')
        return None
    return text
