"""The HTTP API in process: rate limits, open events, admin auth, static SDK files."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from connectors.http import ApiContext, build_app
from connectors.http.ratelimit import ClientRateLimit
from engine.shell.metrics import embedded_metrics
from connectors.push import AllowList
from engine.local.api import EmbeddedApi
from tests.unit.local_helpers import Running, make_runtime

TOKEN = "unit-admin-token-0123456789"
ORIGIN = "https://shop.example"


class Tick:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


async def client_for(tmp_path, **kwargs):
    runtime = make_runtime(tmp_path / "state")
    running = Running(runtime)
    sdk = tmp_path / "sdk"
    sdk.mkdir()
    (sdk / "pushcast-sw.js").write_text("self.addEventListener('push', () => {});\n")
    (sdk / "demo.html").write_text("<title>demo</title>\n")
    metrics = embedded_metrics(CollectorRegistry())
    ctx = ApiContext(EmbeddedApi(runtime), AllowList(), TOKEN, "BPUBLIC", (ORIGIN,), metrics, sdk, None, **kwargs)
    client = TestClient(TestServer(build_app(ctx)))
    await client.start_server()
    return client, running, metrics


async def test_browser_routes_are_rate_limited_per_address(tmp_path):
    tick = Tick()
    client, running, metrics = await client_for(tmp_path, rate_limit=ClientRateLimit(1.0, 3.0, clock=tick))
    try:
        statuses = [(await client.post("/v1/track", data=b"{}")).status for _ in range(5)]
        assert statuses == [400, 400, 400, 429, 429]
        limited = await client.post("/v1/track", data=b"{}", headers={"Origin": ORIGIN})
        assert limited.status == 429 and limited.headers["Retry-After"] == "1"
        assert limited.headers["Access-Control-Allow-Origin"] == ORIGIN  # the page can read the 429
        tick.now += 1.0
        assert (await client.post("/v1/track", data=b"{}")).status == 400
        assert metrics.registry.get_sample_value("pushcast_http_rate_limited_total") == 3
        # Admin requests are not limited, not even on /v1/events.
        for _ in range(5):
            response = await client.get("/v1/campaigns", headers={"Authorization": f"Bearer {TOKEN}"})
            assert response.status == 200
            response = await client.post("/v1/events", json={"user": "u1", "event": "Viewed"},
                                         headers={"Authorization": f"Bearer {TOKEN}"})
            assert response.status == 200
    finally:
        await client.close()
        await running.stop()


async def test_events_need_the_token_unless_open_and_reserved_ones_always_do(tmp_path):
    client, running, _ = await client_for(tmp_path)
    try:
        event = {"user": "u1", "event": "Product Viewed"}
        assert (await client.post("/v1/events", json=event)).status == 401
        wrong = await client.post("/v1/events", json=event, headers={"Authorization": "Bearer nope"})
        assert wrong.status == 401 and wrong.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await client.post("/v1/events", json=event, headers={"Authorization": f"Bearer {TOKEN}"})).status == 200
    finally:
        await client.close()
        await running.stop()

    tick = Tick()
    client, running, _ = await client_for(tmp_path / "open", open_events=True,
                                          rate_limit=ClientRateLimit(1.0, 3.0, clock=tick))
    try:
        assert (await client.post("/v1/events", json={"user": "u1", "event": "Product Viewed"})).status == 200
        profile = await client.post("/v1/events", json=[{"user": "u1", "event": "Product Viewed"},
                                                        {"user": "u1", "event": "$profile", "props": {"test": True}}])
        body = await profile.json()
        assert profile.status == 403 and body["index"] == 1
        assert running.runtime.user_state("u1").profile == {}
        # Open events are browser traffic: rate limited per address.
        assert (await client.post("/v1/events", json={"user": "u1", "event": "Product Viewed"})).status == 200
        assert (await client.post("/v1/events", json={"user": "u1", "event": "Product Viewed"})).status == 429
    finally:
        await client.close()
        await running.stop()


async def test_sdk_files_and_the_demo_page_are_served(tmp_path):
    client, running, _ = await client_for(tmp_path)
    try:
        worker = await client.get("/sdk/pushcast-sw.js")
        assert worker.status == 200 and worker.headers["Service-Worker-Allowed"] == "/"
        assert "push" in await worker.text()
        root_worker = await client.get("/pushcast-sw.js")
        assert root_worker.status == 200 and "javascript" in root_worker.headers["Content-Type"]
        assert "demo" in await (await client.get("/")).text()
        assert (await client.get("/sdk/../../etc/passwd")).status in (403, 404)
        key = await client.get("/v1/vapid-public-key")
        assert (await key.json()) == {"publicKey": "BPUBLIC"}
    finally:
        await client.close()
        await running.stop()


async def test_the_clock_cannot_move_on_the_real_clock(tmp_path):
    client, running, _ = await client_for(tmp_path)
    running.runtime.clock.settable = False
    try:
        response = await client.post("/v1/admin/clock", json={"advance": 1}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status == 404 and "--test-clock" in (await response.json())["error"]
    finally:
        await client.close()
        await running.stop()
