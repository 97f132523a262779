"""A user's pending waits are bounded: at most MAX_WAITS_PER_CAMPAIGN per campaign (the
oldest dropped and counted as `wait_limit`), each keeping only the trigger props its
campaign's templates and `match` read."""

from __future__ import annotations

from engine.core import Event, Notify, Suppressed, UserState, process_event, process_wake
from engine.core.waits import MAX_WAITS_PER_CAMPAIGN
from tests.unit.core_helpers import MIN, SUBSCRIPTION, T0, campaigns

CART = """
campaign: cart
who:
  on: {event: Added To Cart, where: {price: {gte: 10}}}
  unless: {event: Charged, within: 10m, match: [cart_id]}
what:
  title: "Still thinking about {{ event.product | default: 'your cart' }}?"
  url: "https://shop.example/cart/{{ event.cart_id }}"
  actions:
    - {title: Checkout, url: "https://shop.example/checkout/{{ event.cart_id }}?{{ event.coupon | default: '' }}"}
"""


def cart_props(n: int) -> dict:
    # What a shop sends: more than the campaign reads.
    return {"cart_id": f"cart-{n}", "price": 30, "product": "Shoes", "coupon": "X1",
            "items": [{"sku": f"SKU-{n}-{i}", "qty": 1, "price": 10} for i in range(3)],
            "description": "A pair of running shoes, size 42, colour blue"}


def test_five_thousand_carts_keep_the_state_small():
    campaign_set = campaigns(CART)
    state = UserState("u1")
    dropped = []
    for n in range(5000):
        out = process_event(state, Event("u1", "Added To Cart", T0 + n, cart_props(n)), campaign_set)
        dropped += [e for e in out.items if isinstance(e, Suppressed)]
    assert len(state.waits) == MAX_WAITS_PER_CAMPAIGN
    # The oldest went first: the latest hundred carts are pending.
    assert [w.key for w in state.waits] == [f"cart-{n}" for n in range(4900, 5000)]
    assert len(dropped) == 4900 and {e.reason for e in dropped} == {"wait_limit"}
    assert dropped[0].detail.startswith(f"more than {MAX_WAITS_PER_CAMPAIGN} pending waits")
    assert state.waits[0].props == {"cart_id": "cart-4900", "product": "Shoes", "coupon": "X1"}
    # Unbounded, this state was 1.9 MB (580 KB with the probe's smaller props).
    assert len(state.dumps()) < 25_000


def test_a_kept_wait_still_renders_the_same_message():
    campaign_set = campaigns(CART)
    state = UserState("u1", subscriptions={SUBSCRIPTION["endpoint"]: list(SUBSCRIPTION["keys"].values())})
    process_event(state, Event("u1", "Added To Cart", T0, cart_props(7)), campaign_set)
    [notify] = [e for e in process_wake(state, T0 + 10 * MIN, campaign_set).items if isinstance(e, Notify)]
    assert notify.payload["title"] == "Still thinking about Shoes?"
    assert notify.payload["url"] == "https://shop.example/cart/cart-7"
    assert notify.payload["actions"][0]["url"] == "https://shop.example/checkout/cart-7?X1"


def test_a_template_naming_a_prop_at_run_time_keeps_them_all():
    dynamic = CART.replace("{{ event.product | default: 'your cart' }}", "{{ event[event.field] }}")
    state = UserState("u1")
    process_event(state, Event("u1", "Added To Cart", T0, cart_props(1)), campaigns(dynamic))
    assert state.waits[0].props == cart_props(1)


def test_the_limit_is_per_campaign():
    other = CART.replace("campaign: cart", "campaign: other")
    campaign_set = campaigns(CART, other)
    state = UserState("u1")
    for n in range(MAX_WAITS_PER_CAMPAIGN + 5):
        process_event(state, Event("u1", "Added To Cart", T0 + n, cart_props(n)), campaign_set)
    assert sorted({w.campaign for w in state.waits}) == ["cart", "other"]
    assert len(state.waits) == 2 * MAX_WAITS_PER_CAMPAIGN
