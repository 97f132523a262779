"""Conversions: click-through and view-through, last touch, once, with revenue."""

from engine.core import Conversion, Event, Notify
from engine.core.process import process_event
from tests.unit.core_helpers import DAY, HOUR, MIN, T0, campaigns, ev, simulate, subscribed


def live(cid: str, trigger: str, conversion_within: str = "1d") -> str:
    return f"""
campaign: {cid}
name: {cid}
who: {{on: {{event: {trigger}}}}}
when: {{limits: {{ignore_global: true}}}}
what: {{title: hello}}
conversion: {{event: Charged, within: {conversion_within}, revenue: amount}}
"""


def conversions(sim):
    return [e for e in sim.effects if isinstance(e, Conversion)]


def test_a_purchase_after_delivery_is_a_view_through_conversion_with_revenue():
    sim = simulate(campaigns(live("a", "Viewed")), subscribed() + [
        ev(T0 + MIN, "Viewed"), ev(T0 + 2 * HOUR, "Charged", amount=42.5)], T0 + DAY)
    [conv] = conversions(sim)
    assert (conv.campaign, conv.kind, conv.revenue) == ("a", "view", 42.5)
    assert conv.message_id == sim.notifications[0].message_id


def test_a_click_wins_over_a_later_delivery_of_another_campaign():
    cs = campaigns(live("a", "Viewed"), live("b", "Searched"))
    sim = simulate(cs, subscribed() + [ev(T0 + MIN, "Viewed"), ev(T0 + 2 * MIN, "Searched")], T0 + 3 * MIN)
    first = next(n for n in sim.notifications if n.campaign == "a")
    state = sim.states["u1"]
    process_event(state, Event("u1", "$notification_clicked", T0 + 4 * MIN, {"message": first.message_id}), cs)
    out = process_event(state, Event("u1", "Charged", T0 + 5 * MIN, {"amount": "10"}), cs)
    [conv] = [e for e in out.items if isinstance(e, Conversion)]
    assert (conv.campaign, conv.kind, conv.revenue) == ("a", "click", 10.0)


def test_each_conversion_is_attributed_once_and_each_message_converts_once():
    sim = simulate(campaigns(live("a", "Viewed"), live("b", "Searched")), subscribed() + [
        ev(T0 + MIN, "Viewed"), ev(T0 + 2 * MIN, "Searched"),
        ev(T0 + HOUR, "Charged", amount=1), ev(T0 + 2 * HOUR, "Charged", amount=2),
        ev(T0 + 3 * HOUR, "Charged", amount=3)], T0 + DAY)
    got = conversions(sim)
    # Last touch first (b was delivered last), then a; the third purchase finds no message.
    assert [(c.campaign, c.revenue) for c in got] == [("b", 1.0), ("a", 2.0)]


def test_no_conversion_outside_the_window():
    sim = simulate(campaigns(live("a", "Viewed", "1h")), subscribed() + [
        ev(T0 + MIN, "Viewed"), ev(T0 + MIN + HOUR + 1, "Charged", amount=5)], T0 + DAY)
    assert conversions(sim) == []
    assert len([n for n in sim.notifications if isinstance(n, Notify)]) == 1
