"""A notification rendered by the real `pushcast run`, shown and clicked in headless Chromium.

The runtime sends the abandoned-cart reminder to a subscription at the push emulator, on
its test clock; the emulator hands back the decrypted payload, with the runtime's own
`sig`. That exact text goes to the demo page's service worker through DevTools'
`ServiceWorker.deliverPushMessage` (a real browser subscription needs the vendor's push
service). A headless notification cannot be clicked, so the test calls the worker's own
click handler (`self.pushcastWorker.onClick`, what `notificationclick` calls), and reads
every report's effect in the runtime's campaign stats.

`test_browser_sw.py` checks the exact requests the SDK sends, against a stub server; this
module checks that the SDK and the runtime agree.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.fixtures.browser import (
    TIMEOUT_S, ServiceWorkerDevTools, click_shown, record_shown, wait_closed, wait_shown, wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

CAMPAIGN = "abandoned-cart"
USER = "asha"

# A report built by the SDK's own trackBody() with a forged signature, posted the way the
# worker posts its reports; the answer is returned as it came.
TAMPERED_REPORT_JS = """async ([payload, action, sig]) => {
  const body = PushcastCore.trackBody({...payload, sig}, 'clicked', action);
  const response = await fetch('/v1/track', {
    method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify(body), credentials: 'omit'});
  return {status: response.status, body: await response.json().catch(() => null)};
}"""

@pytest.fixture
async def runtime(pushcast_runtime):
    """A fresh `pushcast run` with the example campaigns: every count starts at 0."""
    return await asyncio.to_thread(pushcast_runtime)


@pytest.fixture
async def page(browser_context):
    """A tab whose console is echoed into the test's output; fails on uncaught page errors."""
    tab = await browser_context.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: print(f"console.{m.type}: {m.text}"))
    tab.on("pageerror", lambda e: errors.append(str(e)))
    yield tab
    assert not errors, f"uncaught errors in the page: {errors}"


async def abandoned_cart_push(run, emulator) -> str:
    """Subscribe USER at the emulator, add to cart, wait ten test minutes; the decrypted
    abandoned-cart payload exactly as the emulator received it (JSON text)."""
    sub = await asyncio.to_thread(emulator.subscribe, run.public_key)
    await asyncio.to_thread(run.subscribe, USER, sub)  # POST /v1/subscriptions: $push_subscribe
    await asyncio.to_thread(
        run.events,
        {"user": USER, "event": "$profile", "props": {"name": "Asha"}},
        {"user": USER, "event": "Added To Cart",
         "props": {"product": "Trail shoes", "cart_id": "c-9", "price": 89.5}},
    )
    await asyncio.to_thread(run.advance, 10 * 60)

    async def pushed():
        texts = await asyncio.to_thread(emulator.notifications, sub["clientHash"])
        return [t for t in texts if json.loads(t).get("campaign") == CAMPAIGN]

    try:
        texts = await wait_until(pushed, f"the {CAMPAIGN} push at the emulator", TIMEOUT_S)
    except AssertionError as error:
        stats = await asyncio.to_thread(run.stats, CAMPAIGN)
        raise AssertionError(f"{error}; runtime stats {stats}\n{run.output()[-2000:]}") from None
    assert len(texts) == 1, f"expected one {CAMPAIGN} push, the emulator got {texts}"
    await asyncio.to_thread(run.wait_outbox_empty)
    return texts[0]


async def wait_stats(run, what: str, check) -> dict:
    """The campaign's stats once `check(stats)` holds; fails showing the last stats."""
    last: dict = {}

    async def probe():
        nonlocal last
        last = await asyncio.to_thread(run.stats, CAMPAIGN)
        return last if check(last) else None

    try:
        return await wait_until(probe, f"{CAMPAIGN} stats with {what}", TIMEOUT_S)
    except AssertionError as error:
        raise AssertionError(f"{error}; the last stats were {last}") from None


async def sent_record(run, message: str) -> dict:
    """What USER's state in the runtime says about one sent message."""
    state = await asyncio.to_thread(run.user, USER)
    records = [r for r in (state or {}).get("sent", []) if r["message"] == message]
    assert len(records) == 1, f"message {message} in the state of {USER}: {state}"
    return {"delivered": records[0]["delivered"], "clicked": records[0]["clicked"]}


async def demo_worker(context, page, run):
    """Load the runtime's demo page with notifications allowed and register its service
    worker as the page does; (devtools, scope, registration id, worker handle)."""
    devtools = await ServiceWorkerDevTools.attach(context, page)
    await context.grant_permissions(["notifications"], origin=run.url)
    await page.goto(run.url + "/")
    await page.wait_for_function("() => !!window.Pushcast")
    await page.evaluate("() => Pushcast.ready")
    assert await page.evaluate("() => Notification.permission") == "granted"
    scope = await page.evaluate("() => Pushcast.register().then(r => r.scope)")
    assert scope == f"{run.url}/sdk/"
    registration_id = await devtools.active_registration(scope)

    async def worker():
        return next((w for w in context.service_workers
                     if w.url == f"{run.url}/sdk/pushcast-sw.js"), None)

    return devtools, scope, registration_id, await wait_until(worker, "the demo page's service worker")


