"""Token buckets: burst, spacing, refill, and a push service's pause."""

import pytest

from connectors.push import PushConfigError, MemoryRateLimiter, Rate
from connectors.push.ratelimit import DEFAULT_RATE, TokenBucket


def test_burst_then_spaced_at_the_rate():
    bucket = TokenBucket(Rate(10, 3), now=0.0)
    waits = [bucket.reserve(0.0) for _ in range(6)]
    assert waits == pytest.approx([0, 0, 0, 0.1, 0.2, 0.3])


def test_refills_with_time_up_to_the_burst():
    bucket = TokenBucket(Rate(10, 2), now=0.0)
    bucket.reserve(0.0), bucket.reserve(0.0)
    assert bucket.reserve(0.1) == pytest.approx(0.0)  # one token back after 0.1 s
    assert bucket.reserve(0.1) == pytest.approx(0.1)
    assert bucket.reserve(100.0) == pytest.approx(0.0)
    assert bucket.tokens == pytest.approx(1.0)  # refill stopped at burst (2), minus one


def test_pause_stops_refill_until_it_ends_then_spaces_again():
    bucket = TokenBucket(Rate(10, 5), now=0.0)
    bucket.pause(0.0, 30.0)
    assert bucket.reserve(1.0) == pytest.approx(29.0 + 0.1)
    assert bucket.reserve(1.0) == pytest.approx(29.0 + 0.2)
    bucket.pause(2.0, 5.0)  # a shorter pause than the one running changes nothing
    assert bucket.reserve(2.0) == pytest.approx(28.0 + 0.3)


async def test_memory_limiter_uses_per_service_rates_and_a_default():
    clock = [0.0]
    limiter = MemoryRateLimiter({"slow.example.com": Rate(1, 1)}, default=Rate(100, 1), clock=lambda: clock[0])
    assert await limiter.reserve("slow.example.com") == 0.0
    assert await limiter.reserve("slow.example.com") == pytest.approx(1.0)
    assert await limiter.reserve("other.example.com") == 0.0
    assert await limiter.reserve("other.example.com") == pytest.approx(0.01)
    await limiter.pause("other.example.com", 5)
    # the deficit reserved before the pause still counts after it
    assert await limiter.reserve("other.example.com") == pytest.approx(5.0 + 0.02)


async def test_no_default_means_unknown_services_are_not_limited():
    limiter = MemoryRateLimiter({}, default=None)
    assert [await limiter.reserve("x.example.com") for _ in range(1000)] == [0.0] * 1000


def test_default_rates_are_sane():
    limiter = MemoryRateLimiter()
    assert limiter._rates["fcm.googleapis.com"].per_second == 10_000  # FCM's 600k/minute
    assert DEFAULT_RATE.per_second > 0


@pytest.mark.parametrize("per_second, burst", [(0, 1), (-1, 1), (10, 0.5)])
def test_bad_rates_are_config_errors(per_second, burst):
    with pytest.raises(PushConfigError, match="push_services"):
        Rate(per_second, burst)
