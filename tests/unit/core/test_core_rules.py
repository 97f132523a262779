"""Rules of the core that the campaign test files do not show directly."""

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from engine.core import Event, Notify, Suppressed, UserState, Wake
from engine.core.process import process_event, process_wake
from engine.rules.model import FrequencyLimit, GlobalConfig
from tests.unit.core_helpers import DAY, HOUR, MIN, T0, campaigns, ev, simulate, subscribed


def utc_ms(*args) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp() * 1000)


CART = """
campaign: cart
name: cart
status: {status}
who:
  on: {{event: Added To Cart}}
  unless: {{event: Charged, within: 10m, match: [cart_id]}}
when: {when}
what: {{title: "{{{{ event.product }}}}", url: "https://s.example/c/{{{{ event.cart_id }}}}"}}
"""


def cart(status="active", when="{}"):
    return CART.format(status=status, when=when)


def suppressed(sim):
    return [(e.reason, e.detail) for e in sim.effects if isinstance(e, Suppressed)]


def test_replaying_the_same_input_gives_the_same_message_ids():
    events = subscribed() + [ev(T0 + MIN, "Added To Cart", cart_id="c1", product="P")]
    first = simulate(campaigns(cart()), events, T0 + DAY).notifications
    second = simulate(campaigns(cart()), events, T0 + DAY).notifications
    assert [n.message_id for n in first] == [n.message_id for n in second]
    assert len(first[0].message_id) == 22


def test_a_message_goes_to_each_subscription_and_unsubscribed_ones_are_dropped():
    other = {"endpoint": "https://updates.push.services.mozilla.com/wpush/v2/x",
             "keys": {"p256dh": "BCVx", "auth": "BTBZ"}}
    events = subscribed() + [
        ev(T0, "$push_subscribe", **other),
        ev(T0 + MIN, "Added To Cart", cart_id="c1", product="P"),
        ev(T0 + HOUR, "$push_unsubscribe", endpoint=other["endpoint"]),
        ev(T0 + HOUR + MIN, "Added To Cart", cart_id="c2", product="Q"),
    ]
    notes = simulate(campaigns(cart()), events, T0 + DAY).notifications
    assert [len(n.subscriptions) for n in notes] == [2, 1]


def test_a_late_purchase_does_not_cancel_a_reminder_that_was_already_due():
    cs = campaigns(cart())
    state = UserState("u1")
    for _, event in subscribed():
        process_event(state, event, cs)
    process_event(state, Event("u1", "Added To Cart", T0, {"cart_id": "c1", "product": "P"}), cs)
    # No timer ran (a slow runtime); the purchase at 15m arrives first.
    out = process_event(state, Event("u1", "Charged", T0 + 15 * MIN, {"cart_id": "c1"}), cs)
    [note] = [e for e in out.items if isinstance(e, Notify)]
    assert note.at == T0 + 10 * MIN


def test_wake_effect_points_at_the_earliest_wait():
    cs = campaigns(cart())
    state = UserState("u1")
    out = process_event(state, Event("u1", "Added To Cart", T0, {"cart_id": "c1", "product": "P"}), cs)
    assert Wake("u1", T0 + 10 * MIN) in out.items
    out = process_event(state, Event("u1", "Added To Cart", T0 + MIN, {"cart_id": "c2", "product": "P"}), cs)
    assert not [e for e in out.items if isinstance(e, Wake)]  # the earliest is unchanged
    out = process_wake(state, T0 + 10 * MIN, cs)
    assert Wake("u1", T0 + 11 * MIN) in out.items


def test_state_survives_serialisation_with_the_same_decisions():
    cs = campaigns(cart())
    state = UserState("u1")
    for _, event in subscribed():
        process_event(state, event, cs)
    process_event(state, Event("u1", "Added To Cart", T0, {"cart_id": "c1", "product": "P"}), cs)
    restored = UserState.loads(state.dumps())
    a = process_wake(state, T0 + 10 * MIN, cs).items
    b = process_wake(restored, T0 + 10 * MIN, cs).items
    assert a == b and any(isinstance(e, Notify) for e in a)


def test_paused_campaigns_do_not_trigger():
    sim = simulate(campaigns(cart(status="paused")), subscribed() + [
        ev(T0 + MIN, "Added To Cart", cart_id="c1", product="P")], T0 + DAY)
    assert sim.notifications == []
    assert [(e.kind, e.reason, e.detail) for e in sim.effects] == [("not_qualified", "paused", "campaign paused")]


def test_start_and_end_bound_the_triggers_and_the_sends():
    when = "{start: 2026-11-25T10:05:00Z, end: 2026-11-25T10:20:00Z}"
    sim = simulate(campaigns(cart(when=when)), subscribed() + [
        ev(T0 + MIN, "Added To Cart", cart_id="before", product="P"),
        ev(T0 + 6 * MIN, "Added To Cart", cart_id="inside", product="P"),
        ev(T0 + 12 * MIN, "Added To Cart", cart_id="ends", product="P"),
    ], T0 + DAY)
    assert [n.payload["url"] for n in sim.notifications] == ["https://s.example/c/inside"]
    assert suppressed(sim) == [("ended", "campaign ended 2026-11-25 10:20 UTC")]


def test_dnd_discard_drops_the_message_with_a_reason():
    when = '{dnd: {from: "09:00", to: "18:00", then: discard}}'
    sim = simulate(campaigns(cart(when=when)), subscribed() + [
        ev(T0 + MIN, "Added To Cart", cart_id="c1", product="P")], T0 + DAY)
    assert sim.notifications == []
    assert suppressed(sim)[0][0] == "dnd"


