"""The decision log: every decision the core makes about a user, its reason and rule in
words, kept bounded in the user's state, identical however it is replayed."""

import gc

from engine.core import Event, UserState
from engine.core.decisions import Entry, entries, remember, row_of
from engine.core.effects import Decision, Effects, Notify, Suppressed
from engine.rules.model import DoNotDisturb, FrequencyLimit, GlobalConfig, TimeOfDay
from engine.shell.explain import describe, explain_lines, explain_state, format_entry
from engine.shell.inputs import WakeUp
from engine.shell.step import apply
from tests.unit.core_helpers import DAY, HOUR, MIN, T0, campaigns, ev, simulate, subscribed

CART = """
campaign: cart
name: cart
who:
  on: {event: Added To Cart}
  unless: {event: Charged, within: 10m, match: [cart_id]}
  segment: {all: [{did: Product Viewed, at_least: 2, in_last: 7d}, {profile: {vip: true}}]}
when: {when}
what: {title: "Your cart"}
conversion: {event: Charged, within: 1d, revenue: amount}
"""


def cart(when="{}", segment=True):
    text = CART.replace("{when}", when)
    return text if segment else text.replace("  segment:", "  # segment:")


def log_of(sim, user="u1", campaign=None):
    return [(e.decision, e.reason, e.detail) for e in entries(sim.states[user], campaign, sim.campaigns)]


def test_a_failing_segment_names_the_condition_that_failed():
    sim = simulate(campaigns(cart()), subscribed(vip=True) + [
        ev(T0 + MIN, "Product Viewed"),
        ev(T0 + 2 * MIN, "Added To Cart", cart_id="c1"),
    ], T0 + DAY)
    assert log_of(sim) == [("not_qualified", "segment",
                            "segment.all[0].did: Product Viewed 1 time in the last 7d, needs at least 2")]


def test_a_failing_profile_condition_names_the_property_and_its_value():
    sim = simulate(campaigns(cart()), subscribed(vip=False) + [
        ev(T0 + MIN, "Product Viewed"), ev(T0 + 2 * MIN, "Product Viewed"),
        ev(T0 + 3 * MIN, "Added To Cart", cart_id="c1"),
    ], T0 + DAY)
    assert log_of(sim) == [("not_qualified", "segment", "segment.all[1].profile.vip: is False, needs eq True")]


def test_a_failed_segment_is_stored_as_the_conditions_place_and_what_the_state_showed():
    sim = simulate(campaigns(cart()), subscribed(vip=False) + [
        ev(T0 + MIN, "Product Viewed"), ev(T0 + 2 * MIN, "Product Viewed"),
        ev(T0 + 3 * MIN, "Added To Cart", cart_id="c1"),
    ], T0 + DAY)
    assert sim.states["u1"].decisions == [(T0 + 3 * MIN, "cart", "n", "1", False)]
    stored = UserState.loads(sim.states["u1"].dumps())
    # Without the campaign loaded (or changed since) it still says where and what was seen.
    assert [e.detail for e in entries(stored)] == ["segment.all[1] failed (the campaign is not loaded; seen [False])"]
    changed = campaigns(cart().replace("{profile: {vip: true}}", "{did: Charged, in_last: 1d}, {profile: {vip: true}}"))
    assert [e.detail for e in entries(stored, None, changed)] == [
        "segment.all[1] failed (the campaign has changed since; seen [False])"]
    gone = campaigns(cart().replace("segment: {all: [", "segment: {any: ["))
    assert [e.detail for e in entries(stored, None, gone)] == [
        "segment.all[1] failed (the campaign has changed since; seen [False])"]


def test_a_wait_is_stored_as_its_kind_and_due_time_and_worded_when_read():
    sim = simulate(campaigns(cart(segment=False)), subscribed() + [ev(T0 + MIN, "Added To Cart", cart_id="c1")],
                   T0 + 5 * MIN)
    assert sim.states["u1"].decisions == [(T0 + MIN, "cart", "w", "u", T0 + 11 * MIN)]
    assert [e.detail for e in entries(sim.states["u1"])] == [
        "waiting until 2026-11-25 10:11 UTC unless its unless event comes"]


