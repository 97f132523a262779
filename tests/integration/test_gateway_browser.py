"""The browser SDK through `pushcast gateway`, in headless Chromium, with a Kafka worker:
the demo page's SDK subscribes through the gateway, the worker decides, signs and sends
the push to the push emulator, the service worker shows exactly those bytes, and its
click report reaches the workers' events stream exactly once (a repeat is accepted and
not forwarded; a forged one is refused).

Headless Chromium has no vendor push service, so the page's `PushManager` hands out the
emulator's subscription (everything the SDK does with it is real), and the payload the
emulator decrypted goes to the service worker through DevTools'
`ServiceWorker.deliverPushMessage`, as in test_browser_runtime.py.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.fixtures.browser import TIMEOUT_S, ServiceWorkerDevTools, click_shown, record_shown, wait_shown, wait_until
from tests.fixtures.gateway import start_gateway
from tests.integration.test_gateway import NOW, TOKEN, _events, _setup

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

USER = "asha"

# The browser's push service, replaced by the emulator's subscription (set per test).
STUB_PUSH_JS = """(sub) => {
  let current = null;
  const make = () => ({
    endpoint: sub.endpoint, expirationTime: null, options: {applicationServerKey: null},
    toJSON: () => ({endpoint: sub.endpoint, expirationTime: null, keys: sub.keys}),
    unsubscribe: async () => { current = null; return true; },
  });
  PushManager.prototype.subscribe = async function () { current = make(); return current; };
  PushManager.prototype.getSubscription = async function () { return current; };
}"""

FORGED_JS = """async (payload) => {
  const body = PushcastCore.trackBody(payload, 'clicked', '');
  const response = await fetch('/v1/track', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                             body: JSON.stringify(body), credentials: 'omit'});
  return {status: response.status, body: await response.json().catch(() => null)};
}"""

@pytest.fixture
async def page(browser_context):
    tab = await browser_context.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: print(f"console.{m.type}: {m.text}"))
    tab.on("pageerror", lambda e: errors.append(str(e)))
    yield tab
    assert not errors, f"uncaught errors in the page: {errors}"


async def test_the_sdk_subscribes_through_the_gateway_and_a_click_reaches_the_workers_once(
        kafka_runtime_factory, push_emulator, browser_context, page, tmp_path):
    harness = await asyncio.to_thread(_setup, tmp_path, kafka_runtime_factory, push_emulator, 2)
    harness.start_worker("w1", dry_run=False)
    await asyncio.to_thread(harness.wait_members, 1)
    gateway = await asyncio.to_thread(start_gateway, harness, token=TOKEN)
    public_key = (tmp_path / "vapid_public.txt").read_text().strip()
    sub = await asyncio.to_thread(push_emulator.subscribe, public_key)

    # The demo page, from the gateway; its SDK subscribes USER through the gateway.
    devtools = await ServiceWorkerDevTools.attach(browser_context, page)
    await browser_context.grant_permissions(["notifications"], origin=gateway.url)
    await page.goto(gateway.url + "/")
    await page.wait_for_function("() => !!window.Pushcast")
    await page.evaluate(STUB_PUSH_JS, sub)
    await page.evaluate("(user) => { Pushcast.init({server: location.origin, user}); return Pushcast.ready; }", USER)
    endpoint = await page.evaluate("() => Pushcast.subscribe().then(s => s.endpoint)")
    assert endpoint == sub["endpoint"]
    subscribed = [e for e in await asyncio.to_thread(_events, harness, "$push_subscribe") if e["user"] == USER]
    assert [e["props"]["endpoint"] for e in subscribed] == [sub["endpoint"]], subscribed

    # An event through the gateway; the worker decides, signs and sends to the emulator.
    status, body = await asyncio.to_thread(gateway.call, "POST", "/v1/events", {
        "user": USER, "event": "Added To Cart", "props": {"product": "Trail shoes"}}, TOKEN)
    assert (status, body) == (200, {"accepted": 1})

    async def pushed():
        return await asyncio.to_thread(push_emulator.notifications, sub["clientHash"])

    (text,) = await wait_until(pushed, "the push at the emulator", TIMEOUT_S)
    payload = json.loads(text)
    assert payload["user"] == USER and payload["sig"] and payload["campaign"] == "cart", payload

    # The service worker shows those bytes and reports them shown, through the gateway.
    scope = await page.evaluate("() => Pushcast.register().then(r => r.scope)")
    registration_id = await devtools.active_registration(scope)

    async def sw():
        return next((w for w in browser_context.service_workers if w.url.startswith(gateway.url)), None)

    worker = await wait_until(sw, "the service worker")
    await record_shown(worker)
    await devtools.deliver_push(gateway.url, registration_id, text)
    (shown,) = await wait_shown(worker)
    assert shown["title"] == payload["title"] and shown["data"] == payload

    async def reports(kind: str):
        found = await asyncio.to_thread(_events, harness, kind)
        return [r for r in found if r["props"]["message"] == payload["message"]]

    await wait_until(lambda: reports("$notification_shown"), "the shown report in the events topic", TIMEOUT_S)

    forged = await worker.evaluate(FORGED_JS, {**payload, "sig": "A" * len(payload["sig"])})
    assert forged["status"] == 403 and forged["body"]["field"] == "sig", forged

    outcome = await click_shown(worker, payload["tag"])
    assert outcome["reported"] is True, outcome
    again = await worker.evaluate("(p) => self.pushcastWorker.report(p, 'clicked', '')", payload)
    assert again is True  # accepted, as the embedded runtime accepts a repeat
    # The gateway answered after Kafka acknowledged: the stream holds the click, once.
    clicks = await reports("$notification_clicked")
    assert len(clicks) == 1 and clicks[0]["user"] == USER and clicks[0]["ts"] == NOW, clicks

    # The worker applied it: the user's state, asked of the owner of USER's partition.
    async def clicked():
        status, state = await asyncio.to_thread(gateway.call, "GET", f"/v1/users/{USER}", None, TOKEN)
        return status == 200 and state["sent"] and state["sent"][0]["clicked"]

    await wait_until(clicked, "the click in the user's state", TIMEOUT_S)
    assert not devtools.errors, f"service worker errors: {devtools.errors}"
