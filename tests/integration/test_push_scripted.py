"""Retries, timeouts, resets and rate limits against a scripted push service on the wire.

Sleeps between attempts go through a fake sleep that records them and advances a fake
clock, so the spacing is asserted exactly and the tests take milliseconds; only the
timeout test waits (0.3 s) for a real timeout.
"""

import asyncio
import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from connectors.push import (
    AllowList, MemoryRateLimiter, PushMessage, Rate, Sender, Subscription, TransportError,
)
from connectors.push.http1 import Http1Transport
from connectors.push.retry import Backoff
from connectors.push.transport import AiohttpTransport, PushRequest
from connectors.push.vapid import VapidSigner
from tests.fixtures.push_emulator import Reply, Reset, ScriptedPushServer

pytestmark = pytest.mark.integration

SIGNER = VapidSigner(ec.generate_private_key(ec.SECP256R1()), "mailto:ops@shop.example")
KEY = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
    serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
)
P256DH = base64.urlsafe_b64encode(KEY).rstrip(b"=").decode()
AUTH = base64.urlsafe_b64encode(b"0123456789abcdef").rstrip(b"=").decode()


class FakeTime:
    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self):
        return self.now

    def wallclock(self):
        return 1_795_000_000.0 + self.now

    async def sleep(self, seconds):
        self.sleeps.append(round(seconds, 6))
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture(params=["http1", "aiohttp"])
def transport_class(request):
    return Http1Transport if request.param == "http1" else AiohttpTransport


@pytest.fixture
def make_sender(scripted_push_server, transport_class):
    def make(time_, **kwargs):
        allowlist = AllowList(origins=[scripted_push_server.origin])
        transport = transport_class(address_guard=allowlist.permits_address)
        kwargs.setdefault("rate_limiter", MemoryRateLimiter({}, default=None))
        return Sender(SIGNER, transport, allowlist, clock=time_.clock, wallclock=time_.wallclock,
                      sleep=time_.sleep, rng=lambda: 0.0, backoff=Backoff(1.0, 60.0, 0.5), **kwargs)

    return make


def message(server, path, message_id="kJ3_x-9aQ2mZ0pLr7sTuVw", ttl=3600):
    return PushMessage(message_id, "cart", "u-42", Subscription(server.url(path), P256DH, AUTH),
                       {"title": "Hi"}, ttl=ttl, urgency="low")


async def test_headers_on_the_wire(scripted_push_server, make_sender):
    time_ = FakeTime()
    sender = make_sender(time_)
    result = await sender.send(message(scripted_push_server, "/wp/1"))
    await sender.close()
    assert result.outcome == "sent"
    (seen,) = scripted_push_server.received("/wp/1")
    assert seen.headers["TTL"] == "3600"
    assert seen.headers["Urgency"] == "low"
    assert seen.headers["Topic"] == "kJ3_x-9aQ2mZ0pLr7sTuVw"
    assert seen.headers["Content-Type"] == "application/octet-stream"
    assert seen.headers["Content-Encoding"] == "aes128gcm"
    assert seen.headers["Authorization"].startswith("vapid t=ey")
    assert seen.headers["Content-Length"] == str(len(seen.body))
    assert seen.body[16:20] == b"\x00\x00\x10\x00" and seen.body[20] == 65  # rs 4096, keyid


async def test_429_with_retry_after_seconds(scripted_push_server, make_sender):
    server = scripted_push_server
    server.script("/wp/a", Reply(429, {"Retry-After": "3"}, b"slow down"), Reply(201))
    time_ = FakeTime()
    sender = make_sender(time_)
    result = await sender.send(message(server, "/wp/a"))
    await sender.close()
    assert (result.outcome, result.attempts) == ("sent", 2)
    assert len(server.received("/wp/a")) == 2
    assert time_.sleeps == [3.0]
    assert [r.headers["TTL"] for r in server.received("/wp/a")] == ["3600", "3597"]


async def test_429_with_retry_after_http_date(scripted_push_server, make_sender):
    server = scripted_push_server
    server.script("/wp/b", Reply(429, {"Date": "Wed, 25 Nov 2026 10:00:00 GMT",
                                       "Retry-After": "Wed, 25 Nov 2026 10:00:07 GMT"}), Reply(201))
    time_ = FakeTime()
    sender = make_sender(time_)
    result = await sender.send(message(server, "/wp/b"))
    await sender.close()
    assert (result.outcome, result.attempts, time_.sleeps) == ("sent", 2, [7.0])


async def test_503_then_201(scripted_push_server, make_sender):
    server = scripted_push_server
    server.script("/wp/c", Reply(503), Reply(503), Reply(201))
    time_ = FakeTime()
    sender = make_sender(time_)
    result = await sender.send(message(server, "/wp/c"))
    await sender.close()
    assert (result.outcome, result.status, result.attempts) == ("sent", 201, 3)
    assert time_.sleeps == [1.0, 2.0]


