"""Per-client token buckets for the browser endpoints, in memory (the push sender's own
`TokenBucket`, one bucket per client address)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from connectors.push.ratelimit import TokenBucket


@dataclass(frozen=True)
class ClientRate:
    per_second: float
    burst: float


class ClientRateLimit:
    """`rate` requests a second per client, up to `burst` at once. Idle clients are
    forgotten so that the table stays small under a scan of many addresses."""

    def __init__(self, rate: float = 10.0, burst: float = 40.0, clock: Callable[[], float] = time.monotonic,
                 max_clients: int = 100_000):
        self.rate = ClientRate(rate, burst)
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, client: str) -> float:
        """0 when allowed; else the seconds until a request would be."""
        now = self.clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= self.max_clients:
                self._forget_full(now)
            bucket = self._buckets[client] = TokenBucket(self.rate, now)
        wait = bucket.reserve(now)
        if wait > 0:
            bucket.tokens += 1  # refused, not queued: the request takes no token
            return wait
        return 0.0

    def _forget_full(self, now: float) -> None:
        # A bucket refilled to the brim carries no information: drop those first.
        rate = self.rate
        full = [c for c, b in self._buckets.items() if b.tokens + (now - b.at) * rate.per_second >= rate.burst]
        for client in full:
            del self._buckets[client]
        if len(self._buckets) >= self.max_clients:
            self._buckets.clear()
