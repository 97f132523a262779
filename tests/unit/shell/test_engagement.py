"""The engagement guard: its judgement (engine/shell/engagement.py), how the core applies
it (engine/core/guard.py), its config and how stats show it."""

from __future__ import annotations

import pytest

from engine.core import Notify, Suppressed, UserState
from engine.core.guard import SITE, Verdict, stopped_by
from engine.rules.config import parse_config
from engine.rules.errors import ConfigError
from engine.rules.model import Engagement
from engine.shell import engagement
from engine.shell.series import HOUR_MS
from engine.shell.stats import campaign_stats, format_table
from engine.shell.step import apply
from engine.shell.winners import with_judgements
from tests.unit.core_helpers import HOUR, T0, campaigns, ev, simulate, subscribed

PING = "campaign: ping\nwho: {on: Ping}\nwhat: {title: Ping}\n"
OTHER = "campaign: other\nwho: {on: Pong}\nwhat: {title: Pong}\n"
RULE = Engagement(min_click_rate=0.1, window=24 * 3600, action="throttle", min_sends=10, throttle=0.25)


def hours(sent: dict[int, int], clicked: dict[int, int] | None = None) -> dict[str, float]:
    """Stats with these sends and clicks per epoch hour."""
    stats = {f"hour.sent.{h}": float(n) for h, n in sent.items()}
    stats.update({f"hour.clicked.{h}": float(n) for h, n in (clicked or {}).items()})
    return stats


def test_the_window_counts_whole_hours_up_to_now():
    now = 1000 * HOUR_MS + 5
    stats = hours({975: 50, 976: 1, 1000: 2}, {976: 1, 1000: 1})
    assert engagement.window_counts(stats, now, 24 * 3600) == (2, 1)  # hours 977..1000: 976 is out
    assert engagement.window_counts(stats, now, 25 * 3600) == (3, 2)
    assert engagement.window_counts(stats, now, 26 * 3600) == (53, 2)


def test_a_campaign_below_the_floor_is_held_and_the_site_with_it():
    two = campaigns(PING, OTHER)
    stats = {"ping": hours({100: 40}, {100: 1}), "other": hours({100: 40}, {100: 12})}
    guard = engagement.assess(RULE, two, lambda c: stats.get(c, {}), 101 * HOUR_MS, {})
    assert set(guard) == {"ping"}  # the site: 13 clicks / 80 sends is above 10%
    verdict = guard["ping"]
    assert (verdict.action, verdict.share, verdict.sends, verdict.clicks) == ("throttle", 0.25, 40, 1)
    assert "campaign ping's click rate 2.5% (1 clicks / 40 sends in the last 1d) is below 10.0%" in verdict.detail
    stats["other"] = hours({100: 40}, {100: 2})
    guard = engagement.assess(RULE, two, lambda c: stats.get(c, {}), 101 * HOUR_MS, guard)
    assert set(guard) == {"ping", "other", SITE}


def test_too_few_sends_judge_nothing_and_a_verdict_keeps_its_start():
    one = campaigns(PING)
    few = {"ping": hours({100: 9})}
    assert engagement.assess(RULE, one, lambda c: few.get(c, {}), 101 * HOUR_MS, {}) == {}
    many = {"ping": hours({100: 10})}
    first = engagement.assess(RULE, one, lambda c: many.get(c, {}), 101 * HOUR_MS, {})
    later = engagement.assess(RULE, one, lambda c: many.get(c, {}), 102 * HOUR_MS, first)
    assert first["ping"].since == later["ping"].since == 101 * HOUR_MS
    assert engagement.same(first, later)
    lifted = engagement.assess(RULE, one, lambda c: many.get(c, {}), 125 * HOUR_MS, later)  # the window slid past
    assert lifted == {}
    assert engagement.changes(later, lifted) == [
        "engagement guard: the site's throttle lifted (back at the floor, or fewer sends in the window than "
        "min_sends)",
        "engagement guard: campaign ping's throttle lifted (back at the floor, or fewer sends in the window than "
        "min_sends)"]
    assert engagement.assess(None, one, lambda c: many.get(c, {}), 101 * HOUR_MS, {}) == {}


