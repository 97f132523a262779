"""The local services answer: Redis keeps values with a TTL, Kafka round-trips a record."""

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

pytestmark = pytest.mark.integration


async def test_redis_answers_and_expires_keys(redis_url):
    client = aioredis.from_url(redis_url)
    key = f"pushcast-test:{uuid.uuid4().hex}"
    try:
        assert await client.ping()
        assert await client.set(key, b"kept", ex=60)
        assert await client.get(key) == b"kept"
        assert 0 < await client.ttl(key) <= 60

        assert await client.set(key, b"brief", px=50)
        await asyncio.sleep(0.2)
        assert await client.get(key) is None
    finally:
        await client.delete(key)
        await client.aclose()


async def test_kafka_round_trips_a_record_and_commits_its_offset(
    kafka_bootstrap, kafka_topic_factory
):
    topic = kafka_topic_factory(partitions=1)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            topic, b"payload", key=b"user-1", headers=[("kind", b"test")]
        )
    finally:
        await producer.stop()

    # A consumer group exercises the group coordinator too, which Faust depends on.
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"pushcast-test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
        await consumer.commit()
        committed = await consumer.committed(TopicPartition(topic, 0))
    finally:
        await consumer.stop()

    assert (record.key, record.value, record.offset) == (b"user-1", b"payload", sent.offset)
    assert list(record.headers) == [("kind", b"test")]
    assert committed == sent.offset + 1
