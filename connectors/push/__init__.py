"""Web push delivery: VAPID (RFC 8292), aes128gcm (RFC 8291), a rate-limited async sender.

    signer = load_signer("vapid_private.pem", "mailto:ops@example.com")
    sender = Sender(signer)
    result = await sender.send(PushMessage(...))
    events = result.to_events(now_ms)
"""

from connectors.push.allowlist import DEFAULT_PUSH_HOSTS, AllowList
from connectors.push.errors import (
    PushConfigError,
    EndpointRefused,
    MessageError,
    PayloadTooLarge,
    PushError,
    SubscriptionError,
    TransportError,
    VapidError,
)
from connectors.push.message import PushMessage, SendResult
from connectors.push.ratelimit import MemoryRateLimiter, Rate, RedisRateLimiter
from connectors.push.sender import Sender
from connectors.push.subscription import Subscription
from connectors.push.vapid import VapidSigner, generate_keys, load_signer

__all__ = [
    "DEFAULT_PUSH_HOSTS", "AllowList", "PushConfigError", "EndpointRefused", "MessageError",
    "PayloadTooLarge", "PushError", "SubscriptionError", "TransportError", "VapidError",
    "PushMessage", "SendResult", "MemoryRateLimiter", "Rate", "RedisRateLimiter", "Sender",
    "Subscription", "VapidSigner", "generate_keys", "load_signer",
]