def test_verdicts_survive_their_stored_form():
    one = campaigns(PING)
    stats = {"ping": hours({100: 40})}
    guard = engagement.assess(RULE, one, lambda c: stats.get(c, {}), 101 * HOUR_MS, {})
    at, back = engagement.loads(engagement.dumps(guard, 7))
    assert (at, back) == (7, guard)


def verdict(scope: str, action: str, share: float = 0.0) -> Verdict:
    return Verdict(scope, action, share, 0, 100, 1, f"{scope} held")


def test_a_throttle_lets_its_share_through_the_same_way_every_time():
    guard = {"ping": verdict("ping", "throttle", 0.25)}
    ids = [f"m{i}" for i in range(4000)]
    through = [m for m in ids if stopped_by(guard, "ping", m) is None]
    assert 900 < len(through) < 1100
    assert through == [m for m in ids if stopped_by(guard, "ping", m) is None]
    assert all(stopped_by(guard, "other", m) is None for m in ids)  # another campaign is not held


def test_a_site_pause_holds_every_campaign():
    guard = {SITE: verdict(SITE, "pause")}
    assert stopped_by(guard, "ping", "m1").scope == SITE
    assert stopped_by(guard, "other", "m2").scope == SITE


def test_the_core_suppresses_held_messages_but_not_test_profiles():
    base = campaigns(PING)
    held = with_judgements(base, {}, {"ping": verdict("ping", "pause")})
    effects = []
    for user, profile in (("u1", {}), ("qa", {"test": True})):
        state = UserState(user)
        for at, event in subscribed(user, **profile) + [ev(T0 + HOUR, "Ping", user)]:
            effects += apply(state, event, at, held)[0].items
    assert [n.user for n in effects if isinstance(n, Notify)] == ["qa"]
    suppressed = [e for e in effects if isinstance(e, Suppressed)]
    assert [(e.user, e.reason, e.detail) for e in suppressed] == [("u1", "engagement", "ping held")]
    assert base.guard == {}  # the caller's set is never changed


def test_the_simulator_pauses_a_campaign_nobody_clicks():
    config = parse_config("engagement: {min_click_rate: 0.5, window: 1d, min_sends: 2, action: pause}\n")
    events = [e for u in ("a", "b", "c") for e in subscribed(u)]
    events += [ev(T0 + HOUR, "Ping", "a"), ev(T0 + 2 * HOUR, "Ping", "b"), ev(T0 + 3 * HOUR, "Ping", "c")]
    sim = simulate(campaigns(PING, config=config), events, T0 + 4 * HOUR)
    assert [n.user for n in sim.notifications] == ["a", "b"]
    assert sim.guard["ping"].action == "pause"


@pytest.mark.parametrize("text, message", [
    ("engagement: {min_click_rate: 2, window: 1d}", "engagement.min_click_rate: must be above 0 and below 1"),
    ("engagement: {min_click_rate: 0.02, window: 90m}", "engagement.window: must be whole hours"),
    ("engagement: {min_click_rate: 0.02, window: 1d, action: stop}", "engagement.action: expected one of"),
    ("engagement: {min_click_rate: 0.02}", 'missing required key "window"'),
    ("engagement: {min_click_rate: 0.02, window: 1d, throttle: 0}", "engagement.throttle: must be above 0"),
])
def test_bad_guard_settings_name_the_field(text, message):
    with pytest.raises(ConfigError) as error:
        parse_config(text + "\n")
    assert message in str(error.value)


def test_config_defaults():
    config = parse_config("engagement: {min_click_rate: 0.02, window: 7d}\n")
    assert config.engagement == Engagement(0.02, 7 * 86400, "throttle", 200, 0.25)


def test_stats_show_the_verdict_holding_a_campaign():
    guard = {SITE: verdict(SITE, "pause")}
    shown = engagement.as_stats(guard, "ping")
    assert shown["scope"] == "site" and shown["action"] == "pause"
    row = campaign_stats("ping", {"sent": 3}, None, shown)
    assert row["engagement"] == shown
    assert "engagement guard:\n  ping: * held (since 1970-01-01T00:00:00.000Z)" in format_table([row])
    assert campaign_stats("ping", {})["engagement"] is None
