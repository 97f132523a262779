"""Queued caps (`on_limit: queue`): a message a frequency limit holds waits until the
limits free, in priority order, at most max_delay, and is counted queued / released."""

from __future__ import annotations

from engine.core import Effects, Event, Notify, Queued, Released, Suppressed, UserState, process_event
from engine.core.state import Wait
from engine.rules.config import parse_config
from engine.shell.step import counts
from tests.unit.core_helpers import DAY, HOUR, MIN, SUBSCRIPTION, T0, campaigns, ev, simulate, subscribed

QUEUE_DAILY = parse_config("limits: {max: 1, per: 1d}\non_limit: queue\nmax_delay: 3d\n")


def live(name: str, *when_lines: str, ttl: str = "") -> str:
    when = "\nwhen:\n" + "\n".join(f"  {line}" for line in when_lines) if when_lines else ""
    what = f"what: {{title: {name}" + (f", ttl: {ttl}" if ttl else "") + "}"
    return f"campaign: {name}\nwho: {{on: {{event: {name}}}}}\n{what}{when}\n"


def sends(sim) -> list[tuple[int, str]]:
    return [(n.at - T0, n.campaign) for n in sim.notifications]


def of(sim, kind) -> list:
    return [e for e in sim.effects if isinstance(e, kind)]


def stats(sim) -> dict:
    out: dict = {}
    for campaign, stat, amount in counts(Effects(list(sim.effects))):
        out[(campaign, stat)] = out.get((campaign, stat), 0) + amount
    return out


def test_a_capped_message_goes_when_the_oldest_send_leaves_the_window():
    sim = simulate(campaigns(live("a"), config=QUEUE_DAILY),
                   subscribed() + [ev(T0 + MIN, "a"), ev(T0 + 2 * HOUR, "a")], T0 + 3 * DAY)
    assert sends(sim) == [(MIN, "a"), (DAY + MIN, "a")]
    [queued] = of(sim, Queued)
    assert (queued.at - T0, queued.until - T0, queued.since - T0) == (2 * HOUR, DAY + MIN, 2 * HOUR)
    assert stats(sim)[("a", "queued")] == stats(sim)[("a", "released")] == 1
    # The push service keeps it only for what is left of its TTL after the wait.
    assert sim.notifications[1].ttl == 28 * 86400 - (DAY + MIN - 2 * HOUR) // 1000


def test_the_default_drops_as_before():
    config = parse_config("limits: {max: 1, per: 1d}\n")
    sim = simulate(campaigns(live("a"), config=config), subscribed() + [ev(T0 + MIN, "a"), ev(T0 + 2 * HOUR, "a")],
                   T0 + 3 * DAY)
    assert sends(sim) == [(MIN, "a")]
    assert [(s.reason, s.detail) for s in of(sim, Suppressed)] == [
        ("limit", "global limit 1 per day reached (1 sent since 2026-11-24 12:00 UTC)")]
    assert not of(sim, Queued)


def test_queued_messages_freed_together_go_by_priority_one_a_day():
    campaign_set = campaigns(live("low"), live("high", "priority: 5"), live("first"), config=QUEUE_DAILY)
    events = subscribed() + [ev(T0, "first"), ev(T0 + MIN, "low"), ev(T0 + 2 * MIN, "high")]
    sim = simulate(campaign_set, events, T0 + 4 * DAY)
    # Both free at 1d; high goes first, and its send holds low a day more.
    assert sends(sim) == [(0, "first"), (DAY, "high"), (2 * DAY, "low")]
    assert stats(sim)[("low", "queued")] == 1  # held twice, one message


def test_equal_priorities_go_by_when_they_were_first_held_then_campaign():
    campaign_set = campaigns(live("b"), live("a"), live("first"), config=QUEUE_DAILY)
    sim = simulate(campaign_set, subscribed() + [ev(T0, "first"), ev(T0 + MIN, "b"), ev(T0 + 2 * MIN, "a")],
                   T0 + 4 * DAY)
    assert sends(sim) == [(0, "first"), (DAY, "b"), (2 * DAY, "a")]


def test_still_held_at_max_delay_is_suppressed_limit_saying_it_waited():
    config = parse_config("limits: {max: 1, per: 1d}\non_limit: queue\nmax_delay: 1d\n")
    campaign_set = campaigns(live("low"), live("high", "priority: 1"), live("first"), config=config)
    sim = simulate(campaign_set, subscribed() + [ev(T0, "first"), ev(T0 + MIN, "low"), ev(T0 + 2 * MIN, "high")],
                   T0 + 4 * DAY)
    assert sends(sim) == [(0, "first"), (DAY, "high")]
    [dropped] = of(sim, Suppressed)
    assert (dropped.campaign, dropped.reason, dropped.at - T0) == ("low", "limit", DAY)
    assert "queued 86340s" in dropped.detail and "after max_delay 86400s" in dropped.detail


