"""The notification payload and its RFC 8291 (aes128gcm) encryption (`ece.py`).

The encrypted body is one record: a 86-byte header (salt, record size, the sender's
ephemeral public key), the JSON, a delimiter byte and a 16-byte tag. Push services must
accept 4096 bytes (RFC 8030 §7.2), so the JSON may be at most 3993 bytes.
"""

from __future__ import annotations

import base64
import hashlib
import re

import orjson
from cryptography.hazmat.primitives.asymmetric import ec

from connectors.push import ece
from connectors.push.declarative import declarative_message
from connectors.push.errors import MessageError, PayloadTooLarge
from connectors.push.subscription import Subscription

MAX_RECORD_SIZE = 4096
HEADER_SIZE = ece.HEADER_SIZE  # salt, rs, idlen, keyid (the ephemeral public key)
RECORD_OVERHEAD = len(ece.LAST_RECORD) + ece.TAG_SIZE  # padding delimiter, AEAD tag
MAX_PLAINTEXT = MAX_RECORD_SIZE - HEADER_SIZE - RECORD_OVERHEAD  # 3993
MAX_TOPIC_LENGTH = 32
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")


def build_payload(message_id: str, campaign: str, payload: dict, declarative_ok: bool = False) -> bytes:
    """The JSON the service worker reads: the campaign's fields plus `message` and
    `campaign`, which it echoes back in `$notification_shown` / `$notification_clicked`.
    A payload marked `declarative` becomes a Declarative Web Push message when its push
    service takes them (`declarative_ok`: Apple's, connectors/push/declarative.py); the
    mark never reaches a browser."""
    if not isinstance(payload, dict):
        raise MessageError(f"payload: expected an object, got {type(payload).__name__}")
    body = {**payload, "message": message_id, "campaign": campaign}
    if body.pop("declarative", False) and "url" in body and declarative_ok:
        body = declarative_message(body)
    try:
        return orjson.dumps(body)
    except TypeError as exc:
        raise MessageError(f"payload: not JSON-serialisable ({exc})") from None


def check_size(plaintext: bytes) -> None:
    """Raise `PayloadTooLarge` when the encrypted record would exceed 4096 bytes."""
    if len(plaintext) > MAX_PLAINTEXT:
        raise PayloadTooLarge(
            f"payload too large: {len(plaintext)} bytes of JSON encrypt to "
            f"{len(plaintext) + HEADER_SIZE + RECORD_OVERHEAD} bytes, over the "
            f"{MAX_RECORD_SIZE}-byte limit push services guarantee; shorten the title, body "
            f"or URLs by {len(plaintext) - MAX_PLAINTEXT} bytes"
        )


def encrypt(
    plaintext: bytes,
    subscription: Subscription,
    *,
    salt: bytes | None = None,
    ephemeral: ec.EllipticCurvePrivateKey | None = None,
) -> bytes:
    """Encrypt for one subscription (RFC 8291): a fresh ECDH key pair per message, as the
    RFC requires. `salt` and `ephemeral` are for test vectors only."""
    if len(plaintext) > MAX_PLAINTEXT:  # tested here: no call per push for the common case
        check_size(plaintext)
    body = ece.encrypt(
        plaintext,
        subscription.public_key,
        subscription.public_key_bytes,
        subscription.auth_secret,
        MAX_RECORD_SIZE,
        salt=salt,
        sender_key=ephemeral,
    )
    if len(body) > MAX_RECORD_SIZE:  # cannot happen after check_size; never send it anyway
        raise PayloadTooLarge(f"encrypted record is {len(body)} bytes, over {MAX_RECORD_SIZE}")
    return body


def topic_for(message_id: str) -> str:
    """The `Topic` header: the message id when it already is base64url of at most 32
    characters, else a base64url digest of it (32 characters). A redelivered duplicate has
    the same topic, so the push service replaces the undelivered first copy."""
    if _TOPIC.fullmatch(message_id):
        return message_id
    digest = hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).digest()
    return base64.urlsafe_b64encode(digest).decode()[:MAX_TOPIC_LENGTH]
