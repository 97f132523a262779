"""Per-client token buckets for the browser endpoints, in memory."""

from __future__ import annotations

import time
from typing import Callable


class ClientRateLimit:
    """`rate` requests a second per client, up to `burst` at once. Idle clients are
    forgotten so that the table stays small under a scan of many addresses."""

    def __init__(self, rate: float = 10.0, burst: float = 40.0, clock: Callable[[], float] = time.monotonic,
                 max_clients: int = 100_000):
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, at)

    def take(self, client: str) -> float:
        """0 when allowed; else the seconds until a request would be."""
        now = self.clock()
        tokens, at = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens < 1:
            self._buckets[client] = (tokens, now)
            return (1 - tokens) / self.rate
        if len(self._buckets) >= self.max_clients and client not in self._buckets:
            self._forget_full(now)
        self._buckets[client] = (tokens - 1, now)
        return 0.0

    def _forget_full(self, now: float) -> None:
        # A bucket refilled to the brim carries no information: drop those first.
        full = [c for c, (t, at) in self._buckets.items() if t + (now - at) * self.rate >= self.burst]
        for client in full:
            del self._buckets[client]
        if len(self._buckets) >= self.max_clients:
            self._buckets.clear()
