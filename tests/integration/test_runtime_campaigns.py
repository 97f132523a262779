"""`pushcast run` end to end: events over HTTP, the abandoned-cart wait on a test clock,
the notification read back decrypted from the push emulator, tracking and stats."""

from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.integration

MIN = 60


def wait_notifications(emulator, client_hash: str, count: int, timeout: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        messages = [json.loads(m) for m in emulator.notifications(client_hash)]
        if len(messages) >= count or time.monotonic() > deadline:
            return messages
        time.sleep(0.05)


def cart(user: str, cart_id: str, product: str = "Trail shoes", **extra) -> dict:
    return {"user": user, "event": "Added To Cart", "props": {"product": product, "cart_id": cart_id, "price": 89.5},
            **extra}


def test_abandoned_cart_sends_after_ten_quiet_minutes(shared_runtime, push_emulator):
    run = shared_runtime
    sub = push_emulator.subscribe(run.public_key)
    run.subscribe("asha", sub)
    run.events({"user": "asha", "event": "$profile", "props": {"name": "Asha"}}, cart("asha", "c-9"))

    run.advance(9 * MIN + 59)
    run.wait_outbox_empty()
    assert push_emulator.notifications(sub["clientHash"]) == []
    assert run.user("asha")["waits"][0]["campaign"] == "abandoned-cart"

    run.advance(1)
    messages = wait_notifications(push_emulator, sub["clientHash"], 1)
    assert len(messages) == 1
    message = messages[0]
    assert message["title"] == "Still thinking about Trail shoes?"
    assert message["body"] == "Hi Asha, your cart is waiting."
    assert message["url"] == "https://shop.example/cart/c-9?utm_source=push"
    assert message["actions"][0]["url"] == "https://shop.example/checkout/c-9"
    assert message["campaign"] == "abandoned-cart" and message["user"] == "asha" and message["sig"]

    run.wait_outbox_empty()
    stats = run.stats("abandoned-cart")
    assert (stats["qualified"], stats["sent"], stats["delivered"], stats["failed"]) == (1, 1, 1, 0)
    # A long quiet time afterwards sends nothing more.
    run.advance(60 * MIN)
    run.wait_outbox_empty()
    assert len(push_emulator.notifications(sub["clientHash"])) == 1


def test_no_reminder_after_a_purchase(shared_runtime, push_emulator):
    run = shared_runtime
    before = run.stats("abandoned-cart")
    sub = push_emulator.subscribe(run.public_key)
    run.subscribe("ravi", sub)
    run.events(cart("ravi", "c-10"))
    run.advance(5 * MIN)
    run.events({"user": "ravi", "event": "Charged", "props": {"cart_id": "c-10", "amount": 89.5}})
    run.advance(30 * MIN)
    run.wait_outbox_empty()
    assert push_emulator.notifications(sub["clientHash"]) == []
    after = run.stats("abandoned-cart")
    assert after["qualified"] == before["qualified"] and after["sent"] == before["sent"]
    assert run.user("ravi")["waits"] == []


def test_click_is_tracked_and_the_purchase_converts(shared_runtime, push_emulator):
    run = shared_runtime
    sub = push_emulator.subscribe(run.public_key)
    run.subscribe("mei", sub)
    run.events(cart("mei", "c-11", product="Rain jacket"))
    run.advance(11 * MIN)
    [message] = wait_notifications(push_emulator, sub["clientHash"], 1)
    assert message["title"] == "Still thinking about Rain jacket?"
    before = run.stats("abandoned-cart")

    report = {"message": message["message"], "campaign": message["campaign"], "user": message["user"],
              "action": "", "type": "clicked", "sig": message["sig"]}
    forged = {**report, "sig": message["sig"][:-2] + "AA"}
    denied = run.post("/v1/track", forged, token=None, headers={"Origin": "https://shop.example"})
    assert denied.status == 403 and denied.json["field"] == "sig"
    assert run.stats("abandoned-cart")["clicked"] == before["clicked"]

    for _ in range(2):  # a repeated report counts once
        ok = run.post("/v1/track", report, token=None, headers={"Origin": "https://shop.example"})
        assert ok.status == 204, ok
        assert ok.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    shown = run.post("/v1/track", {**report, "type": "shown"}, token=None)
    assert shown.status == 204

    run.advance(30 * MIN)
    run.events({"user": "mei", "event": "Charged", "props": {"cart_id": "c-11", "amount": 120.25}})
    after = run.stats("abandoned-cart")
    assert after["clicked"] == before["clicked"] + 1
    assert after["shown"] == before["shown"] + 1
    assert after["conversions"]["click"] == before["conversions"]["click"] + 1
    assert after["conversions"]["view"] == before["conversions"]["view"]
    assert after["revenue"] == pytest.approx(before["revenue"] + 120.25)
    assert run.user("mei")["sent"][-1]["converted"] is True


def test_expired_subscription_is_removed_and_counted(shared_runtime, push_emulator):
    run = shared_runtime
    sub = push_emulator.subscribe(run.public_key)
    run.subscribe("olu", sub)
    push_emulator.expire(sub["clientHash"])
    before = run.stats("abandoned-cart")
    run.events(cart("olu", "c-12"))
    run.advance(11 * MIN)
    run.wait_outbox_empty()
    after = run.stats("abandoned-cart")
    assert after["sent"] == before["sent"] + 1
    assert after["failed"] == before["failed"] + 1 and after["unsubscribed"] == before["unsubscribed"] + 1
    assert run.user("olu")["subscriptions"] == []
    # The next cart finds no subscription: suppressed, not sent.
    run.events(cart("olu", "c-13"))
    run.advance(11 * MIN)
    assert run.stats("abandoned-cart")["suppressed"].get("no_subscription", 0) == \
        before["suppressed"].get("no_subscription", 0) + 1


def test_metrics_and_campaign_list(shared_runtime):
    run = shared_runtime
    listed = run.get("/v1/campaigns").json["campaigns"]
    assert {"abandoned-cart", "price-drop"} <= {c["id"] for c in listed}
    text = run.get("/metrics", token=None).body.decode()
    assert "pushcast_config_last_reload_successful 1.0" in text
    assert 'pushcast_notifications_sent_total{campaign="abandoned-cart",test="false"}' in text
    assert "user=" not in text


def test_the_test_clock_is_set_forward_and_kept(shared_runtime):
    run = shared_runtime
    response = run.post("/v1/admin/clock", {"set": "2026-12-01T09:30:00Z"})
    assert response.status == 200 and response.json["now"] == "2026-12-01T09:30:00.000Z"
    assert run.get("/healthz", token=None).json["now"] == "2026-12-01T09:30:00.000Z"
    # An event without ts happens at the test clock's time.
    run.events({"user": "clock-1", "event": "Added To Cart", "props": {"cart_id": "c", "price": 20}})
    assert run.user("clock-1")["waits"][0]["due"] == "2026-12-01T09:40:00.000Z"
