"""Tracking signatures: the service worker's shown/clicked reports prove they are about
a real message, for the campaign and user it was sent for.

The signature covers (message, campaign, user) together, and the A/B variant when the
message has one, so a report cannot move a message's counts to another campaign, its
clicks to another user or its variant's clicks to another variant. A message without a
variant is signed as before variants existed: reports of older messages still verify. Runtimes sign when
they queue a message and check before counting a report (`POST /v1/track` in the
embedded runtime; the Kafka workers' gateway later); a report for a message the store
no longer holds is refused by the caller, since its campaign and user cannot be checked
against what was sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import orjson

_DOMAIN = b"pushcast-track-v2\x00"  # never valid as the signature of anything else


def _signed_bytes(message_id: str, campaign: str, user: str, variant: str | None) -> bytes:
    # A JSON array: no choice of ids can make two different tuples encode the same.
    signed = [message_id, campaign, user] + ([variant] if variant else [])
    return _DOMAIN + orjson.dumps(signed)


def sign(secret: bytes, message_id: str, campaign: str, user: str, variant: str | None = None) -> str:
    """HMAC-SHA256 of (message, campaign, user[, variant]), base64url without padding."""
    digest = hmac.new(secret, _signed_bytes(message_id, campaign, user, variant), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def check_signature(secret: bytes, message_id: str, campaign: str, user: str, sig: str,
                    variant: str | None = None) -> bool:
    """Constant-time check of a report's `sig`; any text is accepted as input."""
    expected = sign(secret, message_id, campaign, user, variant).encode()
    return hmac.compare_digest(expected, sig.encode("utf-8", "surrogatepass"))
