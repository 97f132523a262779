"""The OpenAPI description lists every route the API serves, and nothing else."""

from __future__ import annotations

import json

from connectors.http.openapi import description
from tests.unit.http.test_local_http import TOKEN, client_for


async def test_every_route_is_described_and_the_description_is_served(tmp_path):
    client, running, _ = await client_for(tmp_path)
    try:
        spec = json.loads(description())
        described = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
        served = {(route.method, route.resource.canonical) for route in client.app.router.routes()
                  if route.method != "HEAD"}  # aiohttp adds HEAD to every GET
        assert served == described
        answer = await client.get("/openapi.json")
        assert answer.status == 200 and json.loads(await answer.read()) == spec
    finally:
        await client.close()
        await running.stop()


async def test_the_test_clock_refuses_a_move_past_its_end_instead_of_breaking(tmp_path):
    # Found by the fuzzer: {"advance": 1.2e308} answered 500 and left the clock unusable;
    # {"set": "2111-08-31T23:17:05-20:29"} held the request past its timeout, making
    # every weekly run of 85 years.
    client, running, _ = await client_for(tmp_path)
    admin = {"Authorization": f"Bearer {TOKEN}"}
    try:
        before = running.runtime.clock.now()
        for body in ({"advance": 1.2434804148245103e308}, {"advance": 1e12}, {"set": "9999-12-31T23:59:59Z"},
                     {"set": "2111-08-31T23:17:05-20:29"}, {"advance": 367 * 86400}):
            answer = await client.post("/v1/admin/clock", json=body, headers=admin)
            error = await answer.json()
            assert answer.status == 400 and error["field"] == next(iter(body)), error
        assert running.runtime.clock.now() == before
        assert (await client.post("/v1/admin/clock", json={"advance": 366 * 86400}, headers=admin)).status == 200
    finally:
        await client.close()
        await running.stop()


async def test_a_missing_sdk_file_is_a_json_404(tmp_path):
    # Found by the fuzzer: aiohttp's static route answered an empty application/octet-stream 404.
    client, running, _ = await client_for(tmp_path)
    try:
        for name in ("0", ".hidden", "nope.js", "%2E%2E%2Fetc%2Fpasswd", "x" * 300, "a%00b"):
            answer = await client.get(f"/sdk/{name}")
            assert answer.status == 404 and answer.content_type == "application/json", name
            assert (await answer.json())["error"]
        worker = await client.get("/sdk/pushcast-sw.js")
        assert worker.status == 200 and worker.content_type == "text/javascript"
    finally:
        await client.close()
        await running.stop()