def test_rows_stored_with_words_before_still_read_as_they_were():
    state = UserState("u1", decisions=[[T0, "cart", "N", "segment", "segment.all[0].did: Product Viewed 1 time "
                                        "in the last 7d, needs at least 2"],
                                       [T0, "cart", "W", "waiting until 2026-11-25 10:11 UTC unless Charged comes"]])
    assert explain_state(state, "u1", None, campaigns(cart())) == [
        "2026-11-25 10:00 UTC  cart  did not qualify: segment.all[0].did: Product Viewed 1 time in the last 7d, "
        "needs at least 2",
        "2026-11-25 10:00 UTC  cart  qualified, waiting until 2026-11-25 10:11 UTC unless Charged comes"]


def test_any_and_not_are_worded_from_the_stored_values_as_they_were_seen():
    segment = ("{any: [{all: [{profile: {plan: pro}}, {did: Product Viewed, at_least: 2, in_last: 7d}]},"
               " {not: {did: Charged, in_last: 1d}}]}")
    sim = simulate(campaigns(cart().replace(
        "{all: [{did: Product Viewed, at_least: 2, in_last: 7d}, {profile: {vip: true}}]}", segment)),
        subscribed(plan="pro") + [ev(T0 + MIN, "Charged", cart_id="x"), ev(T0 + 2 * MIN, "Product Viewed"),
                                  ev(T0 + 3 * MIN, "Added To Cart", cart_id="c1")], T0 + DAY)
    assert sim.states["u1"].decisions[-1] == (T0 + 3 * MIN, "cart", "n", "", "pro", 1, 1)
    assert log_of(sim)[-1] == ("not_qualified", "segment",
                               "none of these holds: segment.any[0].all[1].did: Product Viewed 1 time in the last "
                               "7d, needs at least 2; segment.any[1].not: holds but must not (Charged 1 time in the "
                               "last 1d)")


def test_wait_send_and_conversion_are_logged_with_their_details():
    sim = simulate(campaigns(cart(segment=False)), subscribed() + [
        ev(T0 + MIN, "Added To Cart", cart_id="c1"),
        ev(T0 + HOUR, "Charged", cart_id="c1", amount=12.5),
    ], T0 + DAY)
    assert log_of(sim) == [
        ("waiting", "", "waiting until 2026-11-25 10:11 UTC unless Charged comes"),
        ("sent", "", ""),
        ("converted", "view", ""),
    ]
    assert [e.subscriptions for e in entries(sim.states["u1"])][1] == 1
    assert entries(sim.states["u1"])[2].revenue == 12.5


def test_the_unless_event_cancelling_a_wait_is_logged():
    sim = simulate(campaigns(cart(segment=False)), subscribed() + [
        ev(T0 + MIN, "Added To Cart", cart_id="c1"),
        ev(T0 + 5 * MIN, "Charged", cart_id="c1"),
    ], T0 + DAY)
    assert log_of(sim)[-1] == ("cancelled", "", "Charged came for the same cart_id")


def test_limits_name_the_window_the_max_and_what_was_sent():
    config = GlobalConfig(limits=(FrequencyLimit(1, 86400),))
    sim = simulate(campaigns(cart(segment=False), config=config), subscribed() + [
        ev(T0 + MIN, "Added To Cart", cart_id="c1"),
        ev(T0 + 2 * MIN, "Added To Cart", cart_id="c2"),
    ], T0 + DAY)
    assert log_of(sim)[-1] == ("suppressed", "limit",
                               "global limit 1 per day reached (1 sent since 2026-11-24 10:12 UTC)")


def test_min_gap_and_the_campaign_cap_say_which_rule_stopped_the_send():
    gap = simulate(campaigns(cart(segment=False), config=GlobalConfig(min_gap=3600)), subscribed() + [
        ev(T0 + MIN, "Added To Cart", cart_id="c1"), ev(T0 + 2 * MIN, "Added To Cart", cart_id="c2"),
    ], T0 + DAY)
    assert log_of(gap)[-1] == ("suppressed", "limit", "global min_gap 1h not over (last sent 2026-11-25 10:11 UTC)")
    capped = simulate(campaigns(cart("{limits: {per_user: {max: 1, per: 7d}}}", segment=False)), subscribed() + [
        ev(T0 + MIN, "Added To Cart", cart_id="c1"), ev(T0 + 2 * MIN, "Added To Cart", cart_id="c2"),
    ], T0 + DAY)
    assert log_of(capped)[-1] == ("suppressed", "limit",
                                  "campaign limit 1 per week reached (1 sent since 2026-11-18 10:12 UTC)")


