"""The sender agent's logic, without Kafka: claim, send, report; redeliveries not resent."""

import asyncio

import pytest

from connectors.push.sender import Sender
from connectors.push.transport import MockTransport, PushResponse
from connectors.push.vapid import generate_keys, load_signer
from connectors.redis_dedup import MemorySendDedup
from engine.shell.metrics import worker_metrics
from engine.agents.sends import SendProcessor
from engine.core import Notify, Subscription

P256DH = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
AUTH = "BTBZMqHH6r4Tts7J_aSIgg"
A = "https://fcm.googleapis.com/fcm/send/a"
B = "https://fcm.googleapis.com/fcm/send/b"


@pytest.fixture
def make(tmp_path):
    generate_keys(tmp_path / "key.pem")
    signer = load_signer(tmp_path / "key.pem", "mailto:push@shop.example")

    def build(answer=lambda request: PushResponse(201), dedup=None, now=1000):
        transport = MockTransport(answer)
        sender = Sender(signer, transport, sleep=lambda s: asyncio.sleep(0))
        processor = SendProcessor(sender, dedup or MemorySendDedup(), worker_metrics(), lambda: now, busy_poll=0)
        return processor, transport

    return build


def notify(*endpoints, at=500):
    subs = tuple(Subscription(e, P256DH, AUTH) for e in endpoints)
    return Notify("msg-1", "cart", "u1", at, {"title": "Hi"}, subs, 3600)


async def test_each_subscription_is_sent_and_reported_to_the_users_partition(make):
    processor, transport = make()
    events = await processor.process([(notify(A, B), 3)])
    assert len(transport.requests) == 2
    assert transport.requests[0].headers["Topic"]  # collapses a copy sent twice at the push service
    assert [(e["event"], e["props"]["endpoint"], e["ts"], p) for e, p in events] == [
        ("$notification_sent", A, 1000, 3), ("$notification_sent", B, 1000, 3)]


async def test_a_redelivered_message_is_not_sent_again_but_reported_again(make):
    dedup = MemorySendDedup()
    processor, transport = make(dedup=dedup)
    first = await processor.process([(notify(A), 0)])
    again = await processor.process([(notify(A), 0)])
    assert len(transport.requests) == 1
    assert [e for e, _ in again] == [e for e, _ in first]
    assert processor.metrics.send_duplicates._value.get() == 1


async def test_a_gone_subscription_reports_failure_and_unsubscribe(make):
    processor, _ = make(answer=lambda request: PushResponse(410, body=b"gone"))
    events = [e["event"] for e, _ in await processor.process([(notify(A), 0)])]
    assert events == ["$notification_failed", "$push_unsubscribe"]


async def test_a_claim_held_by_another_worker_waits_for_it(make):
    dedup = MemorySendDedup(owner="me")
    key = dedup.key("msg-1", A)
    dedup.values[key] = "pending:other"
    processor, transport = make(dedup=dedup)

    async def other_finishes():
        await asyncio.sleep(0.01)
        dedup.values[key] = "done|sent|201|"

    _, events = await asyncio.gather(other_finishes(), processor.process([(notify(A), 0)]))
    assert transport.requests == []
    assert [e["event"] for e, _ in events] == ["$notification_sent"]


async def test_an_invalid_subscription_fails_alone(make):
    processor, transport = make()
    bad = Notify("msg-2", "cart", "u1", 0, {"title": "Hi"}, (Subscription("https://evil.example/x", P256DH, AUTH),
                                                              Subscription(A, "short", AUTH)), 60)
    events = await processor.process([(bad, 0), (notify(A), 0)])
    assert [e["event"] for e, _ in events].count("$notification_failed") == 2
    assert len(transport.requests) == 1


async def test_a_report_is_never_dated_before_the_decision(make):
    processor, _ = make(now=100)
    events = await processor.process([(notify(A, at=500), 0)])
    assert events[0][0]["ts"] == 500
