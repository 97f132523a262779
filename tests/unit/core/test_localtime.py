"""Local-time edge cases: DST gaps and folds, windows across midnight, odd offsets."""

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from engine.core.localtime import (dnd_end, in_window, local, past_cutoff, reminder_due, to_ms, wall_clock,
                                   wall_clock_ms, zone)
from engine.rules.model import DoNotDisturb, TimeOfDay

NY = ZoneInfo("America/New_York")


def utc_ms(*args) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp() * 1000)


def test_a_wall_time_inside_the_spring_gap_lands_just_after_it():
    # 2026-03-08 02:30 does not exist in New York (02:00 -> 03:00 EDT).
    moment = wall_clock(date(2026, 3, 8), TimeOfDay(2, 30), NY)
    assert moment.astimezone(timezone.utc) == datetime(2026, 3, 8, 7, 30, tzinfo=timezone.utc)
    assert (moment.hour, moment.minute) == (3, 30)


def test_a_wall_time_in_the_autumn_fold_takes_the_first_occurrence():
    # 2026-11-01 01:30 happens twice in New York; the first is EDT (05:30Z).
    moment = wall_clock(date(2026, 11, 1), TimeOfDay(1, 30), NY)
    assert moment.astimezone(timezone.utc) == datetime(2026, 11, 1, 5, 30, tzinfo=timezone.utc)


def test_dnd_window_across_midnight():
    start, end = TimeOfDay(21, 0), TimeOfDay(9, 0)
    assert in_window(22 * 60, start, end) and in_window(3 * 60, start, end)
    assert not in_window(9 * 60, start, end) and not in_window(20 * 60 + 59, start, end)
    assert in_window(9 * 60, TimeOfDay(9, 0), TimeOfDay(17, 0))
    assert not in_window(17 * 60, TimeOfDay(9, 0), TimeOfDay(17, 0))


def test_dnd_end_in_a_half_hour_zone_and_outside_dnd():
    dnd = DoNotDisturb(TimeOfDay(21, 0), TimeOfDay(9, 0))
    kolkata = zone("Asia/Kolkata")
    # 2026-11-25T16:00Z is 21:30 in Kolkata: DND ends at 09:00 IST next day = 03:30Z.
    assert dnd_end(utc_ms(2026, 11, 25, 16, 0), dnd, kolkata) == utc_ms(2026, 11, 26, 3, 30)
    # 02:00 IST on the 26th (20:30Z on the 25th): ends the same local morning.
    assert dnd_end(utc_ms(2026, 11, 25, 20, 30), dnd, kolkata) == utc_ms(2026, 11, 26, 3, 30)
    assert dnd_end(utc_ms(2026, 11, 25, 6, 0), dnd, kolkata) is None  # 11:30 IST


def test_dnd_ending_on_the_day_clocks_fall_back():
    dnd = DoNotDisturb(TimeOfDay(22, 0), TimeOfDay(8, 0))
    # 2026-11-01 00:30 EDT (04:30Z); DND ends at 08:00 EST = 13:00Z, 9.5 h later.
    assert dnd_end(utc_ms(2026, 11, 1, 4, 30), dnd, NY) == utc_ms(2026, 11, 1, 13, 0)


def test_cutoff_is_local():
    tokyo = zone("Asia/Tokyo")
    assert past_cutoff(utc_ms(2026, 11, 25, 12, 0), TimeOfDay(21, 0), tokyo)  # 21:00 JST
    assert not past_cutoff(utc_ms(2026, 11, 25, 11, 59), TimeOfDay(21, 0), tokyo)


def test_unknown_or_missing_zones_fall_back():
    assert zone("Mars/Olympus", "Europe/Paris").key == "Europe/Paris"
    assert zone(None, "Nowhere/Else").key == "UTC"
    assert zone(42, "Asia/Tokyo").key == "Asia/Tokyo"


def test_reminder_due_from_dates_datetimes_and_epoch_ms():
    paris = zone("Europe/Paris")
    nine = TimeOfDay(9, 0)
    assert reminder_due("2026-12-20", -86400, nine, paris) == utc_ms(2026, 12, 19, 8, 0)
    assert reminder_due("2026-12-20T23:30:00Z", 0, nine, paris) == utc_ms(2026, 12, 21, 8, 0)  # 00:30 local
    assert reminder_due(utc_ms(2026, 12, 20, 12, 0), -7200, None, paris) == utc_ms(2026, 12, 20, 10, 0)
    assert reminder_due("2026-12-20T10:00", 0, None, paris) == utc_ms(2026, 12, 20, 9, 0)  # local wall time
    assert reminder_due("soon", 0, nine, paris) is None and reminder_due(True, 0, nine, paris) is None


def test_remembered_wall_clock_instants_and_dnd_ends_match_a_fresh_computation():
    # DST days (gap and fold) in New York and London, a half-hour zone, each asked twice.
    zones = (NY, ZoneInfo("Europe/London"), ZoneInfo("Asia/Kolkata"))
    days = (date(2026, 3, 8), date(2026, 3, 29), date(2026, 11, 1), date(2026, 10, 25), date(2026, 6, 1))
    times = (TimeOfDay(1, 30), TimeOfDay(2, 30), TimeOfDay(8, 0), TimeOfDay(22, 0))
    for _ in range(2):
        for tz in zones:
            for day in days:
                for at in times:
                    assert wall_clock_ms(day, at, tz) == to_ms(wall_clock(day, at, tz))
    dnd = DoNotDisturb(TimeOfDay(22, 0), TimeOfDay(8, 0), "delay")
    for now in range(utc_ms(2026, 10, 31, 18, 0), utc_ms(2026, 11, 2, 18, 0), 17 * 60_000):
        now_local = local(now, NY)
        assert dnd_end(now, dnd, NY) == dnd_end(now, dnd, NY, now_local)
        if 8 <= now_local.hour < 22:
            assert dnd_end(now, dnd, NY) is None
        else:
            end = dnd_end(now, dnd, NY)
            assert end > now and (local(end, NY).hour, local(end, NY).minute) == (8, 0)
