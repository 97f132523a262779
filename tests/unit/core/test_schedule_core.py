"""Scheduled runs in the core: cron wall times across DST changes, user-time runs that
start late, and replayed runs."""

from __future__ import annotations

from datetime import datetime, timezone

from engine.core import UserState
from engine.core.effects import Notify, Suppressed
from engine.core.schedule import process_scheduled_run, run_times
from tests.unit.core_helpers import DAY, SUBSCRIPTION, campaigns


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000)


def scheduled(schedule: str, extra_when: str = "") -> str:
    return f"""
campaign: s
who: {{segment: {{profile: {{plan: gold}}}}}}
when: {{schedule: {schedule}{extra_when}}}
what: {{title: hi}}
"""


def test_a_weekly_cron_keeps_its_wall_time_across_the_autumn_change():
    compiled = campaigns(scheduled('{cron: "0 10 * * MON", timezone: Europe/Berlin}')).get("s")
    runs = run_times(compiled, ms("2026-10-15T00:00"), ms("2026-11-03T00:00"))
    assert runs == [("2026-10-19T10:00", ms("2026-10-19T08:00")), ("2026-10-26T10:00", ms("2026-10-26T09:00")),
                    ("2026-11-02T10:00", ms("2026-11-02T09:00"))]


def test_a_repeated_wall_time_runs_once_and_a_skipped_one_after_the_gap():
    compiled = campaigns(scheduled('{cron: "30 1,2 * * SUN", timezone: America/New_York}')).get("s")
    autumn = run_times(compiled, ms("2026-10-31T00:00"), ms("2026-11-02T00:00"))
    assert autumn == [("2026-11-01T01:30", ms("2026-11-01T05:30")), ("2026-11-01T02:30", ms("2026-11-01T07:30"))]
    spring = run_times(compiled, ms("2027-03-13T00:00"), ms("2027-03-15T00:00"))
    assert spring == [("2027-03-14T01:30", ms("2027-03-14T06:30")), ("2027-03-14T02:30", ms("2027-03-14T07:30"))]
    # Resuming from the middle of the repeated hour does not run 01:30 again.
    assert run_times(compiled, ms("2026-11-01T06:15"), ms("2026-11-01T07:00")) == []


def test_an_hourly_cron_runs_once_per_instant_through_the_spring_gap():
    compiled = campaigns(scheduled('{cron: "0 * * * *", timezone: Europe/Berlin}')).get("s")
    runs = run_times(compiled, ms("2027-03-27T23:30"), ms("2027-03-28T02:30"))
    # 01:00 CET, then 02:00 (skipped) lands on 03:00 CEST, which runs once, then 04:00 CEST.
    assert [t for _, t in runs] == [ms("2027-03-28T00:00"), ms("2027-03-28T01:00"), ms("2027-03-28T02:00")]


def test_a_user_time_run_before_the_campaign_start_is_made_at_the_start():
    text = scheduled('{at: "2026-12-24T10:00", timezone: user, late: skip}', ", start: 2026-12-24T06:00:00Z")
    compiled = campaigns(text).get("s")
    assert run_times(compiled, ms("2026-12-20T00:00"), ms("2026-12-30T00:00")) == [("2026-12-24T10:00", ms("2026-12-24T06:00"))]
    # A start after the slot has passed everywhere: no run.
    text = scheduled('{at: "2026-12-24T10:00", timezone: user}', ", start: 2026-12-26T00:00:00Z")
    assert run_times(campaigns(text).get("s"), ms("2026-12-20T00:00"), ms("2026-12-30T00:00")) == []


def user(name: str, tz: str) -> UserState:
    return UserState(name, profile={"plan": "gold", "tz": tz},
                     subscriptions={SUBSCRIPTION["endpoint"]: [SUBSCRIPTION["keys"]["p256dh"], SUBSCRIPTION["keys"]["auth"]]})


def test_late_next_day_and_skip_when_a_run_is_made_late():
    for late, expected_due in (("next_day", ms("2026-12-25T04:30")), ("skip", None)):
        cs = campaigns(scheduled(f'{{at: "2026-12-24T10:00", timezone: user, late: {late}}}'))
        state = user("kolkata", "Asia/Kolkata")
        out = process_scheduled_run(state, cs.get("s"), "2026-12-24T10:00", ms("2026-12-24T06:00"), cs)
        if expected_due is None:
            assert [e.reason for e in out.items if isinstance(e, Suppressed)] == ["late"] and not state.waits
        else:
            assert [w.due for w in state.waits] == [expected_due]
        # A run made more than a day late sends nothing off-hours, whatever `late` says.
        state = user("kolkata", "Asia/Kolkata")
        out = process_scheduled_run(state, cs.get("s"), "2026-12-24T10:00", ms("2026-12-24T06:00") + DAY, cs)
        assert [e.reason for e in out.items if isinstance(e, Suppressed)] == ["late"] and not state.waits


def test_a_replayed_run_reaches_nobody_twice():
    cs = campaigns(scheduled('{at: "2026-12-24T10:00"}'))
    state = user("u1", "UTC")
    first = process_scheduled_run(state, cs.get("s"), "2026-12-24T10:00", ms("2026-12-24T10:00"), cs)
    again = process_scheduled_run(state, cs.get("s"), "2026-12-24T10:00", ms("2026-12-24T10:05"), cs)
    assert len([e for e in first.items if isinstance(e, Notify)]) == 1
    assert again.items == []
