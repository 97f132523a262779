"""The Sender against a mock transport, on a fake clock: headers, outcomes, retries."""

import asyncio
import base64
import json

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from connectors.push import (
    AllowList, MemoryRateLimiter, PushMessage, Rate, Sender, Subscription, TransportError,
)
from connectors.push.payload import MAX_PLAINTEXT
from connectors.push.retry import Backoff
from connectors.push.transport import MockTransport, PushResponse
from connectors.push.vapid import VapidSigner

FCM = "https://fcm.googleapis.com/fcm/send/"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Browser:
    """A subscription whose private key we hold, so tests can decrypt what was sent."""

    def __init__(self, endpoint: str):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = b"0123456789abcdef"
        public = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.subscription = Subscription(endpoint, b64(public), b64(self.auth))

    def decrypt(self, body: bytes) -> dict:
        return json.loads(http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"))


class FakeTime:
    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def wallclock(self) -> float:
        return 1_795_000_000.0 + self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds
        await asyncio.sleep(0)


def replies(*answers):
    """A handler answering successive requests with `answers` (PushResponse or exception)."""
    queue = list(answers)

    def handler(request):
        answer = queue.pop(0) if queue else PushResponse(201)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler


SIGNER = VapidSigner(ec.generate_private_key(ec.SECP256R1()), "mailto:ops@example.com")


def make_sender(handler, time_=None, **kwargs):
    time_ = time_ or FakeTime()
    transport = MockTransport(handler)
    kwargs.setdefault("rate_limiter", MemoryRateLimiter({}, default=None))
    kwargs.setdefault("backoff", Backoff(base=1.0, cap=60.0, jitter=0.5))
    sender = Sender(SIGNER, transport, clock=time_.clock, wallclock=time_.wallclock,
                    sleep=time_.sleep, rng=lambda: 0.0, **kwargs)
    return sender, transport, time_


def message(browser=None, **overrides):
    browser = browser or Browser(FCM + "abc")
    fields = dict(message_id="kJ3_x-9aQ2mZ0pLr7sTuVw", campaign="cart", user="u-42",
                  subscription=browser.subscription,
                  payload={"title": "Trail shoes?", "body": "Your cart is waiting", "url": "https://shop.example/c"},
                  ttl=86400, urgency="high")
    fields.update(overrides)
    return PushMessage(**fields)


async def test_sent_with_every_header_and_a_decryptable_body():
    browser = Browser(FCM + "abc")
    sender, transport, _ = make_sender(replies(PushResponse(201)))
    result = await sender.send(message(browser))
    assert (result.outcome, result.status, result.attempts) == ("sent", 201, 1)
    (request,) = transport.requests
    assert request.url == FCM + "abc"
    headers = request.headers
    assert headers["TTL"] == "86400"
    assert headers["Urgency"] == "high"
    assert headers["Topic"] == "kJ3_x-9aQ2mZ0pLr7sTuVw"
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Encoding"] == "aes128gcm"
    assert headers["Authorization"].startswith("vapid t=") and f",k={SIGNER.public_key}" in headers["Authorization"]
    assert browser.decrypt(request.body) == {
        "title": "Trail shoes?", "body": "Your cart is waiting", "url": "https://shop.example/c",
        "message": "kJ3_x-9aQ2mZ0pLr7sTuVw", "campaign": "cart",
    }


@pytest.mark.parametrize("status", [404, 410])
async def test_gone_subscriptions_become_unsubscribe_results(status):
    sender, transport, _ = make_sender(replies(PushResponse(status, {}, b"expired")))
    result = await sender.send(message())
    assert (result.outcome, result.status, result.attempts) == ("unsubscribed", status, 1)
    assert [e["event"] for e in result.to_events(0)] == ["$notification_failed", "$push_unsubscribe"]


@pytest.mark.parametrize("status", [400, 401, 403, 413])
async def test_permanent_failures_are_not_retried_and_keep_the_body(status):
    body = b'{"code":%d,"errno":109,"message":"Request did not validate"}' % status
    sender, transport, time_ = make_sender(replies(PushResponse(status, {}, body)))
    result = await sender.send(message())
    assert (result.outcome, result.status, result.attempts) == ("failed", status, 1)
    assert "Request did not validate" in result.reason and result.reason.startswith(str(status))
    assert len(transport.requests) == 1 and time_.sleeps == []


async def test_429_waits_exactly_retry_after_seconds():
    sender, transport, time_ = make_sender(replies(PushResponse(429, {"retry-after": "17"}), PushResponse(201)))
    result = await sender.send(message())
    assert (result.outcome, result.attempts) == ("sent", 2)
    assert time_.sleeps == [17.0]
    assert result.latency == pytest.approx(17.0)


async def test_429_with_an_http_date_waits_until_then():
    answer = PushResponse(429, {"retry-after": "Wed, 25 Nov 2026 10:01:30 GMT", "date": "Wed, 25 Nov 2026 10:00:00 GMT"})
    sender, _, time_ = make_sender(replies(answer, PushResponse(201)))
    result = await sender.send(message())
    assert (result.outcome, result.attempts, time_.sleeps) == ("sent", 2, [90.0])


async def test_429_pauses_the_whole_push_service_for_other_messages():
    time_ = FakeTime()
    limiter = MemoryRateLimiter({}, default=Rate(1000, 1000), clock=time_.clock)
    sender, transport, _ = make_sender(
        replies(PushResponse(429, {"retry-after": "30"}), PushResponse(201), PushResponse(201)),
        time_, rate_limiter=limiter,
    )
    await sender.send(message())
    # the first message waited Retry-After itself (then one token's spacing, 1 ms)
    assert time_.sleeps[0] == 30.0 and sum(time_.sleeps) == pytest.approx(30.001)
    time_.sleeps.clear()
    time_.now -= 30  # a second message arriving at the moment of the 429
    await sender.send(message(Browser(FCM + "other")))
    assert time_.sleeps and time_.sleeps[0] >= 30.0


async def test_5xx_backs_off_exponentially_then_succeeds():
    sender, transport, time_ = make_sender(
        replies(PushResponse(503), PushResponse(502), PushResponse(500), PushResponse(201))
    )
    result = await sender.send(message())
    assert (result.outcome, result.attempts) == ("sent", 4)
    assert time_.sleeps == [1.0, 2.0, 4.0]  # rng 0: the full back-off


async def test_jitter_shortens_waits_by_up_to_half():
    sender, _, time_ = make_sender(replies(PushResponse(503), PushResponse(503), PushResponse(201)))
    sender._rng = lambda: 1.0
    await sender.send(message())
    assert time_.sleeps == [0.5, 1.0]


async def test_503_retry_after_is_a_minimum():
    sender, _, time_ = make_sender(replies(PushResponse(503, {"retry-after": "5"}), PushResponse(201)))
    await sender.send(message())
    assert time_.sleeps == [5.0]


async def test_gives_up_after_max_attempts_with_the_last_answer():
    sender, transport, _ = make_sender(replies(*[PushResponse(500, {}, b"boom")] * 10), max_attempts=3)
    result = await sender.send(message())
    assert (result.outcome, result.status, result.attempts) == ("failed", 500, 3)
    assert "gave up after 3 attempts" in result.reason and "boom" in result.reason


async def test_retries_stop_at_the_message_ttl():
    sender, transport, time_ = make_sender(replies(*[PushResponse(503)] * 10))
    result = await sender.send(message(ttl=5))
    # waits 1 + 2 = 3 s; the next (4 s) would end after the 5 s TTL
    assert (result.outcome, result.attempts, time_.sleeps) == ("failed", 3, [1.0, 2.0])
    assert "retry window of 5s" in result.reason


async def test_retry_after_beyond_the_window_gives_up_at_once():
    sender, transport, time_ = make_sender(replies(PushResponse(429, {"retry-after": "7200"})), max_retry_window=3600)
    result = await sender.send(message())
    assert (result.outcome, result.status, result.attempts, time_.sleeps) == ("failed", 429, 1, [])


async def test_ttl_header_counts_down_across_retries():
    sender, transport, time_ = make_sender(replies(PushResponse(429, {"retry-after": "100"}), PushResponse(201)))
    await sender.send(message(ttl=1000))
    assert [r.headers["TTL"] for r in transport.requests] == ["1000", "900"]


async def test_ttl_zero_is_sent_once_and_never_retried():
    sender, transport, _ = make_sender(replies(PushResponse(503)))
    result = await sender.send(message(ttl=0))
    assert (result.outcome, result.attempts) == ("failed", 1)
    assert transport.requests[0].headers["TTL"] == "0"


async def test_connection_errors_are_retried():
    sender, transport, time_ = make_sender(
        replies(TransportError("reset", "peer closed"), TransportError("timeout", "10s"), PushResponse(201))
    )
    result = await sender.send(message())
    assert (result.outcome, result.attempts, time_.sleeps) == ("sent", 3, [1.0, 2.0])


async def test_a_refused_address_is_not_retried():
    sender, transport, _ = make_sender(replies(TransportError("refused", "resolves to 10.0.0.1")))
    result = await sender.send(message())
    assert (result.outcome, result.status, result.attempts) == ("failed", None, 1)
    assert "refused" in result.reason


async def test_endpoints_off_the_allow_list_are_never_contacted():
    sender, transport, _ = make_sender(replies())
    evil = Browser("https://169.254.169.254/latest/meta-data")
    result = await sender.send(message(evil))
    assert (result.outcome, result.attempts) == ("failed", 0)
    assert "IP address" in result.reason and transport.requests == []


async def test_oversized_payload_fails_before_sending():
    sender, transport, _ = make_sender(replies())
    result = await sender.send(message(payload={"body": "x" * MAX_PLAINTEXT}))
    assert (result.outcome, result.attempts) == ("failed", 0)
    assert "payload too large" in result.reason and transport.requests == []


async def test_an_unexpected_error_costs_one_message_not_the_batch():
    def handler(request):
        if request.url.endswith("bad"):
            raise RuntimeError("bug")
        return PushResponse(201)

    sender, _, _ = make_sender(handler)
    results = await sender.send_many([message(Browser(FCM + "bad")), message(Browser(FCM + "good"))])
    assert [r.outcome for r in results] == ["failed", "sent"]
    assert "internal error" in results[0].reason


async def test_rate_limit_spaces_requests_to_one_service():
    time_ = FakeTime()
    limiter = MemoryRateLimiter({"fcm.googleapis.com": Rate(5, 1)}, clock=time_.clock)
    sender, transport, _ = make_sender(replies(), time_, rate_limiter=limiter)
    sender._sleep = _recording_only(time_)  # the clock stands still: waits add up
    await sender.send_many([message(Browser(FCM + str(i))) for i in range(5)])
    assert sorted(time_.sleeps) == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert len(transport.requests) == 5


def _recording_only(time_):
    async def sleep(seconds):
        time_.sleeps.append(round(seconds, 6))
        await asyncio.sleep(0)

    return sleep


async def test_send_many_keeps_order_and_bounds_concurrency():
    in_flight, peak = 0, 0

    async def handler(request):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.001)
        in_flight -= 1
        return PushResponse(410 if request.url.endswith("7") else 201)

    sender, transport, _ = make_sender(handler, concurrency=4)
    msgs = [message(Browser(FCM + str(i))) for i in range(20)]
    results = await sender.send_many(msgs)
    assert [r.message for r in results] == msgs
    assert [r.outcome for r in results].count("unsubscribed") == 2  # 7 and 17
    assert peak == 4


