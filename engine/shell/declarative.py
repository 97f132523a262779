"""Which subscriptions are Apple's: Apple's push service always takes Declarative Web Push
messages (connectors/push/declarative.py builds them). Here, apart from the sender, so
that `pushcast test`'s simulator tells the same endpoints apart without loading it."""

from __future__ import annotations

from urllib.parse import urlsplit

APPLE_PUSH_DOMAIN = "push.apple.com"


def is_apple_push_service(endpoint: str) -> bool:
    host = (urlsplit(endpoint).hostname or "").lower()
    return host == APPLE_PUSH_DOMAIN or host.endswith("." + APPLE_PUSH_DOMAIN)
