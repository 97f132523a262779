"""Declarative Web Push for Apple's push service, held to WebKit's parser rules."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from connectors.push.allowlist import AllowList
from connectors.push.config import allowlist_and_rates
from connectors.push.declarative import DECLARATIVE_WEB_PUSH, declarative_message, is_apple_push_service
from connectors.push.payload import build_payload
from engine.rules.config import parse_config

APPLE = "https://web.push.apple.com/QGuQyavXutnMH5-2Zz2Ksd1_wiJ8O_xl3iPt0LGFNSfEmfERF3y6wPI2kO0"
FCM = "https://fcm.googleapis.com/fcm/send/dzx4:APA91b"
CLASSIC = {
    "title": "Your cart misses you", "body": "2 items", "url": "https://shop.example/cart?utm_source=push",
    "icon": "https://shop.example/icon.png", "image": "https://shop.example/cart.png", "tag": "m-1",
    "require_interaction": True, "user": "u1", "sig": "s1g",
    "actions": [{"action": "checkout", "title": "Checkout", "url": "https://shop.example/checkout"}],
}


def webkit_parse(body: bytes) -> dict:
    """What WebKit's NotificationJSONParser requires of a declarative message (Safari
    18.4): `web_push` 8030, a `notification` object with a non-empty string `title` and a
    valid URL `navigate`; `dir` one of auto/ltr/rtl, `lang`/`body`/`tag` strings, `icon` a
    URL, `silent` and `mutable` booleans, `app_badge` a non-negative integer."""
    message = json.loads(body)
    assert message["web_push"] == 8030
    notification = message["notification"]
    assert isinstance(notification, dict)
    assert isinstance(notification["title"], str) and notification["title"]
    navigate = urlsplit(notification["navigate"])
    assert navigate.scheme in ("http", "https") and navigate.netloc
    assert notification.get("dir", "auto") in ("auto", "ltr", "rtl")
    for key in ("lang", "body", "tag"):
        assert isinstance(notification.get(key, ""), str)
    if "icon" in notification:
        assert urlsplit(notification["icon"]).scheme in ("http", "https")
    for key in ("silent", "mutable"):
        assert isinstance(notification.get(key, False), bool)
    if "app_badge" in notification:
        assert isinstance(notification["app_badge"], int) and notification["app_badge"] >= 0
    return notification


def test_an_apple_endpoint_gets_a_declarative_message_when_the_campaign_asks():
    body = build_payload("m-1", "cart", {**CLASSIC, "declarative": True}, takes_declarative(AllowList(), APPLE))
    notification = webkit_parse(body)
    assert notification["title"] == CLASSIC["title"]
    assert notification["navigate"] == CLASSIC["url"]
    assert (notification["body"], notification["icon"], notification["tag"]) == ("2 items", CLASSIC["icon"], "m-1")
    assert notification["requireInteraction"] is True and notification["image"] == CLASSIC["image"]
    # The Push API draft's actions navigate like the notification itself.
    assert notification["actions"] == [{"action": "checkout", "title": "Checkout", "navigate": "https://shop.example/checkout"}]
    # pushcast's service worker takes it when installed, and reports with what rides in data.
    assert notification["mutable"] is True
    assert notification["data"] == {"user": "u1", "sig": "s1g", "message": "m-1", "campaign": "cart"}


@pytest.mark.parametrize("payload, endpoint", [
    ({**CLASSIC, "declarative": True}, FCM),   # only Apple's push service
    (CLASSIC, APPLE),                           # only when the campaign asks
])
def test_every_other_message_stays_classic_and_loses_the_mark(payload, endpoint):
    sent = json.loads(build_payload("m-1", "cart", payload, takes_declarative(AllowList(), endpoint)))
    assert "web_push" not in sent and "declarative" not in sent
    assert sent == {**CLASSIC, "message": "m-1", "campaign": "cart"}


def test_a_message_without_a_url_cannot_be_declarative():
    no_url = {k: v for k, v in CLASSIC.items() if k != "url"}
    sent = json.loads(build_payload("m-1", "cart", {**no_url, "declarative": True}, True))
    assert "web_push" not in sent and sent["title"] == CLASSIC["title"]


@pytest.mark.parametrize("endpoint, apple", [
    (APPLE, True), ("https://api.push.apple.com/3/device/x", True), ("https://push.apple.com/x", True),
    (FCM, False), ("https://push.apple.com.evil.example/x", False), ("https://notpush.apple.com/x", False),
])
def test_apple_push_service_is_recognised_by_host(endpoint, apple):
    assert is_apple_push_service(endpoint) is apple


def takes_declarative(allowlist: AllowList, endpoint: str) -> bool:
    return allowlist.takes_declarative(allowlist.check(endpoint))


def test_push_services_say_which_other_services_take_declarative_messages():
    config = parse_config('push_services: [{host: "*.push.apple.com"}, {host: fcm.googleapis.com}, '
                          '{host: "http://127.0.0.1:8090", declarative: true}, {host: push.example, declarative: true}]\n')
    allowlist, _rates, _default = allowlist_and_rates(config.push_services)
    assert takes_declarative(allowlist, APPLE)  # Apple's always
    assert not takes_declarative(allowlist, FCM)
    assert takes_declarative(allowlist, "http://127.0.0.1:8090/push/x")
    assert takes_declarative(allowlist, "https://push.example/x")


def test_the_marker_value_is_rfc_8030s_number():
    assert DECLARATIVE_WEB_PUSH == 8030
    assert declarative_message({"title": "t", "url": "https://x.example/"})["web_push"] == 8030


@pytest.mark.parametrize("payload", [
    {**CLASSIC, "message": "m-1", "campaign": "cart"},
    {"title": "t", "url": "https://x.example/", "message": "m", "campaign": "c"},
])
def test_the_classic_payload_comes_back_from_a_declarative_message(payload):
    from connectors.push.declarative import classic_payload

    assert classic_payload(declarative_message(payload)) == payload
