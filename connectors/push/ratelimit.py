"""Token buckets per push service, in memory or shared by every sender through Redis.

A limiter answers `reserve(service)` with how long to wait before sending (0 when a token
is there): waits are reserved in order, so concurrent senders are spaced at the configured
rate rather than all retrying at once. `pause(service, seconds)` applies a push service's
`Retry-After` to the whole service: no refill until then, so every sender backs off.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Protocol

from connectors.push.errors import PushConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rate:
    """`per_second` sustained, up to `burst` at once."""

    per_second: float
    burst: float

    def __post_init__(self) -> None:
        if not self.per_second > 0:
            raise PushConfigError(f"push_services: rate must be above 0, got {self.per_second!r}")
        if not self.burst >= 1:
            raise PushConfigError(f"push_services: burst must be at least 1, got {self.burst!r}")


# FCM's default project quota is 600,000 messages a minute; the others publish no number.
DEFAULT_RATES = {"fcm.googleapis.com": Rate(10_000, 20_000)}
DEFAULT_RATE = Rate(1_000, 2_000)


class RateLimiter(Protocol):
    async def reserve(self, service: str) -> float: ...

    async def pause(self, service: str, seconds: float) -> None: ...


class NoRateLimit:
    async def reserve(self, service: str) -> float:
        return 0.0

    async def pause(self, service: str, seconds: float) -> None:
        return None


class TokenBucket:
    """A bucket whose time may run ahead of now: that is a pause, or reservations made.
    `rate` is anything with `per_second` and `burst` (push services, browser clients)."""

    __slots__ = ("rate", "tokens", "at")

    def __init__(self, rate: Rate, now: float):
        self.rate = rate
        self.tokens = rate.burst
        self.at = now

    def reserve(self, now: float, count: float = 1.0) -> float:
        rate, at = self.rate, self.at  # once each: this runs for every push
        if now > at:
            tokens = min(rate.burst, self.tokens + (now - at) * rate.per_second) - count
            self.at = at = now
        else:
            tokens = self.tokens - count
        self.tokens = tokens
        if tokens < 0:
            return at - now - tokens / rate.per_second
        return at - now

    def pause(self, now: float, seconds: float) -> None:
        until = now + seconds
        if until > self.at:
            self.reserve(now, 0.0)
            self.tokens = min(self.tokens, 0.0)
            self.at = until


class MemoryRateLimiter:
    """Buckets in this process only (each process gets the full rate)."""

    def __init__(
        self,
        rates: Mapping[str, Rate] | None = None,
        default: Rate | None = DEFAULT_RATE,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._rates = dict(DEFAULT_RATES if rates is None else rates)
        self._default = default
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def _bucket(self, service: str) -> TokenBucket | None:
        bucket = self._buckets.get(service)
        if bucket is None:
            rate = self._rates.get(service, self._default)
            if rate is None:
                return None
            bucket = self._buckets[service] = TokenBucket(rate, self._clock())
        return bucket

    def reserve_now(self, service: str, count: float = 1.0) -> float:
        bucket = self._buckets.get(service) or self._bucket(service)  # no call once it exists
        return 0.0 if bucket is None else bucket.reserve(self._clock(), count)

    async def reserve(self, service: str) -> float:
        return self.reserve_now(service)

    async def pause(self, service: str, seconds: float) -> None:
        bucket = self._bucket(service)
        if bucket is not None:
            bucket.pause(self._clock(), seconds)


# Both scripts start alike: read the clock (ARGV[4], or Redis' own when "") and the
# bucket, and refill it up to now.
_REFILL = """
local now
if ARGV[4] ~= "" then now = tonumber(ARGV[4]) else
  local t = redis.call("TIME"); now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000 end
