"""`pushcast gateway` over the shared broker, with real workers (subprocesses) and the
push emulator: the routes of `pushcast run` answer the same, events in lead to a push
whose payload the worker signed, a forged report is refused and a replayed one reaches
the workers' stream once, a user's state comes from the owner of their partition, and an
acknowledged event survives a gateway's kill -9."""

from __future__ import annotations

import http.client
import json
import threading
from datetime import datetime, timezone

import orjson
import pytest

from engine.shell.tracking import sign
from tests.fixtures.gateway import start_gateway, wait_for
from tests.fixtures.kafka_runtime import make_config

pytestmark = pytest.mark.integration

NOW = 1_795_600_800_000  # 2026-11-25T10:00:00Z
TOKEN = "gateway-admin-token-0123456789abcdef"
CART = """\
campaign: cart
who:
  on: {event: Added To Cart}
what:
  title: "Hi {{ profile.name | default: 'there' }}, still thinking about {{ event.product | default: 'your cart' }}?"
  url: https://shop.example/cart
  ttl: 1h
conversion: {event: Charged, within: 1d, revenue: amount}
"""


def _setup(tmp_path, kafka_runtime_factory, push_emulator=None, partitions: int = 4):
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "campaigns" / "cart.yaml").write_text(CART)
    services = [{"host": push_emulator.origin, "rate": 1000, "burst": 1000}] if push_emulator else None
    config = make_config(tmp_path, None, **({"push_services": services} if services else {}))
    harness = kafka_runtime_factory([tmp_path / "campaigns"], config, partitions=partitions)
    harness.set_clock(NOW)
    return harness


def _events(harness, name: str) -> list[dict]:
    records = [json.loads(r.value) for r in harness.read(harness.events_topic) if r.value.startswith(b"{")]
    return [r for r in records if r.get("event") == name]


