"""The campaign pages of a real `pushcast run`, read in headless Chromium.

A known run on the test clock: three subscribed users and one without a subscription
add to cart, the abandoned-cart reminder goes to the three through the push emulator,
two report it shown, one clicks and buys. The browser signs in with `?token=` (the
cookie), reads the list and the campaign's page from the DOM, and the figures must be
that run's, and the runtime's own JSON stats. Screenshots are kept under
build/screenshots/ (CI keeps that folder).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.fixtures.browser import TIMEOUT_S, wait_until
from tests.fixtures.runtime import ADMIN_TOKEN, ROOT

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

CAMPAIGN = "abandoned-cart"
SCREENSHOTS = ROOT / "build" / "screenshots"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

FUNNEL_JS = """() => Object.fromEntries([...document.querySelectorAll('table.funnel tr[data-stat]')]
  .map(row => [row.dataset.stat, Number(row.querySelector('td.count').textContent.replace(/,/g, ''))]))"""
CHART_JS = """() => ({
  sent: [...document.querySelectorAll('svg.chart rect.bar.sent')].reduce((n, r) => n + Number(r.dataset.sent), 0),
  clicked: [...document.querySelectorAll('svg.chart rect.bar.clicked')]
    .reduce((n, r) => n + Number(r.dataset.clicked), 0),
  heading: document.querySelector('svg.chart').getAttribute('aria-label'),
})"""
ROW_JS = """(id) => {
  const row = document.querySelector(`tr.campaign[data-campaign="${id}"]`);
  const cell = name => row.querySelector(`td.${name}`).textContent;
  return {sent: cell('sent'), delivered: cell('delivered'), clicked: cell('clicked'),
          converted: cell('converted'), revenue: cell('revenue'), count: document.querySelectorAll('tr.campaign').length};
}"""


def is_png(path: Path) -> bool:
    data = path.read_bytes()
    return len(data) > len(PNG_SIGNATURE) and data.startswith(PNG_SIGNATURE)


async def known_run(run, emulator) -> dict:
    """The run described above; the campaign's JSON stats at its end."""
    users = ["ana", "ben", "cho"]
    subs = {}
    for user in users:
        subs[user] = await asyncio.to_thread(emulator.subscribe, run.public_key)
        await asyncio.to_thread(run.subscribe, user, subs[user])
    carts = [{"user": u, "event": "Added To Cart", "props": {"product": "Lamp", "cart_id": f"c-{u}", "price": 40}}
             for u in [*users, "dee"]]
    await asyncio.to_thread(run.events, *carts)
    await asyncio.to_thread(run.advance, 10 * 60)

    async def pushed():
        texts = [await asyncio.to_thread(emulator.notifications, subs[u]["clientHash"]) for u in users]
        return texts if all(texts) else None

    payloads = {u: json.loads(texts[0]) for u, texts in zip(users, await wait_until(pushed, "three pushes"))}
    await asyncio.to_thread(run.wait_outbox_empty)

    def report(user: str, kind: str) -> None:
        p = payloads[user]
        body = {"type": kind, "message": p["message"], "campaign": p["campaign"], "user": p["user"], "sig": p["sig"]}
        answer = run.post("/v1/track", body, token=None)
        assert answer.status == 204, answer

    for user, kind in (("ana", "shown"), ("ben", "shown"), ("ana", "clicked")):
        await asyncio.to_thread(report, user, kind)
    await asyncio.to_thread(run.events, {"user": "ana", "event": "Charged", "props": {"cart_id": "c-ana", "amount": 30}})
    return await asyncio.to_thread(run.stats, CAMPAIGN)


async def test_the_campaign_pages_show_the_runs_figures(pushcast_runtime, push_emulator, browser_context):
    run = await asyncio.to_thread(pushcast_runtime)
    stats = await known_run(run, push_emulator)
    assert (stats["qualified"], stats["sent"], stats["delivered"], stats["shown"], stats["clicked"]) == (4, 3, 3, 2, 1)
    assert stats["conversions"]["click"] == 1 and stats["revenue"] == 30.0
    assert stats["suppressed"] == {"no_subscription": 1}

    page = await browser_context.new_page()
    # Signed in by the token in the address once: a cookie, and the token leaves the address.
    await page.goto(f"{run.url}/campaigns?token={quote(ADMIN_TOKEN)}")
    assert page.url == f"{run.url}/campaigns"
    (cookie,) = await browser_context.cookies(run.url + "/campaigns")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["value"] != ADMIN_TOKEN
    assert ADMIN_TOKEN not in await page.content()
    row = await page.evaluate(ROW_JS, CAMPAIGN)
    assert row == {"sent": "3", "delivered": "3", "clicked": "1", "converted": "1", "revenue": "30",
                   "count": row["count"]}
    assert row["count"] == len(list((ROOT / "campaigns.d").glob("*.yaml")))  # every loaded campaign
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "campaign-list.png"), full_page=True)

    await page.click(f'tr.campaign[data-campaign="{CAMPAIGN}"] td a')
    await page.wait_for_url(f"{run.url}/campaigns/{CAMPAIGN}", timeout=TIMEOUT_S * 1000)
    funnel = await page.evaluate(FUNNEL_JS)
    assert funnel == {"qualified": 4, "sent": 3, "delivered": 3, "shown": 2, "clicked": 1, "converted": 1}
    assert await page.text_content("strong.revenue") == "30"
    assert await page.text_content('table.suppressed tr[data-reason="no_subscription"] td') == "1"
    chart = await page.evaluate(CHART_JS)
    assert chart == {"sent": 3, "clicked": 1, "heading": "sends and clicks per hour"}

    await page.click("a.count-reach")  # reach on demand: 4 users, 3 of them reachable
    assert await page.get_attribute("span.reach", "data-reachable") == "3"
    assert await page.evaluate("() => document.scripts.length") == 0  # works without JavaScript

    shot = SCREENSHOTS / "campaign-page.png"
    await page.screenshot(path=str(shot), full_page=True)
    assert is_png(shot) and is_png(SCREENSHOTS / "campaign-list.png")
