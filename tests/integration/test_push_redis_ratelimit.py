"""Rate limits shared by sender processes through Redis (two limiters = two processes)."""

import logging
import uuid

import pytest
import redis.asyncio

from connectors.push import Rate, RedisRateLimiter

pytestmark = pytest.mark.integration
SERVICE = "fcm.googleapis.com"


class Clock:
    def __init__(self):
        self.now = 1_795_000_000.0

    def __call__(self):
        return self.now


def limiter(redis_url, clock, prefix, rate=Rate(10, 3), **kwargs):
    return RedisRateLimiter.from_url(
        redis_url, {SERVICE: rate}, default=None, prefix=prefix, clock=clock, local_clock=clock, **kwargs
    )


@pytest.fixture
def prefix():
    return f"pushcast-test:{uuid.uuid4().hex}:"


async def test_two_processes_share_one_bucket(redis_url, prefix):
    clock = Clock()
    a, b = limiter(redis_url, clock, prefix), limiter(redis_url, clock, prefix)
    try:
        waits = [await (a if i % 2 else b).reserve(SERVICE) for i in range(7)]
    finally:
        await a.close(), await b.close()
    # burst 3 shared by both, then one token per 0.1 s, in the order of the calls
    assert waits == pytest.approx([0, 0, 0, 0.1, 0.2, 0.3, 0.4])


async def test_the_bucket_refills_with_time(redis_url, prefix):
    clock = Clock()
    a = limiter(redis_url, clock, prefix)
    try:
        for _ in range(3):
            assert await a.reserve(SERVICE) == 0
        clock.now += 0.2  # two tokens back
        assert [await a.reserve(SERVICE) for _ in range(3)] == pytest.approx([0, 0, 0.1])
    finally:
        await a.close()


async def test_a_pause_in_one_process_holds_the_other(redis_url, prefix):
    clock = Clock()
    a, b = limiter(redis_url, clock, prefix), limiter(redis_url, clock, prefix)
    try:
        await a.pause(SERVICE, 30)
        assert await b.reserve(SERVICE) == pytest.approx(30.1)
        clock.now += 40
        assert await b.reserve(SERVICE) == pytest.approx(0)
    finally:
        await a.close(), await b.close()


async def test_leases_keep_redis_off_the_per_message_path(redis_url, prefix):
    clock = Clock()
    fast = limiter(redis_url, clock, prefix, rate=Rate(5000, 5000), max_lease=50)
    calls = 0
    script = fast._reserve_script

    async def counting(*args, **kwargs):
        nonlocal calls
        calls += 1
        return await script(*args, **kwargs)

    fast._reserve_script = counting
    try:
        waits = [await fast.reserve(SERVICE) for _ in range(500)]
    finally:
        await fast.close()
    assert waits == [0.0] * 500
    assert calls == 10  # leases of 50 tokens (5000/s / 50 = 100, capped at 50)
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        assert float(await client.hget(prefix + SERVICE, "tokens")) == pytest.approx(4500)
    finally:
        await client.aclose()


async def test_without_redis_it_falls_back_to_memory_and_says_so(caplog, prefix):
    clock = Clock()
    down = RedisRateLimiter.from_url(
        "redis://127.0.0.1:1/0", {SERVICE: Rate(10, 2)}, default=None, prefix=prefix,
        clock=clock, local_clock=clock,
    )
    with caplog.at_level(logging.WARNING, logger="connectors.push.ratelimit"):
        waits = [await down.reserve(SERVICE) for _ in range(4)]
        await down.pause(SERVICE, 5)
    await down.close()
    assert waits == pytest.approx([0, 0, 0.1, 0.2])  # still limited, in this process
    assert "limiting in memory" in caplog.text
    assert caplog.text.count("limiting in memory") == 1