def test_the_gateway_serves_the_api_in_front_of_two_workers(kafka_runtime_factory, push_emulator, tmp_path):
    harness = _setup(tmp_path, kafka_runtime_factory, push_emulator)
    harness.start_worker("w1", dry_run=False)
    harness.start_worker("w2", dry_run=False)
    harness.wait_members(2)
    gateway = start_gateway(harness, token=TOKEN)
    public_key = (tmp_path / "vapid_public.txt").read_text().strip()

    # Browser routes: the key, and a subscription checked against the allow-list first.
    assert gateway.call("GET", "/v1/vapid-public-key") == (200, {"publicKey": public_key})
    sub = push_emulator.subscribe(public_key)
    subscription = {"endpoint": sub["endpoint"], "keys": sub["keys"]}
    status, body = gateway.call("POST", "/v1/subscriptions", {
        "user": "asha", "subscription": {**subscription, "endpoint": "https://evil.example/push/1"}})
    assert (status, body["field"]) == (400, "subscription.endpoint"), body
    assert gateway.call("POST", "/v1/subscriptions", {"user": "asha", "subscription": subscription,
                                                      "tz": "Europe/Berlin"}) == (201, {"subscribed": True})

    # Events: validated as the embedded runtime does, a bad item refuses the whole batch.
    status, body = gateway.call("POST", "/v1/events", [{"user": "asha", "event": "Added To Cart"},
                                                       {"user": "", "event": "x"}], token=TOKEN)
    assert (status, body.get("index"), body.get("field")) == (400, 1, "user"), body
    assert gateway.call("POST", "/v1/events", {"user": "asha", "event": "x"})[0] == 401
    status, body = gateway.call("POST", "/v1/events", [
        {"user": "asha", "event": "$profile", "props": {"name": "Asha"}},
        {"user": "asha", "event": "Added To Cart", "props": {"product": "Trail shoes"}}], token=TOKEN)
    assert (status, body) == (200, {"accepted": 2})

    # A worker decides, signs and sends: the emulator decrypts the signed payload.
    texts = wait_for(lambda: push_emulator.notifications(sub["clientHash"]), "the push at the emulator")
    (payload,) = [json.loads(t) for t in texts]
    assert payload["title"] == "Hi Asha, still thinking about Trail shoes?", payload
    secret = (tmp_path / "track_secret").read_bytes().strip()
    assert payload["user"] == "asha" and payload["sig"] == sign(secret, payload["message"], "cart", "asha"), payload

    # The user's state, from the owner of their partition: subscription, profile, the send.
    last = {}

    def delivered():
        status, state = gateway.call("GET", "/v1/users/asha", token=TOKEN)
        assert status == 200, state
        last.update(state)
        return state if state["sent"] and state["sent"][0]["delivered"] else None

    state = wait_for(delivered, "the delivery in asha's state", what_else=lambda: last)
    assert state["subscriptions"] == [sub["endpoint"]], state
    assert state["profile"]["tz"] == "Europe/Berlin" and state["profile"]["name"] == "Asha", state
    assert [s["message"] for s in state["sent"]] == [payload["message"]]
    assert gateway.call("GET", "/v1/users/nobody", token=TOKEN)[0] == 404
    # Why it was sent, from the same owner: the user's decision log (pushcast explain).
    status, explained = gateway.call("GET", "/v1/users/asha/decisions?campaign=cart", token=TOKEN)
    assert status == 200 and [d["decision"] for d in explained["decisions"]][-1] == "sent", explained
    assert explained["decisions"][-1]["text"] == "sent to 1 subscription"
    assert gateway.call("GET", "/v1/users/nobody/decisions", token=TOKEN)[0] == 404

    # Reports: a forged signature is refused; the real one reaches the stream once.
    report = {k: payload[k] for k in ("message", "campaign", "user", "sig")} | {"type": "clicked"}
    forged = {**report, "sig": ("B" if report["sig"][0] == "A" else "A") + report["sig"][1:]}
    status, body = gateway.call("POST", "/v1/track", forged)
    assert (status, body["field"]) == (403, "sig"), body
    assert gateway.call("POST", "/v1/track", report) == (204, None)
    assert gateway.call("POST", "/v1/track", report) == (204, None)  # replayed: accepted, not forwarded
    # A second gateway (they keep no state; the claims are shared in Redis) does the same.
    other = start_gateway(harness, token=TOKEN, name="gateway-2")
    assert other.call("POST", "/v1/track", report) == (204, None)
    assert other.call("GET", "/v1/users/asha", token=TOKEN)[1]["subscriptions"] == [sub["endpoint"]]
    clicks = _events(harness, "$notification_clicked")
    assert [c["props"]["message"] for c in clicks if c["user"] == "asha"] == [payload["message"]], clicks

    def clicked():
        return gateway.call("GET", "/v1/users/asha", token=TOKEN)[1]["sent"][0]["clicked"]

    wait_for(clicked, "the click in asha's state")

    # Admin routes: campaigns, reach over every partition, send-test errors, stats, ops.
    status, body = gateway.call("GET", "/v1/campaigns", token=TOKEN)
    assert status == 200 and [c["id"] for c in body["campaigns"]] == ["cart"], body
    assert gateway.call("GET", "/v1/campaigns", token="wrong")[0] == 401
    status, body = gateway.call("POST", "/v1/campaigns/cart/reach", {}, token=TOKEN)
    assert status == 200 and (body["users"], body["reachable"]) == (1, 1), body
    assert gateway.call("POST", "/v1/campaigns/nope/reach", {}, token=TOKEN)[0] == 404
    status, body = gateway.call("POST", "/v1/campaigns/cart/send-test", {"user": "asha"}, token=TOKEN)
    assert (status, body.get("field")) == (400, "user"), body  # asha is not a test profile
    assert gateway.call("POST", "/v1/campaigns/nope/send-test", {}, token=TOKEN)[0] == 404
    status, body = gateway.call("GET", "/v1/campaigns/cart/stats", token=TOKEN)
    assert status == 200, body  # one decision, one delivery, one click counted once (reported three times)
    assert {k: body[k] for k in ("qualified", "sent", "delivered", "failed", "shown", "clicked")} == {
        "qualified": 1, "sent": 1, "delivered": 1, "failed": 0, "shown": 0, "clicked": 1}, body
    assert gateway.call("GET", "/v1/campaigns/nope/stats", token=TOKEN)[0] == 404
    # The sends and clicks per hour, counted by the workers through the shared shell.
    hour = f"{datetime.fromtimestamp(NOW / 1000, timezone.utc):%Y-%m-%dT%H}:00Z"
    assert body["series"]["hour"] == [{"at": hour, "sent": 1, "clicked": 1}], body["series"]

    # The campaign pages, from the same stats (every partition asked once for the list).
    status, page = gateway.call("GET", "/campaigns", token=TOKEN)
    assert status == 200 and '<tr class="campaign" data-campaign="cart">' in page, page
    assert '<td class="n sent">1</td>' in page and '<td class="n clicked">1</td>' in page, page
    assert gateway.call("GET", "/campaigns")[0] == 401
    status, page = gateway.call("GET", "/campaigns/cart", token=TOKEN)
    assert status == 200 and '<tr data-stat="clicked"><th>Clicked</th><td class="n count">1</td>' in page, page
    assert f'data-at="{hour}" data-sent="1"' in page and f'data-at="{hour}" data-clicked="1"' in page, page
    assert gateway.call("GET", "/campaigns/nope", token=TOKEN)[0] == 404
    status, body = gateway.call("POST", "/v1/admin/reload", {}, token=TOKEN)
    assert status == 200 and body["reloaded"] is True and body["campaigns"] == ["cart"], body
    status, body = gateway.call("POST", "/v1/admin/clock", {"advance": 60}, token=TOKEN)
    assert status == 404, body  # the gateway's clock is never settable
    status, text = gateway.call("GET", "/metrics")
    assert status == 200 and 'pushcast_events_accepted_total{source="http"} 2.0' in text, text
    status, body = gateway.call("GET", "/healthz")
    assert status == 200 and body["campaigns"] == 1 and body["runtime"] == "gateway", body
    assert gateway.call("GET", "/sdk/pushcast.js")[0] == 200
    status, page = gateway.call("GET", "/")
    assert status == 200 and "Pushcast.init" in page

    # Unsubscribing through the gateway reaches the user's state.
    assert gateway.call("DELETE", "/v1/subscriptions", {"user": "asha", "endpoint": sub["endpoint"]}) == (
        200, {"subscribed": False})
    wait_for(lambda: gateway.call("GET", "/v1/users/asha", token=TOKEN)[1]["subscriptions"] == [],
             "the unsubscribe in asha's state")
    assert gateway.alive()


