"""Tracking signatures: a notification carries `sig`, which its service worker sends back
with shown/clicked reports, so a report proves it is about a message pushcast sent."""

from __future__ import annotations

import base64
import hashlib
import hmac


def sign(secret: bytes, message_id: str) -> str:
    """The tracking signature of a message id: HMAC-SHA256, base64url without padding."""
    digest = hmac.new(secret, message_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def check_signature(secret: bytes, message_id: str, sig: str) -> bool:
    return hmac.compare_digest(sign(secret, message_id), sig)
