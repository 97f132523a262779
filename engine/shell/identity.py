"""Identity verification for routes that name a user on behalf of an unauthenticated
caller (a browser): OneSignal's identity verification, Intercom's `user_hash`.

The site's backend knows who is logged in and computes `user_hash` = hex
HMAC-SHA256(identity_secret, user id); the page hands it to the SDK, which sends it with
the user id. Without the secret nobody can name another user. Framework-free, so the
embedded runtime's HTTP API and a future gateway in front of the Kafka workers share it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping

from engine.rules.config import MIN_SECRET_LENGTH

FIELD = "user_hash"
ENV = "PUSHCAST_IDENTITY_SECRET"


class IdentityRefused(Exception):
    """`status` 401 when `user_hash` is missing, 403 when it is not the user's; the
    message names the field and says how it is computed."""

    field = FIELD

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def user_hash(secret: bytes, user: str) -> str:
    """What the site's backend computes: hex HMAC-SHA256(secret, user id as UTF-8)."""
    return hmac.new(secret, user.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def verify_user(secret: bytes | None, user: str, given: object) -> None:
    """Raise IdentityRefused unless `given` is `user`'s hash; no secret: every user id
    is trusted (the runtime says so at start)."""
    if secret is None:
        return
    if given is None or given == "":
        raise IdentityRefused(401, f"{FIELD}: required: identity verification is on, so a browser must send "
                                   f"the hex HMAC-SHA256 of the user id with identity_secret, computed by your backend")
    if not isinstance(given, str):
        raise IdentityRefused(403, f"{FIELD}: expected a hex string, got {type(given).__name__}")
    expected = user_hash(secret, user).encode()
    # Constant time: the comparison must not tell how many leading characters match.
    if not hmac.compare_digest(expected, given.strip().lower().encode("utf-8", "surrogatepass")):
        raise IdentityRefused(403, f"{FIELD}: not the HMAC-SHA256 of this user id with identity_secret")


def identity_secret(configured: str | None, environ: Mapping[str, str] = os.environ) -> bytes | None:
    """The secret from $PUSHCAST_IDENTITY_SECRET, else pushcast.yaml's identity_secret;
    None when neither is set. ValueError for a secret too short to be safe."""
    value = environ.get(ENV) or configured
    if not value:
        return None
    if len(value) < MIN_SECRET_LENGTH:
        source = f"${ENV}" if environ.get(ENV) else "identity_secret"
        raise ValueError(f"{source}: must be at least {MIN_SECRET_LENGTH} characters (try: openssl rand -hex 32)")
    return value.encode("utf-8")
