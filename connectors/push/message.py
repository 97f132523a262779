"""What the sender is given (`PushMessage`) and what it gives back (`SendResult`)."""

from __future__ import annotations

from dataclasses import dataclass

from connectors.push.errors import MessageError
from connectors.push.subscription import Subscription
from engine.rules.what import MAX_TTL, URGENCIES  # what a campaign may ask is what we send

__all__ = ["MAX_TTL", "OUTCOMES", "PushMessage", "SendResult", "URGENCIES"]

OUTCOMES = ("sent", "failed", "unsubscribed")


# The classes below are frozen dataclasses with their own __init__: one `__dict__.update`
# instead of a frozen dataclass's `object.__setattr__` per field (~1 µs less per message).


@dataclass(frozen=True, init=False)
class PushMessage:
    """One notification to one subscription."""

    message_id: str  # deterministic id from the core; also the source of the Topic header
    campaign: str
    user: str
    subscription: Subscription
    payload: dict  # title, body, url, icon, image, badge, tag, require_interaction, actions
    ttl: int  # seconds the push service keeps it for an offline browser
    urgency: str = "normal"  # very-low | low | normal | high

    def __init__(self, message_id: str, campaign: str, user: str, subscription: Subscription,
                 payload: dict, ttl: int, urgency: str = "normal") -> None:
        if not isinstance(message_id, str) or not message_id:
            raise MessageError(f"message_id: expected a non-empty string, got {message_id!r}")
        if urgency not in URGENCIES:
            raise MessageError(f"urgency: expected one of {', '.join(URGENCIES)}, got {urgency!r}")
        if not isinstance(ttl, int) or isinstance(ttl, bool) or not 0 <= ttl <= MAX_TTL:
            raise MessageError(f"ttl: expected whole seconds 0..{MAX_TTL}, got {ttl!r}")
        if not isinstance(subscription, Subscription):
            raise MessageError(
                f"subscription: expected a Subscription, got {type(subscription).__name__}"
            )
        self.__dict__.update(message_id=message_id, campaign=campaign, user=user,
                             subscription=subscription, payload=payload, ttl=ttl, urgency=urgency)


@dataclass(frozen=True, init=False)
class SendResult:
    """The final outcome of sending one message.

    `outcome`: `sent` (the push service accepted it), `unsubscribed` (404/410: the
    subscription is gone and must be removed) or `failed`. `status` is the last HTTP status
    (None when no response came). `reason` is readable: the push service's own body for
    permanent failures.
    """

    message: PushMessage
    outcome: str
    status: int | None
    reason: str
    attempts: int
    latency: float  # seconds from the first attempt to the final outcome

    def __init__(self, message: PushMessage, outcome: str, status: int | None, reason: str,
                 attempts: int, latency: float) -> None:
        self.__dict__.update(message=message, outcome=outcome, status=status, reason=reason,
                             attempts=attempts, latency=latency)

    @property
    def endpoint(self) -> str:
        return self.message.subscription.endpoint

    def to_events(self, now_ms: int) -> list[dict]:
        """The result as events for the events topic (docs/events.md): `$notification_sent`, or
        `$notification_failed` with status and reason, plus `$push_unsubscribe` on 404/410."""
        msg = self.message
        props = {"message": msg.message_id, "campaign": msg.campaign, "endpoint": self.endpoint}
        if self.outcome == "sent":
            return [_event(msg.user, "$notification_sent", now_ms, {**props, "status": self.status})]
        failed = _event(
            msg.user,
            "$notification_failed",
            now_ms,
            {**props, "status": self.status, "reason": self.reason},
        )
        if self.outcome == "unsubscribed":
            return [failed, _event(msg.user, "$push_unsubscribe", now_ms, dict(props))]
        return [failed]


def _event(user: str, name: str, ts: int, props: dict) -> dict:
    return {"user": user, "event": name, "ts": ts, "props": props}
