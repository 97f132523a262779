"""What a push service's answer means, and how long to wait before trying again."""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Callable

from connectors.push.transport import PushResponse

SENT = "sent"
UNSUBSCRIBED = "unsubscribed"
RETRY = "retry"
FAILED = "failed"

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
GONE_STATUSES = frozenset({404, 410})
MAX_REASON = 500  # characters of the push service's body kept in a result


def classify(status: int) -> str:
    """2xx: sent. 404/410: the subscription is gone. 429 and 500/502/503/504: try again.
    Everything else (400 bad request, 401/403 VAPID rejected, 413 too large, redirects,
    other 5xx) fails for good: sending the same request again cannot succeed."""
    if 200 <= status < 300:
        return SENT
    if status in GONE_STATUSES:
        return UNSUBSCRIBED
    if status in RETRY_STATUSES:
        return RETRY
    return FAILED


def parse_retry_after(value: str | None, date: str | None, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP-date. A date
    is measured against the response's own `Date` header when there is one (immune to
    our clock's skew), else against `now` (epoch seconds). None when absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    reference = now
    if date:
        try:
            reference = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    return max(0.0, when - reference)


@dataclass(frozen=True)
class Backoff:
    """Exponential: `base`·2^(n-1) seconds before retry n, at most `cap`, then scaled by a
    random factor in [1 - jitter, 1] so that many failed messages do not retry together."""

    base: float = 1.0
    cap: float = 300.0
    jitter: float = 0.5

    def delay(self, retry: int, rng: Callable[[], float] = random.random) -> float:
        raw = min(self.cap, self.base * 2.0 ** (retry - 1))
        return raw * (1.0 - self.jitter * rng())


def describe(response: PushResponse) -> str:
    """`413 Payload Too Large: <the push service's body>`, the body cut to 500 characters."""
    try:
        phrase = HTTPStatus(response.status).phrase
    except ValueError:
        phrase = "Unknown"
    text = response.body.decode("utf-8", "replace").strip()
    if len(text) > MAX_REASON:
        text = text[: MAX_REASON - 3] + "..."
    return f"{response.status} {phrase}: {text}" if text else f"{response.status} {phrase}"
