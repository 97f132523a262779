"""Hostile input on the HTTP API that used to get through: a bearer token that is not
UTF-8, one endpoint spelled two ways, reports replayed after their message is pruned or
moved to another campaign or user."""

from __future__ import annotations

import asyncio

import orjson

from engine.core import Event
from engine.local.runtime import Prune, SendDone
from engine.local.store import DEDUPE_HORIZON_MS
from tests.unit.core_helpers import SUBSCRIPTION, T0
from tests.unit.local_helpers import cart, subscribe
from tests.unit.http.test_local_http import TOKEN, client_for

MIN = 60_000


async def raw_request(port: int, head: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head + b"Host: x\r\nConnection: close\r\n\r\n")
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer


async def test_a_bearer_token_that_is_not_utf8_is_a_401_not_a_500(tmp_path):
    client, running, _ = await client_for(tmp_path)
    try:
        for token in (b"\x80abc", b"\xff\xfe", "\u00e9t\u00e9".encode()):
            answer = await raw_request(client.server.port, b"GET /v1/campaigns HTTP/1.1\r\nAuthorization: Bearer "
                                       + token + b"\r\n")
            assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
        assert (await client.get("/v1/campaigns", headers={"Authorization": f"Bearer {TOKEN}"})).status == 200
    finally:
        await client.close()
        await running.stop()


async def test_one_endpoint_spelled_two_ways_is_one_subscription(tmp_path):
    client, running, _ = await client_for(tmp_path)
    try:
        spellings = ["https://FCM.GOOGLEAPIS.COM/fcm/send/abc", "https://fcm.googleapis.com:443/fcm/send/abc",
                     SUBSCRIPTION["endpoint"]]
        for endpoint in spellings:
            sub = {**SUBSCRIPTION, "endpoint": endpoint}
            assert (await client.post("/v1/subscriptions", json={"user": "u1", "subscription": sub})).status == 201
        assert sorted(running.runtime.user_state("u1").subscriptions) == [SUBSCRIPTION["endpoint"]]
        # An unsubscribe in another spelling removes it.
        gone = await client.delete("/v1/subscriptions", json={"user": "u1", "endpoint": spellings[1]})
        assert gone.status == 200 and not running.runtime.user_state("u1").subscriptions
        # The admin events route stores the same spelling.
        event = {"user": "u2", "event": "$push_subscribe", "props": {**SUBSCRIPTION, "endpoint": spellings[0]}}
        admin = {"Authorization": f"Bearer {TOKEN}"}
        assert (await client.post("/v1/events", json=event, headers=admin)).status == 200
        assert sorted(running.runtime.user_state("u2").subscriptions) == [SUBSCRIPTION["endpoint"]]
        event = {"user": "u2", "event": "$push_unsubscribe", "props": {"endpoint": spellings[1]}}
        assert (await client.post("/v1/events", json=event, headers=admin)).status == 200
        assert not running.runtime.user_state("u2").subscriptions
    finally:
        await client.close()
        await running.stop()


async def test_a_report_binds_campaign_and_user_and_is_refused_once_the_message_is_pruned(tmp_path):
    client, running, _ = await client_for(tmp_path)
    runtime = running.runtime
    try:
        runtime.clock.set(T0 + 11 * MIN)
        await runtime.submit([subscribe("u1"), cart("u1"), Event("u1", "Ping", T0 + 11 * MIN, {})])
        [row] = runtime.store.pending(10)
        payload = orjson.loads(row.payload)
        report = {"message": row.message_id, "campaign": payload["campaign"], "user": payload["user"],
                  "type": "shown", "action": "", "sig": payload["sig"]}

        # The right signature cannot carry the report to another campaign or user.
        for moved in ({"campaign": "win-back"}, {"user": "u2"}, {"campaign": "", "user": ""}):
            refused = await client.post("/v1/track", json={**report, **moved})
            assert refused.status == 403 and (await refused.json())["field"] == "sig"
        assert (await client.post("/v1/track", json=report)).status == 204
        assert runtime.store.stats("cart")["cart"]["shown"] == 1

        # Seven days later the outbox forgets the message: a replayed report is refused.
        await runtime.submit([SendDone(row, "sent", [])])
        await runtime.submit([Prune(T0 + 11 * MIN + DEDUPE_HORIZON_MS + 1)])
        replay = await client.post("/v1/track", json={**report, "type": "clicked"})
        body = await replay.json()
        assert replay.status == 410 and body["field"] == "message", body
        assert "clicked" not in runtime.store.stats("cart")["cart"]
    finally:
        await client.close()
        await running.stop()