def test_a_window_freeing_after_max_delay_suppresses_at_once():
    config = parse_config("limits: {max: 1, per: 1d}\non_limit: queue\nmax_delay: 1h\n")
    sim = simulate(campaigns(live("a"), config=config), subscribed() + [ev(T0, "a"), ev(T0 + MIN, "a")], T0 + 2 * DAY)
    assert sends(sim) == [(0, "a")]
    [dropped] = of(sim, Suppressed)
    assert dropped.at == T0 + MIN and "the limits free in 86340s, after max_delay 3600s" in dropped.detail
    assert not of(sim, Queued)


def test_the_ttl_bounds_the_wait_too():
    sim = simulate(campaigns(live("a", ttl="2h"), config=QUEUE_DAILY), subscribed() + [ev(T0, "a"), ev(T0 + MIN, "a")],
                   T0 + 2 * DAY)
    assert sends(sim) == [(0, "a")] and of(sim, Suppressed)[0].reason == "limit"


def test_the_campaign_on_limit_overrides_the_global_one():
    drop = live("a", "limits: {on_limit: drop}")
    sim = simulate(campaigns(drop, config=QUEUE_DAILY), subscribed() + [ev(T0, "a"), ev(T0 + MIN, "a")], T0 + 2 * DAY)
    assert sends(sim) == [(0, "a")]
    own = live("a", "limits: {per_user: {max: 1, per: 1h}, on_limit: queue, max_delay: 2h}")
    sim = simulate(campaigns(own), subscribed() + [ev(T0, "a"), ev(T0 + MIN, "a")], T0 + 2 * DAY)
    assert sends(sim) == [(0, "a"), (HOUR, "a")]


OWN_20H = "limits: {per_user: {max: 1, per: 20h}, on_limit: queue, max_delay: 1d}"


def test_a_release_in_quiet_hours_follows_the_dnd_rule():
    # Sent at 10:00; the next frees at 06:00 the next day, inside the 22:00-08:00 quiet hours.
    held = live("a", OWN_20H, 'dnd: {from: "22:00", to: "08:00"}')
    sim = simulate(campaigns(held), subscribed() + [ev(T0, "a"), ev(T0 + 30 * MIN, "a")], T0 + 3 * DAY)
    assert sends(sim) == [(0, "a"), (22 * HOUR, "a")]
    assert [r.at - T0 for r in of(sim, Released)] == [22 * HOUR]
    discarded = live("a", OWN_20H, 'dnd: {from: "22:00", to: "08:00", then: discard}')
    sim = simulate(campaigns(discarded), subscribed() + [ev(T0, "a"), ev(T0 + 30 * MIN, "a")], T0 + 3 * DAY)
    assert sends(sim) == [(0, "a")]
    assert [(s.reason, s.at - T0) for s in of(sim, Suppressed)] == [("dnd", 20 * HOUR)]
    assert stats(sim)[("a", "queued")] == 1 and ("a", "released") not in stats(sim)


def test_a_release_after_the_cutoff_or_the_end_is_not_sent():
    # Two hours after the 10:00 send is past the 11:00 cut-off.
    cut = live("a", "limits: {per_user: {max: 1, per: 2h}, on_limit: queue, max_delay: 1d}", 'cutoff: "11:00"')
    sim = simulate(campaigns(cut), subscribed() + [ev(T0, "a"), ev(T0 + 30 * MIN, "a")], T0 + 3 * DAY)
    assert sends(sim) == [(0, "a")]
    assert [(s.reason, s.at - T0) for s in of(sim, Suppressed)] == [("cutoff", 2 * HOUR)]
    ended = live("a", "end: 2026-11-26T09:00:00Z")
    sim = simulate(campaigns(ended, config=QUEUE_DAILY), subscribed() + [ev(T0, "a"), ev(T0 + MIN, "a")], T0 + 3 * DAY)
    assert sends(sim) == [(0, "a")] and [s.reason for s in of(sim, Suppressed)] == ["ended"]


def test_queued_waits_keep_the_older_stored_form_and_read_old_rows():
    state = UserState("u1", subscriptions={SUBSCRIPTION["endpoint"]: list(SUBSCRIPTION["keys"].values())})
    campaign_set = campaigns(live("a"), config=QUEUE_DAILY)
    process_event(state, Event("u1", "a", T0, {}), campaign_set)
    process_event(state, Event("u1", "a", T0 + MIN, {}), campaign_set)
    [row] = state.to_dict()["w"]
    assert row == ["a", "queued", T0 + DAY, row[3], "a", {}, "", True, T0 + MIN]
    assert UserState.loads(state.dumps()).waits == state.waits
    old = ["a", "deliver", T0, "m1", "a", {}, "", False]  # written before queued caps
    assert Wait.from_list(old).to_list() == old and Wait.from_list(old).held == 0