local state = redis.call("HMGET", KEYS[1], "tokens", "at")
local tokens, at = tonumber(state[1]), tonumber(state[2])
if tokens == nil or at == nil then tokens, at = burst, now end
if now > at then tokens = math.min(burst, tokens + (now - at) * rate / 1000); at = now end
"""

# KEYS[1]: the bucket. ARGV: rate/s, burst, count, now in ms ("" = Redis' own clock).
# Returns the wait in ms as a string (Lua numbers would be truncated to integers).
_RESERVE = """
local rate, burst, count = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
""" + _REFILL + """tokens = tokens - count
local wait = at - now
if tokens < 0 then wait = wait + (-tokens) * 1000 / rate end
redis.call("HSET", KEYS[1], "tokens", tostring(tokens), "at", tostring(at))
redis.call("PEXPIRE", KEYS[1], math.ceil(wait + burst * 1000 / rate + 60000))
return tostring(wait)
"""

# KEYS[1]: the bucket. ARGV: rate/s, burst, pause ms, now ms ("" = Redis' clock).
_PAUSE = """
local rate, burst, pause = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
""" + _REFILL + """if now + pause > at then tokens = math.min(tokens, 0); at = now + pause end
redis.call("HSET", KEYS[1], "tokens", tostring(tokens), "at", tostring(at))
redis.call("PEXPIRE", KEYS[1], math.ceil(at - now + burst * 1000 / rate + 60000))
return "ok"
"""


class _Lease:
    __slots__ = ("tokens", "ready_at", "expires", "lock")

    def __init__(self) -> None:
        self.tokens = 0
        self.ready_at = 0.0
        self.expires = 0.0
        self.lock = asyncio.Lock()


class RedisRateLimiter:
    """Buckets in Redis, shared by every sender process (one Lua script per call).

    To keep Redis off the per-message path, a process takes tokens in small leases (about
    20 ms of the rate, at most `max_lease`) and spends them locally; leftovers expire after
    `lease_ttl`. If Redis fails, it falls back to in-memory buckets and logs it: rate
    precision is lost, sending goes on.

    `clock` (epoch seconds) is for tests; by default the bucket time is Redis' own clock,
    the same for every process.
    """

    def __init__(
        self,
        redis,
        rates: Mapping[str, Rate] | None = None,
        default: Rate | None = DEFAULT_RATE,
        *,
        prefix: str = "pushcast:rate:",
        max_lease: int = 64,
        lease_ttl: float = 1.0,
        clock: Callable[[], float] | None = None,
        local_clock: Callable[[], float] = time.monotonic,
    ):
        self._redis = redis
        self._rates = dict(DEFAULT_RATES if rates is None else rates)
        self._default = default
        self._prefix = prefix
        self._max_lease = max_lease
        self._lease_ttl = lease_ttl
        self._clock = clock
        self._local_clock = local_clock
        self._reserve_script = redis.register_script(_RESERVE)
        self._pause_script = redis.register_script(_PAUSE)
        self._leases: dict[str, _Lease] = {}
        self._fallback = MemoryRateLimiter(self._rates, default, local_clock)
        self._failing_since: float | None = None
        self._retry_at = 0.0

    RETRY_REDIS_AFTER = 5.0  # seconds on the fallback before trying Redis again

    @classmethod
    def from_url(cls, url: str, rates=None, default=DEFAULT_RATE, **kwargs) -> "RedisRateLimiter":
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        return cls(client, rates, default, **kwargs)

    def _now_arg(self) -> str:
        return "" if self._clock is None else repr(self._clock() * 1000.0)

    async def reserve(self, service: str) -> float:
        rate = self._rates.get(service, self._default)
        if rate is None:
            return 0.0
        lease = self._leases.get(service)
        if lease is None:
            lease = self._leases[service] = _Lease()
        async with lease.lock:
            now = self._local_clock()
            if self._failing_since is not None and now < self._retry_at:
                return self._fallback.reserve_now(service)
            if lease.tokens <= 0 or now >= lease.expires:
                size = int(max(1, min(self._max_lease, rate.per_second / 50, rate.burst)))
                try:
                    wait_ms = await self._reserve_script(
                        keys=[self._prefix + service],
                        args=[repr(rate.per_second), repr(rate.burst), size, self._now_arg()],
                    )
                except Exception as exc:  # any Redis failure: keep sending, less precisely
                    return self._degraded(service, exc)
                self._recovered()
                wait = float(wait_ms) / 1000.0
                lease.tokens = size
                lease.ready_at = now + wait
                lease.expires = lease.ready_at + self._lease_ttl
            lease.tokens -= 1
            return max(0.0, lease.ready_at - now)

    async def pause(self, service: str, seconds: float) -> None:
        rate = self._rates.get(service, self._default)
        if rate is None:
            return
        lease = self._leases.get(service)
        if lease is not None:
            lease.tokens = 0  # tokens leased before the pause must not be spent during it
        try:
            await self._pause_script(
                keys=[self._prefix + service],
                args=[repr(rate.per_second), repr(rate.burst), repr(seconds * 1000.0), self._now_arg()],
            )
        except Exception as exc:
            self._degraded(service, exc)
            await self._fallback.pause(service, seconds)
            return
        self._recovered()

    def _degraded(self, service: str, exc: Exception) -> float:
        now = self._local_clock()
        self._retry_at = now + self.RETRY_REDIS_AFTER
        if self._failing_since is None:
            self._failing_since = now
            log.warning("Redis rate limiter failed (%s); limiting in memory until it is back", exc)
        return self._fallback.reserve_now(service)

    def _recovered(self) -> None:
        if self._failing_since is not None:
            log.warning("Redis rate limiter is back after %.1fs", self._local_clock() - self._failing_since)
            self._failing_since = None

    async def close(self) -> None:
        await self._redis.aclose()
