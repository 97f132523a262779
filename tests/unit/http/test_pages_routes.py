"""GET /campaigns and /campaigns/{id} in process over the embedded runtime: the ways in
(bearer, Basic, the ?token= cookie), never the token in a page, reach on demand."""

from __future__ import annotations

import base64

from engine.local.runtime import Runtime
from tests.unit.local_helpers import ADMIN_TOKEN, admin_api, cart, make_runtime, subscribe


def basic(password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"anyone:{password}".encode()).decode()}


async def test_without_the_token_the_page_asks_for_it_and_never_shows_it(tmp_path):
    async with admin_api(make_runtime(tmp_path)) as (client, _):
        for path in ("/campaigns", "/campaigns/cart", "/campaigns?token=wrong", "/campaigns/cart?token="):
            answer = await client.get(path, allow_redirects=False)
            body = await answer.text()
            assert answer.status == 401, path
            assert answer.headers["WWW-Authenticate"].startswith("Basic ") and answer.content_type == "text/html"
            assert ADMIN_TOKEN not in body and "Set-Cookie" not in answer.headers
        assert (await client.get("/campaigns", headers=basic("wrong"))).status == 401
        assert (await client.get("/campaigns", headers={"Authorization": "Basic !!!"})).status == 401
        assert (await client.get("/campaigns", headers={"Authorization": "Bearer wrong"})).status == 401


async def test_bearer_and_basic_with_the_token_as_password_open_the_page(tmp_path):
    async with admin_api(make_runtime(tmp_path)) as (client, admin):
        for headers in (admin, basic(ADMIN_TOKEN)):
            answer = await client.get("/campaigns", headers=headers)
            body = await answer.text()
            assert answer.status == 200 and 'data-campaign="cart"' in body and ADMIN_TOKEN not in body
            assert "default-src 'none'" in answer.headers["Content-Security-Policy"]


async def test_the_token_in_the_address_once_becomes_an_httponly_strict_cookie(tmp_path):
    async with admin_api(make_runtime(tmp_path)) as (client, _):
        first = await client.get(f"/campaigns/cart?by=day&token={ADMIN_TOKEN}", allow_redirects=False)
        assert first.status == 303 and first.headers["Location"] == "/campaigns/cart?by=day"
        cookie = first.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/campaigns" in cookie
        assert ADMIN_TOKEN not in cookie
        page = await client.get("/campaigns/cart?by=day")  # the client sends the cookie back
        assert page.status == 200 and ADMIN_TOKEN not in await page.text()
        client.session.cookie_jar.clear()
        assert (await client.get("/campaigns/cart")).status == 401


async def test_the_pages_show_the_runtimes_figures_and_reach_when_asked(tmp_path):
    runtime: Runtime = make_runtime(tmp_path)
    async with admin_api(runtime) as (client, admin):
        await runtime.submit([subscribe("u1"), cart("u1"), subscribe("u2")])
        runtime.clock.advance(601)  # past the 10 minutes `unless` waits for
        await runtime.fire_due()
        detail = await (await client.get("/campaigns/cart", headers=admin)).text()
        for stat, count in (("qualified", 1), ("sent", 1), ("clicked", 0)):
            assert f'<tr data-stat="{stat}"><th>{stat.title()}</th><td class="n count">{count}</td>' in detail
        assert 'class="bar sent"' in detail and 'data-sent="1"' in detail  # this hour's send, charted
        assert 'class="count-reach"' in detail and 'data-reachable' not in detail
        counted = await (await client.get("/campaigns/cart?reach=1", headers=admin)).text()
        assert 'data-reachable="2"' in counted and "of 2 users" in counted
        listed = await (await client.get("/campaigns", headers=admin)).text()
        assert 'data-reachable="2"' in listed  # the last count, kept for the list
        missing = await client.get("/campaigns/nope", headers=admin)
        assert missing.status == 404 and missing.content_type == "text/html"
