"""Send de-duplication against the real Redis: claim, done, busy, lease expiry, renewal."""

import asyncio
import uuid

import pytest

from connectors.redis_dedup import BUSY, CLAIMED, DONE, RedisSendDedup

pytestmark = pytest.mark.integration


def two_owners(redis_url):
    prefix = f"test:{uuid.uuid4().hex[:8]}:"
    return (RedisSendDedup.from_url(redis_url, prefix=prefix, lease_ms=300, owner="a"),
            RedisSendDedup.from_url(redis_url, prefix=prefix, lease_ms=300, owner="b"))


async def test_one_owner_claims_the_other_waits_then_sees_it_done(redis_url):
    a, b = two_owners(redis_url)
    key = a.key("msg-1", "https://fcm.googleapis.com/fcm/send/x")
    assert [c.state for c in await a.claim([key])] == [CLAIMED]
    assert [c.state for c in await a.claim([key])] == [CLAIMED]  # its own claim again (a retry)
    assert [c.state for c in await b.claim([key])] == [BUSY]
    await a.done([(key, "unsubscribed", 410, "gone | really")])
    (claim,) = await b.claim([key])
    assert (claim.state, claim.outcome, claim.status, claim.reason) == (DONE, "unsubscribed", 410, "gone | really")
    await a.close()
    await b.close()


async def test_a_dead_owners_lease_runs_out_and_a_live_owners_is_renewed(redis_url):
    a, b = two_owners(redis_url)
    dead, alive = a.key("m", "https://e/1"), a.key("m", "https://e/2")
    await a.claim([dead, alive])
    for _ in range(4):  # 400 ms: longer than the lease, renewed every 100 ms for `alive` only
        await asyncio.sleep(0.1)
        await a.renew([alive])
    states = [c.state for c in await b.claim([dead, alive])]
    assert states == [CLAIMED, BUSY]
    await a.close()
    await b.close()


async def test_without_redis_claims_succeed_so_sending_goes_on():
    dedup = RedisSendDedup.from_url("redis://127.0.0.1:1/0", owner="x")
    assert [c.state for c in await dedup.claim(["k"])] == [CLAIMED]
    await dedup.done([("k", "sent", 201, "")])  # logged, not raised
    await dedup.close()
