"""A/B variants in the core: the stable draw, pins, winners, the control holdout,
partial variants, and what the effects and the send history carry."""

from collections import Counter

from engine.core import Conversion, Qualified, Suppressed
from engine.core.state import Sent
from engine.core.variants import PIN_PROPERTY, assign, drawn, point
from tests.unit.core_helpers import DAY, HOUR, MIN, T0, campaigns, ev, simulate, subscribed

AB = """
campaign: ab
who: {on: {event: Viewed}}
when: {limits: {per_user: [{max: 1, per: 1d}]}}
what:
  title: "Hello {{ profile.name | default: 'you' }}"
  url: https://shop.example/
  variants:
    - {name: a, weight: 3}
    - {name: b, title: Bonjour, urgency: high}
  control: {name: holdout, weight: 1}
conversion: {event: Charged, within: 1d, revenue: amount}
"""


def the(campaign_set):
    return campaign_set.get("ab").campaign


def test_the_draw_is_a_fixed_hash_of_campaign_and_user():
    # blake2b-64 of "ab\x1fu1": the same in every process, runtime and restart.
    assert point("ab", "u1") == int.from_bytes(
        __import__("hashlib").blake2b(b"ab\x1fu1", digest_size=8).digest(), "big") / 2**64
    assert point("ab", "u1") != point("ab2", "u1")
    campaign = the(campaigns(AB))
    assert [drawn(campaign, f"u{i}") for i in range(200)] == [drawn(campaign, f"u{i}") for i in range(200)]


def test_the_weights_split_the_users():
    campaign = the(campaigns(AB))
    split = Counter(drawn(campaign, f"user-{i}") for i in range(20000))
    assert abs(split["a"] / 20000 - 3 / 5) < 0.02
    assert abs(split["b"] / 20000 - 1 / 5) < 0.02
    assert abs(split["holdout"] / 20000 - 1 / 5) < 0.02


def test_a_pin_comes_first_then_the_winner_takes_everyone_but_the_control():
    campaign = the(campaigns(AB))
    users = [f"u{i}" for i in range(60)]
    assert assign(campaign, "u1", {PIN_PROPERTY: {"ab": "b"}}, {"ab": "a"}) == "b"
    assert assign(campaign, "u1", {PIN_PROPERTY: {"ab": "nope"}}, {}) == drawn(campaign, "u1")
    won = {u: assign(campaign, u, {}, {"ab": "b"}) for u in users}
    assert {won[u] for u in users if drawn(campaign, u) != "holdout"} == {"b"}
    assert all(won[u] == "holdout" for u in users if drawn(campaign, u) == "holdout")
    assert assign(campaign, "u1", {}, {"ab": "removed-variant"}) == drawn(campaign, "u1")


def _user_drawn(campaign, arm):
    return next(f"u{i}" for i in range(1000) if drawn(campaign, f"u{i}") == arm)


def test_a_partial_variant_inherits_the_base_and_the_payload_carries_the_variant():
    cs = campaigns(AB)
    a_user, b_user = _user_drawn(the(cs), "a"), _user_drawn(the(cs), "b")
    sim = simulate(cs, subscribed(a_user) + subscribed(b_user) + [ev(T0 + MIN, "Viewed", a_user),
                                                                 ev(T0 + MIN, "Viewed", b_user)], T0 + HOUR)
    sent = {n.user: n for n in sim.notifications}
    assert (sent[a_user].variant, sent[a_user].payload["title"], sent[a_user].urgency) == ("a", "Hello you", "normal")
    assert (sent[b_user].variant, sent[b_user].payload["title"], sent[b_user].urgency) == ("b", "Bonjour", "high")
    assert sent[b_user].payload["url"] == "https://shop.example/" and sent[b_user].payload["variant"] == "b"
    assert sim.states[b_user].sent[0].variant == "b"


def test_the_control_is_qualified_suppressed_counted_apart_and_uses_no_limit():
    cs = campaigns(AB)
    user = _user_drawn(the(cs), "holdout")
    sim = simulate(cs, subscribed(user) + [ev(T0 + MIN, "Viewed", user), ev(T0 + 2 * MIN, "Viewed", user),
                                          ev(T0 + HOUR, "Charged", user, amount=30)], T0 + DAY)
    assert sim.notifications == []
    qualified = [e for e in sim.effects if isinstance(e, Qualified)]
    suppressed = [e for e in sim.effects if isinstance(e, Suppressed)]
    # Both triggers reach the send point: the control's entry took no share of the 1-per-day limit.
    assert [(q.variant, q.control) for q in qualified] == [("holdout", True)] * 2
    assert [s.reason for s in suppressed] == ["control", "control"]
    [conversion] = [e for e in sim.effects if isinstance(e, Conversion)]
    assert (conversion.kind, conversion.variant, conversion.revenue) == ("control", "holdout", 30)
    assert sim.stats["ab"]["control.holdout.held_out"] == 2
    assert sim.stats["ab"]["control.holdout.conversions"] == 1
    assert sim.stats["ab"]["control.holdout.revenue"] == 30
    assert "conversions.view" not in sim.stats["ab"] and "revenue" not in sim.stats["ab"]


def test_a_conversion_after_the_window_is_not_the_controls():
    cs = campaigns(AB)
    user = _user_drawn(the(cs), "holdout")
    sim = simulate(cs, subscribed(user) + [ev(T0 + MIN, "Viewed", user), ev(T0 + 2 * DAY, "Charged", user)],
                   T0 + 3 * DAY)
    assert not [e for e in sim.effects if isinstance(e, Conversion)]


def test_counts_move_each_variants_stats():
    cs = campaigns(AB)
    user = _user_drawn(the(cs), "a")
    sim = simulate(cs, subscribed(user) + [ev(T0 + MIN, "Viewed", user), ev(T0 + HOUR, "Charged", user, amount=5)],
                   T0 + DAY)
    stats = sim.stats["ab"]
    assert stats["variant.a.qualified"] == stats["variant.a.sent"] == stats["variant.a.delivered"] == 1
    assert stats["variant.a.conversions"] == 1 and stats["variant.a.revenue"] == 5
    assert stats["conversions.view"] == 1 and stats["sent"] == 1


def test_campaigns_without_variants_are_unchanged():
    cs = campaigns("""
campaign: plain
who: {on: {event: Viewed}}
what: {title: hi}
""")
    sim = simulate(cs, subscribed() + [ev(T0 + MIN, "Viewed")], T0 + HOUR)
    [notify] = sim.notifications
    assert notify.variant is None and "variant" not in notify.payload
    assert not any(stat.startswith(("variant.", "control.")) for stat in sim.stats["plain"])
    # Send history rows of campaigns without variants keep their short stored form.
    assert len(Sent("plain", "m1", T0).to_list()) == 7
    assert Sent.from_list(Sent("ab", "m1", T0, variant="b").to_list()).variant == "b"
