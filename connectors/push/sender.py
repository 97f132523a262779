"""The async sender: encrypt, sign, rate-limit, send, retry; one `SendResult` per message.

Per message: the endpoint is checked against the allow-list, the payload encrypted once
(a fresh ECDH key, RFC 8291), then each attempt waits for the push service's token
bucket, takes one of `concurrency` slots for the HTTP exchange only (waits hold no slot),
and reads the answer:

- 2xx: sent. 404/410: unsubscribed (the subscription must be removed).
- 429, 500, 502, 503, 504, no response: retried after exponential back-off with jitter,
  or after `Retry-After` when given (a 429/503 `Retry-After` also pauses the whole push
  service, up to `max_pause`), while the next try still falls within the retry window
  (the message's TTL, at most `max_retry_window`) and `max_attempts`. The TTL header of a
  retry is what remains of the message's TTL.
- anything else (400, 401, 403, 413, ...): failed, with the push service's body.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Callable, Iterable

from connectors.push.allowlist import AllowList
from connectors.push.errors import PushError, TransportError
from connectors.push.http1 import Http1Transport
from connectors.push.message import PushMessage, SendResult
from connectors.push.payload import build_payload, encrypt, topic_for
from connectors.push.ratelimit import MemoryRateLimiter, RateLimiter
from connectors.push.retry import (
    FAILED,
    RETRY,
    SENT,
    UNSUBSCRIBED,
    Backoff,
    classify,
    describe,
    parse_retry_after,
)
from connectors.push.slots import Slots
from connectors.push.transport import PushRequest, Transport
from connectors.push.vapid import VapidSigner

log = logging.getLogger(__name__)


def _raise_if_cancelling() -> None:
    """A send being cancelled stops before it retries. Python 3.11's `asyncio.wait_for`
    can turn a cancellation that races the connection's own failure into that failure
    (the transport's connect and pool waits use it); retrying then would hold a stopping
    runtime for the whole backoff (minutes)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError()


class Sender:
    """Sends `PushMessage`s. `clock` (monotonic seconds), `wallclock` (epoch seconds),
    `sleep` and `rng` are injectable so that tests run retries without waiting."""

    def __init__(
        self,
        vapid: VapidSigner,
        transport: Transport | None = None,
        allowlist: AllowList | None = None,
        rate_limiter: RateLimiter | None = None,
        *,
        concurrency: int = 256,
        max_retry_window: float = 3600.0,
        max_attempts: int = 8,
        timeout: float = 10.0,
        backoff: Backoff = Backoff(),
        max_pause: float = 300.0,
        on_result: Callable[[SendResult], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wallclock: Callable[[], float] = time.time,
        sleep: Callable[[float], "asyncio.Future | object"] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ):
        if concurrency < 1 or max_attempts < 1 or timeout <= 0 or max_retry_window < 0:
            raise ValueError(
                "Sender: concurrency and max_attempts must be >= 1, timeout > 0, "
                "max_retry_window >= 0"
            )
        self._vapid = vapid
        self._allowlist = allowlist or AllowList()
        # Push services are far away: throughput is connections / round trip (HTTP/1.1),
        # so allow as many connections per service as requests in flight.
        self._transport = transport or Http1Transport(
            address_guard=self._allowlist.permits_address,
            max_connections_per_origin=concurrency,
        )
        self._limiter = rate_limiter or MemoryRateLimiter(clock=clock)
        # an in-memory limiter answers without awaiting: skip a coroutine per attempt
        self._reserve_now = getattr(self._limiter, "reserve_now", None)
        self._slots = Slots(concurrency)
        self._concurrency = concurrency
        self._max_retry_window = max_retry_window
        self._max_attempts = max_attempts
        self._timeout = timeout
        self._backoff = backoff
        self._max_pause = max_pause
        self._on_result = on_result
        self._clock = clock
        self._wallclock = wallclock
        self._sleep = sleep
        self._rng = rng

    async def send(self, msg: PushMessage) -> SendResult:
        """Send one message, retrying as needed; never raises for a delivery problem.

        One coroutine for the whole message, its attempts included: per push, a second
        coroutine and its frame cost more than the tidier code would be worth. Each
        outcome sets `result` and leaves the loop."""
        clock = self._clock
        start = clock()
        try:
            sub = msg.subscription
            allowlist = self._allowlist
            service = allowlist.check(sub)
            body = encrypt(build_payload(msg.message_id, msg.campaign, msg.payload,
                                         allowlist.takes_declarative(service)), sub)
            msg_ttl = msg.ttl
            topic = topic_for(msg.message_id)
            reserve_now = self._reserve_now
            slots = self._slots
            attempts = 0
            while True:
                wait = reserve_now(service) if reserve_now is not None else (
                    await self._limiter.reserve(service))
                if wait > 0:
                    await self._sleep(wait)
                ttl = msg_ttl - int(clock() - start)
                if msg_ttl > 0 and ttl <= 0:
                    result = self._result(
                        msg, FAILED, None,
                        f"expired: its TTL of {msg_ttl}s ran out before delivery", attempts, start,
                    )
                    break
                attempts += 1
                request = PushRequest(sub.endpoint, {
                    "TTL": str(ttl) if ttl > 0 else "0",
                    "Urgency": msg.urgency,
                    "Topic": topic,
                    "Content-Type": "application/octet-stream",
                    "Content-Encoding": "aes128gcm",
                    "Authorization": self._vapid.authorization(sub.origin, self._wallclock()),
                }, body, self._timeout)
                if not slots.take():  # a free slot is taken without a coroutine
                    await slots.wait()
                try:
                    response = await self._transport.send(request)
                except TransportError as exc:
                    _raise_if_cancelling()
                    if not exc.retryable:
                        result = self._result(msg, FAILED, None, str(exc), attempts, start)
                        break
                    response, status, reason, retry_after = None, None, f"no response: {exc}", None
                finally:
                    slots.release()
                if response is not None:
                    status = response.status
                    if 200 <= status < 300:  # the common case, without classify
                        result = SendResult(msg, SENT, status, "", attempts, clock() - start)
                        break
                    verdict = classify(status)
                    if verdict == UNSUBSCRIBED or verdict == FAILED:
                        result = self._result(msg, verdict, status, describe(response), attempts,
                                              start)
                        break
                    assert verdict == RETRY
                    reason = describe(response)
                    headers_in = response.headers
                    retry_after = parse_retry_after(
                        headers_in.get("retry-after"), headers_in.get("date"), self._wallclock()
                    )
                result = await self._before_retry(msg, service, attempts, status, reason,
                                                  retry_after, start)
                if result is not None:
                    break
        except PushError as exc:
            result = self._result(msg, FAILED, None, str(exc), 0, start)
        except Exception as exc:  # a bug must cost one message, not the batch
            log.exception("sending message %s failed unexpectedly", msg.message_id)
            result = self._result(msg, FAILED, None, f"internal error: {exc!r}", 0, start)
        if self._on_result is not None:
            self._on_result(result)
        return result

    async def send_many(self, msgs: Iterable[PushMessage]) -> list[SendResult]:
        """Send all, `concurrency` at a time; results in the order of `msgs`.

        Workers take the next message as they finish one (no task per message). A message
        waiting out a push service's pause holds its worker, so a long pause of one service
        slows a mixed batch: a stream over many services is better fed to `send` directly.
        """
        msgs = list(msgs)
        results: list[SendResult | None] = [None] * len(msgs)
        queue = iter(enumerate(msgs))

        async def worker() -> None:
            for index, msg in queue:  # shared: each message is taken by one worker
                results[index] = await self.send(msg)

        await asyncio.gather(*(worker() for _ in range(min(self._concurrency, len(msgs)))))
        return results  # type: ignore[return-value]

    async def close(self) -> None:
        """Close the transport (its pooled connections)."""
        await self._transport.close()

    async def _before_retry(self, msg: PushMessage, service: str, attempts: int,
                            status: int | None, reason: str, retry_after: float | None,
                            start: float) -> SendResult | None:
        """After an attempt to retry: wait out the back-off (and pause the push service on a
        429/503 `Retry-After`) and return None, or the result when no retry may follow."""
        delay = self._backoff.delay(attempts, self._rng)
        if retry_after is not None:
            delay = retry_after if status == 429 else max(delay, retry_after)
            if status in (429, 503):
                await self._limiter.pause(service, min(retry_after, self._max_pause))
        if attempts >= self._max_attempts:
            return self._result(
                msg, FAILED, status, f"gave up after {attempts} attempts: {reason}",
                attempts, start,
            )
        window = min(float(msg.ttl), self._max_retry_window)
        if self._clock() + delay > start + window:
            return self._result(
                msg, FAILED, status,
                f"gave up after {attempts} attempts: {reason}; the next try (in "
                f"{delay:.1f}s) would fall outside the retry window of {window:.0f}s",
                attempts, start,
            )
        _raise_if_cancelling()
        await self._sleep(delay)
        return None

    def _result(self, msg, outcome, status, reason, attempts, start) -> SendResult:
        return SendResult(msg, outcome, status, reason, attempts, self._clock() - start)
