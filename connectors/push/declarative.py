"""Declarative Web Push: a push message that describes its own notification, so that
Safari 18.4+ (macOS, and iOS/iPadOS Home Screen web apps) shows it without running a
service worker.

Sent only to push services that take them (Apple's, endpoints under push.apple.com, and
any `push_services` entry with `declarative: true`) and only for messages
whose campaign asks for it (`what.declarative`, or `declarative_push` in pushcast.yaml).
Every other push service gets the classic payload. The format is WebKit's parser
(WebCore's NotificationJSONParser) and the Push API draft's "declarative push message":
`web_push: 8030` and a `notification` whose `title` (not empty) and `navigate` (an
absolute URL) are required, with `body`, `tag`, `icon`, `lang`, `dir`, `silent`, `data`,
`mutable` and (in the draft) `actions` with a `navigate` each.

`mutable: true` hands the message to pushcast's service worker when one is installed:
it shows it as it shows any push and reports "shown" and "clicked". Without one, Safari
shows the notification itself and a click opens `navigate` (no click report then). What
the worker needs besides the notification (message, campaign, user, sig, server) rides
in `data`; sdk/pushcast-core.js turns the message back into the classic payload.
"""

from __future__ import annotations

from engine.shell.declarative import APPLE_PUSH_DOMAIN, is_apple_push_service

__all__ = ["APPLE_PUSH_DOMAIN", "DECLARATIVE_WEB_PUSH", "classic_payload", "declarative_message",
           "is_apple_push_service"]

DECLARATIVE_WEB_PUSH = 8030  # the value of `web_push` that marks a declarative message
# Classic payload key -> the declarative notification's member (NotificationOptions' names).
_NOTIFICATION_MEMBERS = {"title": "title", "url": "navigate", "body": "body", "tag": "tag", "icon": "icon",
                         "image": "image", "badge": "badge", "require_interaction": "requireInteraction"}


def declarative_message(payload: dict) -> dict:
    """The declarative form of a classic payload that has a `title` and a `url`."""
    notification = {member: payload[key] for key, member in _NOTIFICATION_MEMBERS.items() if key in payload}
    if payload.get("actions"):
        notification["actions"] = [{"action": a["action"], "title": a["title"], "navigate": a["url"]}
                                   for a in payload["actions"]]
    notification["mutable"] = True
    notification["data"] = {k: v for k, v in payload.items() if k not in _NOTIFICATION_MEMBERS and k != "actions"}
    return {"web_push": DECLARATIVE_WEB_PUSH, "notification": notification}


def classic_payload(message: dict) -> dict:
    """The classic payload a declarative message was made from: what pushcast's service
    worker reads from it (sdk/pushcast-core.js does the same), and campaign tests compare."""
    notification = message["notification"]
    keys = {member: key for key, member in _NOTIFICATION_MEMBERS.items()}
    payload = {keys[member]: value for member, value in notification.items() if member in keys}
    if notification.get("actions"):
        payload["actions"] = [{"action": a["action"], "title": a["title"], "url": a["navigate"]}
                              for a in notification["actions"]]
    payload.update(notification.get("data") or {})
    return payload
