"""The same requests to `pushcast run`'s API and to the gateway's (the same routes over
EmbeddedApi and over KafkaApi, Kafka replaced by a recording producer) get the same
status and body: bad events, subscriptions and reports are refused alike, naming the
same field and index, and good ones are answered alike (the one difference, a report
about a message `pushcast run` no longer holds, is the last test)."""

from __future__ import annotations

import contextlib

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from connectors.http import ApiContext, build_app
from connectors.push import AllowList
from engine.gateway.api import KafkaApi, Topics
from engine.gateway.reports import MemoryReportClaims
from engine.local.api import EmbeddedApi
from engine.shell.metrics import embedded_metrics, gateway_metrics
from engine.shell.tracking import sign
from tests.unit.local_helpers import SECRET, SUBSCRIPTION, Running, make_runtime

TOKEN = "unit-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
SUB = {"endpoint": SUBSCRIPTION["endpoint"], "keys": SUBSCRIPTION["keys"]}

REQUESTS = [
    ("POST", "/v1/events", [{"user": "u1", "event": "Viewed"}, {"user": "u1"}], ADMIN),
    ("POST", "/v1/events", {"user": "u1", "event": "Viewed", "ts": True}, ADMIN),
    ("POST", "/v1/events", {"user": "u1", "event": "$notification_sent"}, ADMIN),
    ("POST", "/v1/events", {"user": "u1", "event": "$push_subscribe", "props": {"endpoint": "http://10.0.0.1/x"}},
     ADMIN),
    ("POST", "/v1/events", [], ADMIN),
    ("POST", "/v1/events", [{"user": "u", "event": "e"}] * 1001, ADMIN),
    ("POST", "/v1/events", {"user": "u1", "event": "Viewed"}, {}),
    ("POST", "/v1/events", [{"user": "u1", "event": "Viewed"}, {"user": "u2", "event": "Added To Cart"}], ADMIN),
    ("POST", "/v1/subscriptions", {"user": "u1", "subscription": {**SUB, "endpoint": "https://evil.example/1"}}, {}),
    ("POST", "/v1/subscriptions", {"user": "u1"}, {}),
    ("POST", "/v1/subscriptions", {"user": "u1", "subscription": SUB, "tz": "Mars/Base"}, {}),
    ("POST", "/v1/subscriptions", {"user": "u1", "subscription": SUB, "tz": "Europe/Berlin"}, {}),
    ("DELETE", "/v1/subscriptions", {"user": "u1", "endpoint": SUB["endpoint"]}, {}),
    ("POST", "/v1/track", {"message": "m1", "user": "u1", "type": "clicked", "sig": "forged"}, {}),
    ("POST", "/v1/track", {"message": "m1", "user": "u1", "type": "opened", "sig": "x"}, {}),
    ("POST", "/v1/track", {"message": "m1", "user": "u1", "type": "shown", "sig": "x", "extra": 1}, {}),
    ("GET", "/v1/campaigns", None, {}),
    ("GET", "/v1/campaigns", None, ADMIN),
    ("POST", "/v1/campaigns/nope/reach", {}, ADMIN),
    ("POST", "/v1/campaigns/nope/send-test", {}, ADMIN),
    ("POST", "/v1/campaigns/cart/send-test", {"user": 5}, ADMIN),
    ("GET", "/v1/vapid-public-key", None, {}),
    ("GET", "/v1/nothing-here", None, {}),
]


class RecordingProducer:
    def __init__(self):
        self.records = []

    async def produce(self, records):
        self.records += records


async def _client(api) -> TestClient:
    metrics = gateway_metrics(CollectorRegistry()) if isinstance(api, KafkaApi) else embedded_metrics(CollectorRegistry())
    ctx = ApiContext(api, AllowList(), TOKEN, "BPUBLIC", (), metrics, None, None)
    client = TestClient(TestServer(build_app(ctx)))
    await client.start_server()
    return client


async def _answer(client, method, path, body, headers):
    response = await client.request(method, path, json=body, headers=headers)
    text = await response.text()
    return response.status, text


@contextlib.asynccontextmanager
async def both(tmp_path):
    """(embedded client, gateway client, the gateway's producer) over one runtime's
    campaigns, clock and secret."""
    runtime = make_runtime(tmp_path / "state")
    running = Running(runtime)
    producer = RecordingProducer()
    gateway_api = KafkaApi(Topics("k:9092", "e", "r"), lambda: runtime.campaigns, producer, SECRET, runtime.clock,
                           MemoryReportClaims())
    embedded, gateway = await _client(EmbeddedApi(runtime)), await _client(gateway_api)
    try:
        yield embedded, gateway, producer
    finally:
        await embedded.close()
        await gateway.close()
        await running.stop()


@pytest.mark.parametrize("index", range(len(REQUESTS)))
async def test_the_same_request_gets_the_same_answer(tmp_path, index):
    method, path, body, headers = REQUESTS[index]
    async with both(tmp_path) as (embedded, gateway, _):
        gateway_answer = await _answer(gateway, method, path, body, headers)
        assert gateway_answer == await _answer(embedded, method, path, body, headers)


async def test_a_signed_report_reaches_kafka_once_where_the_embedded_runtime_checks_its_outbox(tmp_path):
    """The one difference: `pushcast run` refuses (410) a report about a message its store
    no longer holds; the gateway holds no messages, so a report whose signature binds it
    to (message, campaign, user) goes to the user's partition, whose worker decides."""
    report = {"message": "m-7", "campaign": "cart", "user": "u1", "type": "clicked",
              "sig": sign(SECRET, "m-7", "cart", "u1")}
    async with both(tmp_path) as (embedded, gateway, producer):
        status, body = await _answer(embedded, "POST", "/v1/track", report, {})
        assert status == 410 and '"field":"message"' in body
        for _ in range(2):  # the repeat is accepted, not forwarded
            assert await _answer(gateway, "POST", "/v1/track", report, {}) == (204, "")
        assert [key for key, _ in producer.records] == [b"u1"]
        moved = {**report, "user": "u2"}  # the signature binds the user
        assert (await _answer(gateway, "POST", "/v1/track", moved, {}))[0] == 403