def test_dnd_hold_and_discard_name_the_hours_the_zone_and_whose_they_are():
    config = GlobalConfig(dnd=DoNotDisturb(TimeOfDay(9, 0), TimeOfDay(18, 0)))
    held = simulate(campaigns(cart(segment=False), config=config), subscribed(tz="Europe/Berlin") + [
        ev(T0 + MIN, "Added To Cart", cart_id="c1")], T0 + DAY)
    assert log_of(held)[1] == ("held", "", "by global do-not-disturb 09:00-18:00 Europe/Berlin "
                                           "until 2026-11-25 17:00 UTC")
    when = '{dnd: {from: "09:00", to: "18:00", then: discard}}'
    dropped = simulate(campaigns(cart(when, segment=False)), subscribed() + [
        ev(T0 + MIN, "Added To Cart", cart_id="c1")], T0 + DAY)
    assert log_of(dropped)[-1] == ("suppressed", "dnd", "discarded in campaign do-not-disturb 09:00-18:00 UTC")


def test_cutoff_date_passed_paused_and_no_subscription_are_logged():
    cut = simulate(campaigns(cart('{cutoff: "10:05"}', segment=False)), subscribed() + [
        ev(T0 + MIN, "Added To Cart", cart_id="c1")], T0 + DAY)
    assert log_of(cut)[-1] == ("suppressed", "cutoff", "after the 10:05 cut-off (UTC time)")
    nosub = simulate(campaigns(cart(segment=False)), [ev(T0 + MIN, "Added To Cart", cart_id="c1")], T0 + DAY)
    assert log_of(nosub)[-1] == ("suppressed", "no_subscription", "")
    paused = simulate(campaigns(cart(segment=False).replace("name: cart", "name: cart\nstatus: paused")),
                      subscribed() + [ev(T0 + MIN, "Added To Cart", cart_id="c1")], T0 + DAY)
    assert log_of(paused) == [("not_qualified", "paused", "campaign paused")]
    flight = """
campaign: flight
name: flight
who: {on: {event: Booked, date: departure, offset: -1d}}
what: {title: Soon}
"""
    passed = simulate(campaigns(flight), subscribed() + [
        ev(T0 + MIN, "Booked", departure="2026-11-25T12:00:00Z")], T0 + DAY)
    assert log_of(passed) == [("suppressed", "date_passed",
                               "the reminder time 2026-11-24 12:00 UTC already passed")]


def test_a_failed_delivery_is_logged_for_the_message_it_was_about():
    cs = campaigns(cart(segment=False))
    state = UserState("u1")
    for _, event in subscribed():
        apply(state, event, T0, cs)
    apply(state, Event("u1", "Added To Cart", T0, {"cart_id": "c1"}), T0, cs)
    effects, _ = apply(state, WakeUp("u1", T0 + 10 * MIN), T0 + 10 * MIN, cs)
    message = next(e for e in effects.items if isinstance(e, Notify)).message_id
    apply(state, Event("u1", "$notification_failed", T0 + 11 * MIN,
                       {"message": message, "status": 410, "reason": "Gone"}), T0 + 11 * MIN, cs)
    apply(state, Event("u1", "$notification_failed", T0 + 11 * MIN, {"message": "not-ours", "status": 500}),
          T0 + 11 * MIN, cs)
    assert [(e.decision, e.detail) for e in entries(state)][-1] == ("failed", "410 Gone")
    assert len(state.decisions) == 3


def test_the_log_keeps_the_last_n_and_survives_the_stored_form():
    state = UserState("u1")
    for i in range(7):
        remember(state, Effects([Suppressed("c", "u1", T0 + i, "limit", f"m{i}", f"d{i}")]), keep=5)
    assert [e.detail for e in entries(state)] == ["d2", "d3", "d4", "d5", "d6"]
    assert UserState.loads(state.dumps()).decisions == [list(row) for row in state.decisions]
    remember(state, Effects([Decision("c", "u1", T0, "held", "x")]), keep=0)
    assert state.decisions == [] and "d" not in state.to_dict()