def test_an_acknowledged_event_survives_a_gateway_kill_9(kafka_runtime_factory, tmp_path):
    harness = _setup(tmp_path, kafka_runtime_factory)
    gateway = start_gateway(harness, token=TOKEN)
    acknowledged: list[int] = []  # batch numbers answered 200
    failed: list[str] = []

    def post_until_killed():
        for n in range(10_000):
            batch = [{"user": f"u-{n}-{i}", "event": "Viewed", "props": {"batch": n}} for i in range(100)]
            try:
                status, body = gateway.call("POST", "/v1/events", batch, token=TOKEN)
            except (OSError, http.client.HTTPException):  # the gateway is gone
                return
            if status != 200:
                failed.append(f"{status} {body}")
                return
            acknowledged.append(n)

    poster = threading.Thread(target=post_until_killed)
    poster.start()
    wait_for(lambda: len(acknowledged) >= 20, "20 acknowledged batches", what_else=lambda: failed)
    gateway.kill()  # mid-stream: no shutdown, no flush; requests in flight get no answer
    poster.join(60)
    assert not failed and not gateway.alive()
    records = _events(harness, "Viewed")
    kept = {r["props"]["batch"] for r in records}
    assert set(acknowledged) <= kept, sorted(set(acknowledged) - kept)
    for n in acknowledged:  # every event of an acknowledged batch, keyed by its user, stamped by the gateway
        batch = [r for r in records if r["props"]["batch"] == n]
        assert sorted(r["user"] for r in batch) == sorted(f"u-{n}-{i}" for i in range(100)), n
    assert all(r["ts"] == NOW for r in records), records[:3]
    assert all(r.key.decode() == orjson.loads(r.value)["user"] for r in harness.read(harness.events_topic))


def test_with_an_identity_secret_browser_routes_need_the_users_hash(kafka_runtime_factory, tmp_path):
    from engine.shell.identity import user_hash

    harness = _setup(tmp_path, kafka_runtime_factory)
    secret = "identity-secret-0123456789abcdef"
    gateway = start_gateway(harness, token=TOKEN, env={"PUSHCAST_IDENTITY_SECRET": secret})
    assert "identity verification on" in gateway.output()
    sub = {"endpoint": "https://fcm.googleapis.com/fcm/send/abc", "keys": {
        "p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
        "auth": "BTBZMqHH6r4Tts7J_aSIgg"}}
    status, body = gateway.call("POST", "/v1/subscriptions", {"user": "asha", "subscription": sub})
    assert (status, body["field"]) == (401, "user_hash"), body
    status, body = gateway.call("POST", "/v1/subscriptions", {"user": "asha", "subscription": sub,
                                                              "user_hash": user_hash(secret.encode(), "mallory")})
    assert (status, body["field"]) == (403, "user_hash"), body
    assert gateway.call("POST", "/v1/subscriptions", {"user": "asha", "subscription": sub, "user_hash": user_hash(
        secret.encode(), "asha")}) == (201, {"subscribed": True})
    assert [e["user"] for e in _events(harness, "$push_subscribe")] == ["asha"]


def test_the_gateway_refuses_to_start_without_its_topics(kafka_runtime_factory, tmp_path):
    harness = _setup(tmp_path, kafka_runtime_factory)
    harness.prefix = "never-made-" + harness.prefix
    with pytest.raises(AssertionError, match="does not exist: start a worker first"):
        start_gateway(harness, token=TOKEN, timeout=60)
    # ... and made none: the broker's auto-create would give it the wrong partition count.
    assert harness.partition_counts() == {}
