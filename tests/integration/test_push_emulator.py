"""End to end against the web-push-testing emulator: it checks VAPID and decrypts."""

import json

import pytest

from connectors.push import AllowList, PushMessage, Sender, Subscription, generate_keys, load_signer
from connectors.push.http1 import Http1Transport
from connectors.push.transport import AiohttpTransport

pytestmark = pytest.mark.integration

PAYLOAD = {
    "title": "Still thinking about Trail shoes? 👟",
    "body": "Hi Asha, your cart is waiting.",
    "url": "https://shop.example/cart/c-9?utm_source=push",
    "icon": "https://shop.example/icon.png",
    "image": "https://shop.example/img/shoes.jpg",
    "badge": "https://shop.example/badge.png",
    "tag": "abandoned-cart",
    "require_interaction": True,
    "actions": [{"action": "checkout", "title": "Checkout", "url": "https://shop.example/checkout/c-9"}],
}


@pytest.fixture(scope="module")
def vapid(tmp_path_factory):
    path = tmp_path_factory.mktemp("vapid") / "vapid.pem"
    public = generate_keys(path)
    return public, load_signer(path, "mailto:ops@shop.example")


@pytest.fixture(params=["http1", "aiohttp"])
def sender_for(request, push_emulator, vapid):
    def make(signer=None):
        allowlist = AllowList(origins=[push_emulator.origin])
        transport_class = Http1Transport if request.param == "http1" else AiohttpTransport
        transport = transport_class(address_guard=allowlist.permits_address)
        return Sender(signer or vapid[1], transport, allowlist, timeout=5)

    return make


def message(sub: dict, message_id: str, **overrides) -> PushMessage:
    fields = dict(message_id=message_id, campaign="abandoned-cart", user="u-42",
                  subscription=Subscription.from_json(sub), payload=PAYLOAD, ttl=3600)
    fields.update(overrides)
    return PushMessage(**fields)


async def test_subscribe_send_and_read_back_the_payload_field_by_field(push_emulator, vapid, sender_for):
    public, _ = vapid
    sub = push_emulator.subscribe(public)
    sender = sender_for()
    try:
        first = await sender.send(message(sub, "kJ3_x-9aQ2mZ0pLr7sTuVw"))
        second = await sender.send(message(sub, "second-message", payload={"title": "Two"}, urgency="low"))
    finally:
        await sender.close()
    assert (first.outcome, first.status, first.attempts) == ("sent", 201, 1)
    assert second.outcome == "sent"
    received = [json.loads(text) for text in push_emulator.notifications(sub["clientHash"])]
    assert len(received) == 2
    for key, value in PAYLOAD.items():
        assert received[0][key] == value, key
    assert received[0]["message"] == "kJ3_x-9aQ2mZ0pLr7sTuVw"
    assert received[0]["campaign"] == "abandoned-cart"
    assert received[1] == {"title": "Two", "message": "second-message", "campaign": "abandoned-cart"}
    events = first.to_events(1_764_064_800_000)
    assert [e["event"] for e in events] == ["$notification_sent"]


async def test_an_expired_subscription_turns_into_an_unsubscribe(push_emulator, vapid, sender_for):
    public, _ = vapid
    sub = push_emulator.subscribe(public)
    push_emulator.expire(sub["clientHash"])
    sender = sender_for()
    try:
        result = await sender.send(message(sub, "to-expired"))
    finally:
        await sender.close()
    assert (result.outcome, result.status, result.attempts) == ("unsubscribed", 410, 1)
    assert "unsubscribed or expired" in result.reason
    failed, unsubscribe = result.to_events(1)
    assert unsubscribe == {
        "user": "u-42", "event": "$push_unsubscribe", "ts": 1,
        "props": {"message": "to-expired", "campaign": "abandoned-cart", "endpoint": sub["endpoint"]},
    }
    assert push_emulator.notifications(sub["clientHash"]) == []


async def test_a_wrong_vapid_key_is_a_permanent_failure(push_emulator, vapid, sender_for, tmp_path):
    public, _ = vapid
    sub = push_emulator.subscribe(public)
    generate_keys(tmp_path / "other.pem")
    sender = sender_for(load_signer(tmp_path / "other.pem", "mailto:ops@shop.example"))
    try:
        result = await sender.send(message(sub, "wrong-key"))
    finally:
        await sender.close()
    assert (result.outcome, result.attempts) == ("failed", 1)
    assert result.status == 400
    assert "Invalid Crypto-Key header" in result.reason  # the emulator's own words
    assert push_emulator.notifications(sub["clientHash"]) == []


async def test_many_subscriptions_over_pooled_connections(push_emulator, vapid, sender_for):
    public, _ = vapid
    subs = [push_emulator.subscribe(public) for _ in range(30)]
    sender = sender_for()
    try:
        results = await sender.send_many([message(s, f"bulk-{i}") for i, s in enumerate(subs)])
    finally:
        await sender.close()
    assert [r.outcome for r in results] == ["sent"] * 30
    for i, s in enumerate(subs):
        (text,) = push_emulator.notifications(s["clientHash"])
        assert json.loads(text)["message"] == f"bulk-{i}"
