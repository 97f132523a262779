"""Errors of web push delivery, each naming what is wrong and what to do."""

from __future__ import annotations

from engine.errors import PushcastError


class PushError(PushcastError):
    """Root of every error raised by `connectors.push` (under pushcast's one root)."""


class SubscriptionError(PushError, ValueError):
    """A malformed `PushSubscription.toJSON()`; `field` names the bad key (e.g. `keys.auth`)."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


class EndpointRefused(PushError):
    """The endpoint is not a push service we may contact (allow-list, https, no IPs)."""

    def __init__(self, endpoint: str, reason: str):
        super().__init__(f"push endpoint refused: {reason} (endpoint {_short(endpoint)!r})")
        self.endpoint = endpoint
        self.reason = reason


class PayloadTooLarge(PushError, ValueError):
    """The encrypted record would exceed the 4096 bytes every push service must accept."""


class MessageError(PushError, ValueError):
    """A `PushMessage` with an invalid field (urgency, ttl, payload)."""


class VapidError(PushError):
    """A VAPID key file or subject that cannot be used."""


class PushConfigError(PushError, ValueError):
    """Invalid push configuration; the message names the key and the bad value."""


class TransportError(PushError):
    """A request that got no HTTP response.

    `kind` is one of: `connect` (could not connect), `timeout`, `reset` (the connection
    closed or broke mid-request), `protocol` (an unparseable response) — all retried by the
    sender — or `refused` (the host resolves to a non-public address), never retried.
    """

    RETRYABLE = frozenset({"connect", "timeout", "reset", "protocol"})

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind

    @property
    def retryable(self) -> bool:
        return self.kind in self.RETRYABLE


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
