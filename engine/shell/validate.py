"""Input checks shared by every way events come in (HTTP, files): the core's own event
checks plus what the runtime must refuse before storing anything — subscriptions to
hosts off the push-service allow-list, and events only pushcast itself may emit."""

from __future__ import annotations

from connectors.push import AllowList, EndpointRefused, Subscription, SubscriptionError
from connectors.push.allowlist import normalize_endpoint
from engine.core import Event, EventError, parse_event
from engine.core.events import DEFAULT_MAX_AHEAD_MS

EMITTED_BY_PUSHCAST = frozenset({"$notification_sent", "$notification_failed"})


def check_subscription(data: object, allowlist: AllowList, field: str = "props") -> dict:
    """A browser's `PushSubscription.toJSON()`, validated and allow-listed, in the form
    the core stores: {endpoint, keys: {p256dh, auth}}. Raises EventError naming the field."""
    try:
        sub = Subscription.from_json(data)
    except SubscriptionError as exc:
        raise EventError(f"{field}.{exc.field}" if exc.field != "subscription" else field, str(exc).split(": ", 1)[-1]) from None
    try:
        allowlist.check(sub)
    except EndpointRefused as exc:
        raise EventError(f"{field}.endpoint", exc.reason) from None
    return {**sub.to_json(), "endpoint": normalize_endpoint(sub.endpoint)}


def validate_event(raw: object, arrival_ms: int, allowlist: AllowList,
                   max_ahead_ms: int = DEFAULT_MAX_AHEAD_MS) -> Event:
    event = parse_event(raw, arrival_ms, max_ahead_ms)
    name = event.name
    if not name.startswith("$"):
        return event
    if name in EMITTED_BY_PUSHCAST:
        raise EventError("event", f"{name} is emitted by pushcast itself and cannot be sent in")
    props = event.props
    if name == "$push_subscribe":
        return Event(event.user, name, event.ts, check_subscription(props, allowlist))
    if name == "$push_unsubscribe":
        if not isinstance(props.get("endpoint"), str) or not props["endpoint"]:
            raise EventError("props.endpoint", "required: the subscription's endpoint URL")
        # Stored endpoints are normalized: the same spelling finds the same subscription.
        return Event(event.user, name, event.ts, {**props, "endpoint": normalize_endpoint(props["endpoint"])})
    elif name in ("$notification_shown", "$notification_clicked"):
        if not isinstance(props.get("message"), str) or not props["message"]:
            raise EventError("props.message", "required: the message id from the notification")
    return event