async def test_vapid_is_signed_once_per_push_service():
    signer = VapidSigner(ec.generate_private_key(ec.SECP256R1()), "mailto:ops@example.com")
    sender = Sender(signer, MockTransport(replies()), rate_limiter=MemoryRateLimiter({}, default=None))
    await sender.send_many([message(Browser(FCM + str(i))) for i in range(50)])
    await sender.send(message(Browser("https://updates.push.services.mozilla.com/wpush/v2/x")))
    assert signer.signatures == 2


async def test_on_result_sees_every_outcome_and_close_closes_the_transport():
    seen = []
    sender, transport, _ = make_sender(replies(PushResponse(201), PushResponse(410)), on_result=seen.append)
    await sender.send_many([message(), message()])
    assert sorted(r.outcome for r in seen) == ["sent", "unsubscribed"]
    await sender.close()
    assert transport.closed


def test_default_sender_refuses_a_custom_origin_unless_configured():
    sender = Sender(SIGNER)
    assert not sender._allowlist.allows("http://127.0.0.1:8090/x")
    configured = Sender(SIGNER, allowlist=AllowList(origins=["http://127.0.0.1:8090"]))
    assert configured._allowlist.allows("http://127.0.0.1:8090/x")


async def test_a_cancelled_send_never_retries_even_when_the_transport_swallows_the_cancellation():
    """Python 3.11's asyncio.wait_for may answer a cancellation that races a failed connect
    with the connect's error: the send must still stop, not sleep through its backoff."""
    connecting = asyncio.Event()

    async def refuses_after_cancel(request):
        connecting.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:  # what wait_for does when the connect failed meanwhile
            raise TransportError("connect", "cannot connect: refused") from None

    sender, transport, time_ = make_sender(refuses_after_cancel)
    task = asyncio.ensure_future(sender.send(message()))
    await connecting.wait()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)
    assert task in done, "the send went on retrying after it was cancelled"
    assert task.cancelled()
    assert time_.sleeps == [] and len(transport.requests) == 1
