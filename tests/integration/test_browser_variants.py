"""A/B variants end to end: `pushcast run` sends a two-variant campaign with a winner rule
to the push emulator; headless Chromium's service worker shows every notification, and
the test clicks b's more often than a's through the worker's click handler (what
`notificationclick` calls, which reports the click, signed with its variant). At the next
clock move the runtime judges the winner: b, with its figures, and b takes the traffic.

Users are chosen by the campaign's own draw (engine.core.variants), not pinned, so the
variant each one gets is the runtime's stable hash at work.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from engine.rules.loader import parse_campaign
from engine.core.variants import drawn
from tests.fixtures.browser import click_shown, record_shown, wait_shown, wait_until
from tests.integration.test_browser_runtime import demo_worker

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

CAMPAIGN = "ab-browser"
TEXT = f"""
campaign: {CAMPAIGN}
who: {{on: {{event: Viewed Product}}}}
when: {{limits: {{ignore_global: true}}}}
what:
  title: Come back
  url: https://shop.example/
  variants:
    - {{name: a, title: "A: come back"}}
    - {{name: b, title: "B: it is still here", body: Free shipping today}}
  winner: {{metric: clicks, min_sends: 6, probability: 0.95}}
"""
PER_VARIANT = 6
CLICKS = {"a": 1, "b": 5}  # of each variant's six notifications


def users_drawing(variant: str, count: int, skip: int = 0) -> list[str]:
    campaign = parse_campaign(TEXT)
    found = [f"shopper-{i}" for i in range(400) if drawn(campaign, f"shopper-{i}") == variant]
    return found[skip:skip + count]


@pytest.fixture
async def runtime(pushcast_runtime):
    return await asyncio.to_thread(pushcast_runtime, {CAMPAIGN: TEXT})


@pytest.fixture
async def page(browser_context):
    tab = await browser_context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    yield tab
    assert not errors, f"uncaught errors in the page: {errors}"


async def push_to(run, emulator, user: str) -> str:
    """Subscribe `user` at the emulator, trigger the campaign; the payload text it got."""
    sub = await asyncio.to_thread(emulator.subscribe, run.public_key)
    await asyncio.to_thread(run.subscribe, user, sub)
    await asyncio.to_thread(run.events, {"user": user, "event": "Viewed Product"})

    async def pushed():
        return await asyncio.to_thread(emulator.notifications, sub["clientHash"])

    [text] = await wait_until(pushed, f"{user}'s push at the emulator")
    return text


async def test_the_variant_clicked_more_in_the_browser_wins_and_takes_the_traffic(
    runtime, push_emulator, browser_context, page
):
    run = runtime
    arms = {variant: users_drawing(variant, PER_VARIANT) for variant in ("a", "b")}
    texts = {v: [await push_to(run, push_emulator, u) for u in users] for v, users in arms.items()}
    for variant, sent in texts.items():
        assert {json.loads(t)["variant"] for t in sent} == {variant}
    await asyncio.to_thread(run.wait_outbox_empty)

    devtools, _, registration_id, worker = await demo_worker(browser_context, page, run)
    await record_shown(worker)
    titles = {}
    for variant, sent in texts.items():
        for number, text in enumerate(sent):  # one push at a time, clicked once it is shown
            payload = json.loads(text)
            await devtools.deliver_push(run.url, registration_id, text)
            (shown,) = await wait_shown(worker, tag=payload["tag"])
            titles[payload["tag"]] = shown["title"]
            if number < CLICKS[variant]:
                outcome = await click_shown(worker, payload["tag"])
                assert outcome["reported"] is True, outcome
    assert sorted(titles.values()) == ["A: come back"] * PER_VARIANT + ["B: it is still here"] * PER_VARIANT

    stats = await asyncio.to_thread(run.stats, CAMPAIGN)
    assert stats["variants"]["a"]["sent"] == stats["variants"]["b"]["sent"] == PER_VARIANT, stats
    assert stats["variants"]["a"]["shown"] == stats["variants"]["b"]["shown"] == PER_VARIANT, stats
    assert (stats["variants"]["a"]["clicked"], stats["variants"]["b"]["clicked"]) == (1, 5), stats
    assert stats["winner"] is None, "decided before the clock moved"

    await asyncio.to_thread(run.advance, 60)  # a clock move: the runtime judges the winners
    winner = (await asyncio.to_thread(run.stats, CAMPAIGN))["winner"]
    assert winner["variant"] == "b" and winner["metric"] == "clicks", winner
    assert winner["figures"]["b"] == {"sends": 6, "successes": 5, "probability": pytest.approx(0.9854, abs=1e-3)}
    assert winner["figures"]["a"]["successes"] == 1

    # A user the draw gives a now gets b.
    [late] = users_drawing("a", 1, skip=PER_VARIANT)
    assert json.loads(await push_to(run, push_emulator, late))["variant"] == "b"
    assert not devtools.errors, f"service worker errors: {devtools.errors}"
