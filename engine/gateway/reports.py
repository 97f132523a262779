"""Replayed reports: a (message, shown|clicked) report is forwarded to the workers once.

The embedded runtime counts a message's report once and answers a repeat with 204; the
gateway does the same without state of its own: the first report of a (message, kind)
claims a Redis key (shared by every gateway of the deployment), a repeat finds it taken
and is answered 204 without reaching Kafka. Without Redis the claims are this process's
own (bounded), so gateways behind a load balancer may each forward one copy.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

log = logging.getLogger(__name__)

CLAIM_DAYS = 30  # longer than any message's attribution window


class MemoryReportClaims:
    def __init__(self, size: int = 1_000_000):
        self.size = size
        self._seen: OrderedDict[str, None] = OrderedDict()

    async def claim(self, key: str) -> bool:
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return True

    async def release(self, key: str) -> None:
        self._seen.pop(key, None)

    async def close(self) -> None:
        pass


class RedisReportClaims:
    def __init__(self, url: str, prefix: str):
        import redis.asyncio

        self.client = redis.asyncio.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self.prefix = prefix

    async def claim(self, key: str) -> bool:
        from redis.exceptions import RedisError

        try:
            return bool(await self.client.set(self.prefix + key, b"1", nx=True, ex=CLAIM_DAYS * 86400))
        except (RedisError, OSError) as exc:
            # A report is worth more than its de-duplication: forward it (a repeat changes
            # nothing in the user's state; the workers count a message's report once).
            log.warning("report claims: Redis unavailable (%r); forwarding the report", exc)
            return True

    async def release(self, key: str) -> None:
        """The report could not be written: a retry of it must go through."""
        from redis.exceptions import RedisError

        try:
            await self.client.delete(self.prefix + key)
        except (RedisError, OSError):
            log.warning("report claims: could not release %s; a retry of it is answered as a repeat", key)

    async def close(self) -> None:
        await self.client.aclose()


def claim_key(message_id: str, kind: str) -> str:
    return f"{kind}:{message_id}"