async def test_persistent_503_gives_up_within_the_ttl(scripted_push_server, make_sender):
    server = scripted_push_server
    server.script("/wp/d", *[Reply(503, body=b"overloaded")] * 10)
    time_ = FakeTime()
    sender = make_sender(time_)
    result = await sender.send(message(server, "/wp/d", ttl=10))
    await sender.close()
    assert (result.outcome, result.status, result.attempts) == ("failed", 503, 4)
    assert time_.sleeps == [1.0, 2.0, 4.0]  # the next, 8 s, would end past the 10 s TTL
    assert "overloaded" in result.reason


async def test_slow_response_times_out_and_is_retried(scripted_push_server, make_sender):
    server = scripted_push_server
    server.script("/wp/e", Reply(201, delay=2.0), Reply(201))
    time_ = FakeTime()
    sender = make_sender(time_, timeout=0.3)
    result = await sender.send(message(server, "/wp/e"))
    await sender.close()
    assert (result.outcome, result.attempts) == ("sent", 2)
    assert time_.sleeps == [1.0]
    assert len(server.received("/wp/e")) == 2


async def test_connection_reset_is_retried(scripted_push_server, make_sender):
    server = scripted_push_server
    server.script("/wp/f", Reset(), Reset(), Reply(201))
    time_ = FakeTime()
    sender = make_sender(time_)
    result = await sender.send(message(server, "/wp/f"))
    await sender.close()
    assert (result.outcome, result.attempts) == ("sent", 3)
    assert len(server.received("/wp/f")) == 3


async def test_429_pauses_other_messages_to_the_same_service(scripted_push_server, make_sender):
    server = scripted_push_server
    server.script("/wp/g", Reply(429, {"Retry-After": "20"}))
    time_ = FakeTime()
    limiter = MemoryRateLimiter({}, default=Rate(100, 100), clock=time_.clock)
    sender = make_sender(time_, rate_limiter=limiter)
    first = await sender.send(message(server, "/wp/g"))
    time_.now = 0.0  # a second message, arriving when the 429 came
    second = await sender.send(message(server, "/wp/h"))
    await sender.close()
    assert (first.outcome, second.outcome) == ("sent", "sent")
    assert time_.sleeps[0] == 20.0  # the first message's own wait
    assert time_.sleeps[-1] > 20.0  # the second waited out the pause too, before its request
    assert len(server.received("/wp/h")) == 1


async def test_rate_limit_spaces_attempts(scripted_push_server, make_sender):
    server = scripted_push_server
    time_ = FakeTime()
    limiter = MemoryRateLimiter({}, default=Rate(10, 2), clock=time_.clock)
    sender = make_sender(time_, rate_limiter=limiter)
    results = await sender.send_many([message(server, f"/wp/r{i}") for i in range(6)])
    await sender.close()
    assert [r.outcome for r in results] == ["sent"] * 6
    assert time_.sleeps == pytest.approx([0.1] * 4)  # burst of 2, then one per 0.1 s


async def test_keep_alive_reuses_one_connection(scripted_push_server, transport_class):
    server = scripted_push_server
    allowlist = AllowList(origins=[server.origin])
    transport = transport_class(address_guard=allowlist.permits_address)
    for i in range(5):
        response = await transport.send(PushRequest(server.url(f"/k{i}"), {"TTL": "1"}, b"x", 5))
        assert response.status == 201
    await transport.close()
    assert len({r.peer for r in server.requests}) == 1


async def test_loopback_is_refused_unless_its_origin_is_allowed(scripted_push_server, transport_class):
    server = scripted_push_server
    transport = transport_class(address_guard=AllowList().permits_address)
    with pytest.raises(TransportError) as caught:
        await transport.send(PushRequest(server.url("/x"), {"TTL": "1"}, b"x", 5))
    await transport.close()
    assert caught.value.kind == "refused"
    assert server.requests == []


async def test_tls_certificates_are_verified(tls_files, transport_class):
    server = ScriptedPushServer(ssl_context=tls_files.server_context()).start()
    try:
        allowlist = AllowList(origins=[server.origin])
        trusting = transport_class(ssl_context=tls_files.client_context(), address_guard=allowlist.permits_address)
        response = await trusting.send(PushRequest(server.url("/t"), {"TTL": "1"}, b"x", 5))
        await trusting.close()
        assert response.status == 201
        default = transport_class(address_guard=allowlist.permits_address)  # system CAs only
        with pytest.raises(TransportError) as caught:
            await default.send(PushRequest(server.url("/t"), {"TTL": "1"}, b"x", 5))
        await default.close()
        assert caught.value.kind in ("connect", "reset")
        assert "certificate" in str(caught.value).lower()
        assert len(server.requests) == 1
    finally:
        server.stop()
