"""Each user's best hour (engine/core/best_time.py) and the fatigue pause."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from engine.core.best_time import CLICK_WEIGHT, best_choice, best_hour, record_activity
from engine.core.delivery import fatigued
from engine.core.state import UserState
from engine.rules.errors import ConfigError
from engine.rules.loader import parse_campaign
from engine.rules.model import BestTime, Fatigue, TimeOfDay

BERLIN = ZoneInfo("Europe/Berlin")
H = 3_600_000


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000)


def test_the_best_hour_is_local_and_needs_enough_history():
    state = UserState("u")
    record_activity(state, ms("2026-12-01T19:30"), BERLIN)  # 20:30 in Berlin
    record_activity(state, ms("2026-12-02T19:10"), BERLIN, CLICK_WEIGHT)
    assert best_hour(state) is None  # an event and a click are not a habit yet
    record_activity(state, ms("2026-12-03T19:50"), BERLIN, CLICK_WEIGHT)
    assert best_hour(state) == 20
    assert UserState.loads(state.dumps()).hours == state.hours  # stored compactly


def test_old_habits_fade():
    state = UserState("u")
    for day in range(1, 4):
        record_activity(state, ms(f"2026-11-0{day}T08:00"), BERLIN, CLICK_WEIGHT)
    assert best_hour(state) == 9
    for day in range(1, 4):  # the same activity two months later, at another hour
        record_activity(state, ms(f"2026-12-0{day}T18:00"), BERLIN, CLICK_WEIGHT)
    assert best_hour(state) == 19


@pytest.mark.parametrize("history, within, expected, why", [
    ([], 24 * 3600, "2026-12-07T10:00", "fallback 10:00"),             # no history: the fallback
    ([19, 19], 24 * 3600, "2026-12-07T19:00", "best hour 19:00"),      # learned: later the same day
    ([7, 7], 24 * 3600, "2026-12-08T07:00", "best hour 07:00"),        # before the slot: the next day
    ([7, 7], 12 * 3600, "2026-12-07T10:00", "fallback 10:00"),         # next day is out of reach
    ([], 1800, "2026-12-07T09:00", "no slot within reach"),            # nothing within half an hour
])
def test_best_due_takes_the_first_reachable_choice(history, within, expected, why):
    state = UserState("u")
    for hour in history:
        record_activity(state, ms(f"2026-12-06T{hour:02d}:15"), timezone.utc, CLICK_WEIGHT)
    due, _how, chosen = best_choice(state, ms("2026-12-07T09:00"), BestTime(within, TimeOfDay(10, 0)), timezone.utc)
    assert (due, chosen) == (ms(expected), why)


def test_best_time_needs_a_schedule_or_a_delay():
    with pytest.raises(ConfigError, match=r"x.yaml:3:8: .*when.best_time: applies to scheduled campaigns"):
        parse_campaign("campaign: x\nwho: {on: Ping}\nwhen: {best_time: {within: 2h}}\nwhat: {title: t}\n", "x.yaml")
    live = parse_campaign("campaign: x\nwho: {on: Ping}\nwhen: {delay: 1h, best_time: {}}\nwhat: {title: t}\n", "x.yaml")
    assert live.when.best_time == BestTime(86400, TimeOfDay(10, 0))


def test_fatigue_pauses_then_starts_over():
    state = UserState("u", ignored=[2, 0])
    rule = Fatigue(ignored=2, pause=3 * 86400)
    assert fatigued(state, rule, 10 * H)
    assert state.ignored == [2, 10 * H + 72 * H]
    assert fatigued(state, rule, 81 * H)
    assert not fatigued(state, rule, 82 * H) and state.ignored == []
    assert not fatigued(UserState("v", ignored=[1, 0]), rule, 0)


def test_the_chosen_hour_is_logged_for_pushcast_explain():
    from engine.core.campaigns import CampaignSet
    from engine.core.effects import Decision
    from engine.core.schedule import process_scheduled_run

    campaign = parse_campaign('campaign: digest\nwhen: {schedule: {at: "2026-12-07T09:00Z"}, best_time: {}}\n'
                              'what: {title: t}\n', "digest.yaml")
    campaigns = CampaignSet([campaign])
    state = UserState("u", profile={"tz": "Europe/Berlin"}, subscriptions={"https://x.example/s": ["k", "a"]})
    for day in (3, 4):
        record_activity(state, ms(f"2026-12-0{day}T19:20"), BERLIN, CLICK_WEIGHT)
    effects = process_scheduled_run(state, campaigns.get("digest"), "2026-12-07T09:00", ms("2026-12-07T09:00"),
                                    campaigns)
    (logged,) = [e for e in effects.items if isinstance(e, Decision)]
    assert logged.detail == "best time: best hour 20:00 in Europe/Berlin, at 2026-12-07 19:00 UTC"
    assert state.waits[0].due == ms("2026-12-07T19:00")


def simulated_digest(until: str):
    """tests/campaigns/best-time.yaml over two users: `habit` active at 19:xx UTC four
    evenings running, `newbie` with one event; both in the segment."""
    from pathlib import Path

    from engine.core import CampaignSet, Event
    from engine.testing.simulator import Simulation
    from tests.unit.core_helpers import SUBSCRIPTION

    text = (Path(__file__).parents[2] / "campaigns" / "best-time.yaml").read_text()
    start = ms("2026-12-01T00:00")
    events = [(start, Event(user, "$push_subscribe", start, SUBSCRIPTION)) for user in ("habit", "newbie")]
    for day in range(1, 5):
        for minute in (10, 40):
            at = ms(f"2026-12-0{day}T19:{minute}")
            events.append((at, Event("habit", "Page Viewed", at, {})))
    at = ms("2026-12-05T12:00")
    events += [(at, Event(user, "App Launched", at, {})) for user in ("habit", "newbie")]
    campaigns = CampaignSet([parse_campaign(text)])
    sim = Simulation(campaigns, started=start)
    sim.run(sorted(events, key=lambda pair: pair[0]), ms(until))
    return sim, campaigns


def test_how_best_time_timed_each_message_is_counted():
    """The stats count how each message was timed: a user's own hour, or the fallback."""
    from engine.shell.stats import campaign_stats, format_table

    sim, _ = simulated_digest("2026-12-09T00:00")
    stats = sim.stats["best-time"]
    assert (stats.get("best_time.best_hour"), stats.get("best_time.fallback")) == (1, 1)
    row = campaign_stats("best-time", stats)
    assert row["best_time"] == {"best_hour": 1, "fallback": 1}
    assert "timed by best_time:\n  best-time: best_hour 1\n  best-time: fallback 1" in format_table([row])


def test_reach_shows_the_hour_each_reachable_user_would_get():
    from engine.agents.reach import total
    from engine.shell.reach import count_reach_raw

    sim, campaigns = simulated_digest("2026-12-06T00:00")
    compiled = campaigns.get("best-time")
    found = count_reach_raw([s.dumps() for s in sim.states.values()], compiled, ms("2026-12-06T00:00"), campaigns)
    assert (found.reachable, found.best_hours) == (2, {"19:00": 1, "fallback": 1})
    summed = total("best-time", 0, 2, {0: {**_reply(found), "best_hours": {"19:00": 1}},
                                       1: {**_reply(found), "best_hours": {"19:00": 2, "fallback": 1}}})
    assert summed.best_hours == {"19:00": 3, "fallback": 1}
    assert total("x", 0, 1, {0: _reply(found)}).best_hours is None  # not a best-time campaign


def _reply(found) -> dict:
    from engine.agents.reach import REPLY_FIELDS

    return {name: getattr(found, name) for name in REPLY_FIELDS}
