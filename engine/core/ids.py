"""Deterministic message ids: the same input replayed gives the same id."""

from __future__ import annotations

import base64
import hashlib

import orjson


def message_id(campaign: str, user: str, event: str, ts_ms: int, props: dict, occurrence: str = "") -> str:
    """A 22-character base64url id (132 bits): usable as the web push `Topic` header
    (at most 32 characters) and as the de-duplication key."""
    identity = orjson.dumps([campaign, user, event, ts_ms, props, occurrence], option=orjson.OPT_SORT_KEYS)
    digest = hashlib.blake2b(identity, digest_size=17).digest()
    return base64.urlsafe_b64encode(digest).decode()[:22]