def test_limits_are_rechecked_when_a_dnd_hold_ends():
    config = GlobalConfig(limits=(FrequencyLimit(1, 86400),))
    when = '{dnd: {from: "10:00", to: "12:00", then: delay}}'
    other = """
campaign: other
name: other
who: {on: {event: Searched}}
what: {title: hi}
"""
    sim = simulate(campaigns(cart(when=when), other, config=config), subscribed() + [
        ev(T0 + MIN, "Added To Cart", cart_id="c1", product="P"),  # held until 12:00
        ev(T0 + HOUR, "Searched"),  # 11:00: sent, uses the day's only push
    ], T0 + DAY)
    assert [n.campaign for n in sim.notifications] == ["other"]
    assert suppressed(sim) == [("limit", "global limit 1 per day reached (1 sent since 2026-11-24 12:00 UTC)")]


def test_ignore_global_skips_global_limits_but_not_its_own_cap():
    config = GlobalConfig(limits=(FrequencyLimit(1, 86400),), min_gap=3600)
    when = "{limits: {ignore_global: true, per_user: {max: 2, per: 1d}}}"
    sim = simulate(campaigns(cart(when=when), config=config), subscribed() + [
        ev(T0 + i * MIN, "Added To Cart", cart_id=f"c{i}", product="P") for i in range(3)
    ], T0 + DAY)
    assert len(sim.notifications) == 2
    assert suppressed(sim) == [("limit", "campaign limit 2 per day reached (2 sent since 2026-11-24 10:12 UTC)")]


def test_a_missing_value_without_default_is_a_render_error_not_a_crash():
    sim = simulate(campaigns(cart()), subscribed() + [ev(T0 + MIN, "Added To Cart", cart_id="c1")], T0 + DAY)
    assert sim.notifications == []
    [(reason, detail)] = suppressed(sim)
    assert reason == "render_error" and "event.product" in detail


def test_dnd_delay_across_the_spring_dst_change_ends_at_local_nine():
    # New York springs forward on 2026-03-08 at 02:00: 09:00 local is 13:00Z that day.
    when = '{dnd: {from: "21:00", to: "09:00", then: delay}}'
    start = utc_ms(2026, 3, 8, 5, 0)  # 00:00 EST
    sim = simulate(campaigns(cart(when=when)), subscribed(at_ms=start, tz="America/New_York") + [
        ev(start + MIN, "Added To Cart", cart_id="c1", product="P")], start + DAY)
    [note] = sim.notifications
    assert note.at == utc_ms(2026, 3, 8, 13, 0)


def test_date_reminder_keeps_local_time_across_the_autumn_dst_change():
    flight = """
campaign: flight
name: flight
who: {on: {event: Booked, date: departure, offset: -1d, at: "09:00"}}
what: {title: tomorrow}
"""
    # Berlin falls back on 2026-10-25: 09:00 on the 25th is 08:00Z, on the 24th 07:00Z.
    start = utc_ms(2026, 10, 20, 12, 0)
    sim = simulate(campaigns(flight), subscribed(at_ms=start, tz="Europe/Berlin") + [
        ev(start + MIN, "Booked", departure="2026-10-26T10:00:00+01:00"),
        ev(start + 2 * MIN, "Booked", departure="2026-10-25T10:00:00+02:00"),
    ], start + 10 * DAY)
    got = sorted(n.at for n in sim.notifications)
    assert got == [utc_ms(2026, 10, 24, 7, 0), utc_ms(2026, 10, 25, 8, 0)]
    for at in got:
        assert datetime.fromtimestamp(at / 1000, ZoneInfo("Europe/Berlin")).hour == 9


def test_aggregates_no_campaign_reads_are_dropped_after_a_reload():
    viewed = """
campaign: views
name: views
who:
  on: {event: Checkout}
  segment: {did: Viewed, at_least: 2, in_last: 1d}
what: {title: hi}
"""
    searched = viewed.replace("views", "searches").replace("did: Viewed", "did: Searched")
    state = UserState("u1")
    before = campaigns(viewed)
    process_event(state, Event("u1", "Viewed", T0, {}), before)
    assert len(state.counters) == 1
    after = campaigns(searched)
    process_event(state, Event("u1", "Searched", T0 + MIN, {}), after)
    assert list(state.counters) == list(after.counters)


def test_each_send_is_kept_only_as_long_as_something_reads_it():
    config = GlobalConfig(limits=(FrequencyLimit(3, 86400),))
    monthly = """
campaign: monthly
name: monthly
who: {on: {event: Joined}}
when: {limits: {per_user: {max: 1, per: 4w}}}
what: {title: hi}
"""
    daily = monthly.replace("monthly", "daily").replace("Joined", "Searched").replace("per: 4w", "per: 1h")
    sim = simulate(campaigns(monthly, daily, config=config), subscribed() + [
        ev(T0, "Joined"), ev(T0 + MIN, "Searched"), ev(T0 + 2 * DAY, "Searched")], T0 + 3 * DAY)
    # Two days on, the daily campaign's first send is past every window that reads it; the
    # monthly one is still read by its own 4-week cap.
    assert [s.campaign for s in sim.states["u1"].sent] == ["monthly", "daily"]
    assert sim.states["u1"].sent[1].at == T0 + 2 * DAY