def test_only_the_users_own_decisions_and_not_qualified_alone_are_logged():
    state = UserState("u1")
    remember(state, Effects([Suppressed("c", "someone-else", T0, "limit", "m", "x")]))
    assert state.decisions == []
    assert row_of(Notify("m", "c", "u1", T0, {}, (), 60)) == (T0, "c", "S", 0)


def test_log_rows_are_left_alone_by_the_garbage_collector():
    # A busy user keeps ~20 rows: tracked, every collection would walk them all.
    state = UserState("u1")
    remember(state, Effects([Suppressed("c", "u1", T0, "limit", "m", "3 per day"),
                             Notify("m", "c", "u1", T0, {}, (), 60)]))
    gc.collect()
    assert len(state.decisions) == 2 and not any(gc.is_tracked(row) for row in state.decisions)


def test_decision_log_size_comes_from_the_config_and_every_replay_keeps_the_same_log():
    config = GlobalConfig(decision_log=2)
    events = subscribed() + [ev(T0 + i * HOUR, "Added To Cart", cart_id=f"c{i}") for i in range(1, 4)]
    first = simulate(campaigns(cart(segment=False), config=config), events, T0 + DAY)
    again = simulate(campaigns(cart(segment=False), config=config), events, T0 + DAY)
    assert len(first.states["u1"].decisions) == 2
    assert first.states["u1"].decisions == again.states["u1"].decisions


def test_explain_lines_read_like_sentences():
    entry = Entry(T0, "cart-reminder", "suppressed", "limit",
                  "global limit 3 per day reached (3 sent since 2026-11-24 10:00 UTC)")
    assert format_entry(entry) == ("2026-11-25 10:00 UTC  cart-reminder  not sent: global limit 3 per day "
                                   "reached (3 sent since 2026-11-24 10:00 UTC)")
    assert describe(Entry(T0, "c", "sent", subscriptions=2)) == "sent to 2 subscriptions"
    assert describe(Entry(T0, "c", "suppressed", "no_subscription")) == "not sent: no push subscription"
    assert describe(Entry(T0, "c", "converted", "click", revenue=9.5)) == "converted after a click, revenue 9.5"
    assert describe(Entry(T0, "c", "held", detail="by x until y")) == "held by x until y"
    assert explain_lines([], "u9", "cart") == ["no decisions about campaign cart logged for user u9"]
    assert explain_state(None, "u9") == ["no decisions logged for user u9"]


def test_start_end_delay_and_a_date_that_is_not_one_are_logged_in_words():
    when = "{start: 2026-11-25T10:05:00Z, end: 2026-11-25T10:20:00Z, delay: 2m}"
    sim = simulate(campaigns(cart(when, segment=False)), subscribed() + [
        ev(T0 + MIN, "Added To Cart", cart_id="early"),
        ev(T0 + 30 * MIN, "Added To Cart", cart_id="late"),
    ], T0 + DAY)
    assert log_of(sim) == [("not_qualified", "not_started", "campaign starts 2026-11-25 10:05 UTC"),
                           ("not_qualified", "ended", "campaign ended 2026-11-25 10:20 UTC")]
    delayed = simulate(campaigns(cart("{delay: 2m}", segment=False).replace(
        "  unless: {event: Charged, within: 10m, match: [cart_id]}\n", "")), subscribed() + [
        ev(T0 + MIN, "Added To Cart", cart_id="c1")], T0 + DAY)
    assert log_of(delayed)[0] == ("waiting", "", "delayed until 2026-11-25 10:03 UTC")
    flight = """
campaign: flight
name: flight
who: {on: {event: Booked, date: departure, offset: -1d}}
what: {title: Soon}
"""
    bad = simulate(campaigns(flight), subscribed() + [ev(T0 + MIN, "Booked", departure="soon")], T0 + DAY)
    assert log_of(bad) == [("suppressed", "invalid_date", "event property 'departure' is not a date: 'soon'")]
    due = simulate(campaigns(flight), subscribed() + [ev(T0 + MIN, "Booked", departure="2026-11-28T12:00:00Z")],
                   T0 + DAY)
    assert log_of(due) == [("waiting", "", "reminder due 2026-11-27 12:00 UTC")]
    assert describe(entries(due.states["u1"])[0]) == "qualified, reminder due 2026-11-27 12:00 UTC"