async def test_a_pushcast_notification_is_shown_clicked_and_counted(
    runtime, push_emulator, browser_context, page
):
    run = runtime
    text = await abandoned_cart_push(run, push_emulator)
    payload = json.loads(text)
    assert payload["title"] == "Still thinking about Trail shoes?" and payload["message"]
    assert payload["tag"] and payload["actions"] and payload["sig"], payload
    before = await asyncio.to_thread(run.stats, CAMPAIGN)
    assert (before["sent"], before["delivered"], before["shown"], before["clicked"]) == (1, 1, 0, 0), before

    devtools, _, registration_id, worker = await demo_worker(browser_context, page, run)
    await record_shown(worker)
    await devtools.deliver_push(run.url, registration_id, text)  # the runtime's bytes, as sent

    (shown,) = await wait_shown(worker)
    assert shown["title"] == payload["title"]
    assert shown["body"] == payload["body"]
    assert shown["tag"] == payload["tag"]
    assert shown["actions"] == [{"action": a["action"], "title": a["title"]} for a in payload["actions"]]
    assert shown["data"] == payload
    shown_stats = await wait_stats(run, "shown = 1", lambda s: s["shown"] >= 1)
    assert shown_stats["shown"] == 1, shown_stats

    (checkout,) = [a for a in payload["actions"] if a["title"] == "Checkout"]
    # A click report whose sig was tampered with is refused and not counted. It comes
    # before the real click, so that de-duplication cannot hide a wrong count.
    sig = payload["sig"]
    forged = ("B" if sig[0] == "A" else "A") + sig[1:]
    refused = await worker.evaluate(TAMPERED_REPORT_JS, [payload, checkout["action"], forged])
    assert refused["status"] == 403, refused
    assert refused["body"]["field"] == "sig", refused
    assert (await asyncio.to_thread(run.stats, CAMPAIGN))["clicked"] == 0, "a forged click was counted"
    assert await sent_record(run, payload["message"]) == {"delivered": True, "clicked": False}

    # The click on "Checkout": the handler picks the button's URL, closes the notification
    # and reports the click. Opening a window needs a real click's user activation.
    outcome = await click_shown(worker, payload["tag"], checkout["action"])
    assert outcome.get("url") == checkout["url"], outcome
    assert outcome["reported"] is True, outcome
    # The runtime answers a report once it is committed: the stats already show it.
    clicked = await asyncio.to_thread(run.stats, CAMPAIGN)
    assert clicked["clicked"] == 1, clicked
    # ... and the user's state, which click-through conversions are counted from.
    assert await sent_record(run, payload["message"]) == {"delivered": True, "clicked": True}
    await wait_closed(worker, payload["tag"])

    # The same click reported again is accepted but counted once.
    again = await worker.evaluate(
        "([p, action]) => self.pushcastWorker.report(p, 'clicked', action)", [payload, checkout["action"]]
    )
    assert again is True, "the repeated report was not accepted"
    after = await asyncio.to_thread(run.stats, CAMPAIGN)
    assert (after["sent"], after["delivered"], after["shown"], after["clicked"]) == (1, 1, 1, 1), after
    assert after["test"]["shown"] == 0 and after["test"]["clicked"] == 0, after
    assert not devtools.errors, f"service worker errors: {devtools.errors}"


async def test_the_root_service_worker_can_control_the_whole_site(runtime, browser_context, page):
    """`/pushcast-sw.js` (Service-Worker-Allowed: /) installs with scope `/`: the core it
    imports from next to itself is served too."""
    run = runtime
    devtools = await ServiceWorkerDevTools.attach(browser_context, page)
    await page.goto(run.url + "/")
    scope = await page.evaluate(
        """() => navigator.serviceWorker.register('/pushcast-sw.js', {scope: '/'})
                   .then(r => r.scope, e => 'failed: ' + e.message)"""
    )
    assert scope == f"{run.url}/", f"{scope}; worker errors {devtools.errors}"
    await devtools.active_registration(scope)
    await page.reload()
    controller = await page.evaluate(
        "() => navigator.serviceWorker.controller && navigator.serviceWorker.controller.scriptURL"
    )
    assert controller == f"{run.url}/pushcast-sw.js", "the demo page is not controlled by the root worker"
    assert not devtools.errors, f"service worker errors: {devtools.errors}"
