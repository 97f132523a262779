"""Send de-duplication in Redis: at most one delivery per (message id, endpoint).

Before a message goes to a subscription, its key is claimed with `SET NX` and a short
lease (`pending:<owner>`); the owner renews the lease while it sends (retries with
back-off can take long) and marks the key `done|<outcome>|<status>|<reason>` after, kept
for `done_ttl`. A redelivered message (a worker crashed before committing its Kafka
offset) then finds `done` and is not sent again: its outcome is reported again instead.

The remaining window: an owner that dies after the push service accepted the message but
before marking it done leaves a `pending` claim; once the lease runs out, the next
attempt sends again. The web push `Topic` header (the message id) makes the push service
replace the first copy if the browser has not received it yet.

If Redis is unreachable, claims succeed (sending goes on, de-duplication is lost for that
time) and the failure is logged: Redis holds no state that matters more than delivery.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid
from dataclasses import dataclass

log = logging.getLogger(__name__)

CLAIMED, DONE, BUSY = "claimed", "done", "busy"

# KEYS: the keys. ARGV: owner, lease ms. Returns, per key, "claimed", "busy" or the done
# value. All keys in one script call: one round trip (EVALSHA), where a pipeline of
# scripts costs a SCRIPT EXISTS round trip before it on every call (redis-py).
_CLAIM = """
local out = {}
local pending = "pending:" .. ARGV[1]
for i, key in ipairs(KEYS) do
  local value = redis.call("GET", key)
  if not value then
    redis.call("SET", key, pending, "PX", ARGV[2])
    out[i] = "claimed"
  elseif value == pending then
    redis.call("PEXPIRE", key, ARGV[2])
    out[i] = "claimed"
  elseif string.sub(value, 1, 5) == "done|" then
    out[i] = value
  else
    out[i] = "busy"
  end
end
return out
"""

# KEYS: keys. ARGV[1]: owner, ARGV[2]: lease ms. Extends only this owner's claims.
_RENEW = """
local n = 0
for _, key in ipairs(KEYS) do
  if redis.call("GET", key) == "pending:" .. ARGV[1] then
    redis.call("PEXPIRE", key, ARGV[2]); n = n + 1
  end
end
return n
"""


@dataclass(frozen=True)
class Claim:
    key: str
    state: str  # claimed | done | busy
    outcome: str = ""  # for done: sent | failed | unsubscribed
    status: int | None = None
    reason: str = ""


def dedup_key(prefix: str, message_id: str, endpoint: str) -> str:
    digest = hashlib.blake2b(endpoint.encode(), digest_size=12).digest()
    return f"{prefix}{message_id}:{base64.urlsafe_b64encode(digest).decode()}"


def _parse(key: str, value) -> Claim:
    if isinstance(value, bytes):
        value = value.decode()
    if value in (CLAIMED, BUSY):
        return Claim(key, value)
    _, outcome, status, reason = value.split("|", 3)
    return Claim(key, DONE, outcome, int(status) if status else None, reason)


class RedisSendDedup:
    def __init__(self, redis, *, prefix: str = "pushcast:sent:", lease_ms: int = 15_000,
                 done_ttl_ms: int = 2 * 86_400_000, owner: str | None = None):
        self._redis = redis
        self.prefix = prefix
        self.lease_ms = lease_ms
        self.done_ttl_ms = done_ttl_ms
        self.owner = owner or uuid.uuid4().hex
        self._claim = redis.register_script(_CLAIM)
        self._renew = redis.register_script(_RENEW)
        self._warned = False

    @classmethod
    def from_url(cls, url: str, **kwargs) -> "RedisSendDedup":
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        return cls(client, **kwargs)

    def key(self, message_id: str, endpoint: str) -> str:
        return dedup_key(self.prefix, message_id, endpoint)

    async def claim(self, keys: list[str]) -> list[Claim]:
        """Claim each key for this owner; one round trip."""
        if not keys:
            return []
        try:
            values = await self._claim(keys=keys, args=[self.owner, self.lease_ms])
        except Exception as exc:
            self._degraded(exc)
            return [Claim(key, CLAIMED) for key in keys]
        self._recovered()
        return [_parse(key, value) for key, value in zip(keys, values)]

    async def renew(self, keys: list[str]) -> None:
        if not keys:
            return
        try:
            await self._renew(keys=keys, args=[self.owner, self.lease_ms])
        except Exception as exc:
            self._degraded(exc)

    async def done(self, results: list[tuple[str, str, int | None, str]]) -> None:
        """Mark (key, outcome, status, reason) as done."""
        if not results:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, outcome, status, reason in results:
                    value = f"done|{outcome}|{'' if status is None else status}|{reason[:200]}"
                    pipe.set(key, value, px=self.done_ttl_ms)
                await pipe.execute()
        except Exception as exc:
            self._degraded(exc)

    def _degraded(self, exc: Exception) -> None:
        if not self._warned:
            self._warned = True
            log.warning("Redis send de-duplication failed (%r): sending without it until Redis is back", exc)

    def _recovered(self) -> None:
        if self._warned:
            self._warned = False
            log.warning("Redis send de-duplication is back")

    async def close(self) -> None:
        await self._redis.aclose()


class MemorySendDedup(RedisSendDedup):
    """The same contract in one process (unit tests, a worker without Redis)."""

    def __init__(self, *, prefix: str = "pushcast:sent:", owner: str | None = None):
        self.prefix = prefix
        self.owner = owner or uuid.uuid4().hex
        self.lease_ms = 0
        self.values: dict[str, str] = {}
        self._warned = False

    async def claim(self, keys: list[str]) -> list[Claim]:
        claims = []
        for key in keys:
            value = self.values.get(key)
            if value is None or value == f"pending:{self.owner}":
                self.values[key] = f"pending:{self.owner}"
                claims.append(Claim(key, CLAIMED))
            elif value.startswith("done|"):
                claims.append(_parse(key, value))
            else:
                claims.append(Claim(key, BUSY))
        return claims

    async def renew(self, keys: list[str]) -> None:
        return None

    async def done(self, results) -> None:
        for key, outcome, status, reason in results:
            self.values[key] = f"done|{outcome}|{'' if status is None else status}|{reason[:200]}"

    async def close(self) -> None:
        return None
