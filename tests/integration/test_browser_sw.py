"""The browser SDK in a real headless Chromium: service worker, demo page, reports.

The push path starts at the service worker: DevTools' `ServiceWorker.deliverPushMessage`
runs its `push` handler with a payload, since a real `pushManager.subscribe` needs the
browser vendor's push service. A click cannot be made on a headless notification, so the
test calls the worker's own click handler (`self.pushcastWorker.onClick`) on the real
notification, which is what the `notificationclick` listener calls.

The page talks to `StubSite` (tests/fixtures/stub_site.py): the routes of the pushcast
HTTP API as the browser sees them (`/`, `/sdk/`, `/v1/...`), recording each request, so the demo tests check exactly what
the SDK sends. The push test reaches its server only through the `push_site` fixture and
three members: `origin`, `push_payload(user)` and `wait_report(type, message)`. To run it
against `pushcast run`, make `push_site` start it and give those three: a payload as
pushcast renders it (with a real `sig`) and a `wait_report` that polls the campaign's
stats until `shown`/`clicked` count the message.
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.fixtures.browser import (
    ServiceWorkerDevTools, click_shown, record_shown, wait_closed, wait_shown, wait_until,
)
from tests.fixtures.stub_site import WORKER_PATH, StubSite, b64url

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


@pytest.fixture
async def site():
    stub = await StubSite().start()
    try:
        yield stub
    finally:
        await stub.stop()


@pytest.fixture
async def push_site(site):
    """The server of the push test: the stub for now, `pushcast run` later."""
    return site


@pytest.fixture
async def page(browser_context):
    """A tab (nothing loaded yet) whose console is echoed into the test's output."""
    tab = await browser_context.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: print(f"console.{m.type}: {m.text}"))
    tab.on("pageerror", lambda e: errors.append(str(e)))
    yield tab
    assert not errors, f"uncaught errors in the page: {errors}"


async def open_demo(page, origin: str) -> None:
    """Load the demo page with notifications allowed; return once its SDK check is done."""
    await page.context.grant_permissions(["notifications"], origin=origin)
    await page.goto(origin + "/")
    await page.wait_for_function("() => !!window.Pushcast")
    await page.evaluate("() => Pushcast.ready")


async def service_worker(context, origin: str):
    """Playwright's handle on the pushcast service worker of `origin`."""

    async def probe():
        for worker in context.service_workers:
            if worker.url.startswith(origin + WORKER_PATH):
                return worker
        return None

    return await wait_until(probe, f"the service worker {origin}{WORKER_PATH}")


async def test_push_shows_the_notification_and_reports_shown_and_clicked(
    push_site, browser_context, page
):
    devtools = await ServiceWorkerDevTools.attach(browser_context, page)
    await open_demo(page, push_site.origin)
    scope = await page.evaluate("() => Pushcast.register().then(r => r.scope)")
    assert scope == f"{push_site.origin}/sdk/"
    registration_id = await devtools.active_registration(scope)
    worker = await service_worker(browser_context, push_site.origin)
    await record_shown(worker)

    payload = push_site.push_payload(user="u-browser")
    await devtools.deliver_push(push_site.origin, registration_id, payload)

    (shown,) = await wait_shown(worker)
    assert shown == {
        "title": payload["title"],
        "body": payload["body"],
        "tag": payload["tag"],
        "icon": payload.get("icon", ""),
        "image": payload.get("image", ""),
        "badge": payload.get("badge", ""),
        "requireInteraction": bool(payload.get("require_interaction")),
        "actions": [{"action": a["action"], "title": a["title"]} for a in payload["actions"]],
        "data": payload,
    }
    report = {
        "message": payload["message"],
        "campaign": payload["campaign"],
        "user": payload["user"],
        "sig": payload["sig"],
    }
    assert await push_site.wait_report("shown", payload["message"]) == {
        "type": "shown", "action": "", **report
    }

    # The click decisions, evaluated in the service worker itself.
    button = payload["actions"][0]
    decided = await worker.evaluate(
        """([p, action]) => ({
          button: PushcastCore.clickTarget(p, action),
          body: PushcastCore.clickTarget(p, ''),
          unknown: PushcastCore.clickTarget(p, 'no-such-button'),
          bare: PushcastCore.clickTarget({}, ''),
          noUrl: PushcastCore.clickTarget({url: '/m', actions: [{action: 'later', title: 'Later'}]}, 'later'),
          script: PushcastCore.clickTarget({url: 'javascript:alert(1)'}, ''),
          report: PushcastCore.trackBody(p, 'clicked', action),
        })""",
        [payload, button["action"]],
    )
    assert decided == {
        "button": button["url"],
        "body": payload["url"],
        "unknown": payload["url"],
        "bare": "/",
        "noUrl": "/m",  # a button without a URL opens the message's URL
        "script": "/",  # only http(s) URLs are opened
        "report": {"type": "clicked", "action": button["action"], **report},
    }

    # The worker's click handler on the real notification: closes it, reports the click.
    # Opening a window needs a real click's user activation, so only that part fails here.
    outcome = await click_shown(worker, payload["tag"], button["action"])
    assert outcome["url"] == button["url"]
    assert outcome["reported"] is True, outcome
    assert await push_site.wait_report("clicked", payload["message"]) == {
        "type": "clicked", "action": button["action"], **report
    }
    await wait_closed(worker, payload["tag"])
    assert not devtools.errors, f"service worker errors: {devtools.errors}"


async def test_a_payload_that_is_not_json_still_shows_a_notification(
    site, browser_context, page
):
    devtools = await ServiceWorkerDevTools.attach(browser_context, page)
    await open_demo(page, site.origin)
    scope = await page.evaluate("() => Pushcast.register().then(r => r.scope)")
    registration_id = await devtools.active_registration(scope)
    worker = await service_worker(browser_context, site.origin)
    await record_shown(worker)
    await devtools.deliver_push(site.origin, registration_id, "Hello")

    (shown,) = await wait_shown(worker)
    assert (shown["title"], shown["body"], shown["actions"]) == ("New notification", "Hello", [])
    assert site.received("POST", "/v1/track") == []  # not a pushcast message: nothing to count


# Stands in for the browser's push service, which needs the vendor's servers: subscribe()
# and getSubscription() keep a made-up subscription in localStorage so it survives reloads.
FAKE_PUSH_SERVICE = """(() => {
  const KEY = 'test:push-subscription';
  const load = () => JSON.parse(localStorage.getItem(KEY) || 'null');
  const made = (record) => record && {
    endpoint: record.endpoint,
    expirationTime: null,
    options: {userVisibleOnly: true, applicationServerKey: new Uint8Array(record.key).buffer},
    toJSON: () => ({endpoint: record.endpoint, expirationTime: null,
                    keys: {p256dh: 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4',
                           auth: 'BTBZMqHH6r4Tts7J_aSIgg'}}),
    unsubscribe: () => { localStorage.removeItem(KEY); return Promise.resolve(true); },
  };
  PushManager.prototype.subscribe = function (options) {
    if (!options || options.userVisibleOnly !== true) return Promise.reject(new Error('userVisibleOnly must be true'));
    const record = {endpoint: 'https://push.example/sub-1',
                    key: Array.from(new Uint8Array(options.applicationServerKey))};
    localStorage.setItem(KEY, JSON.stringify(record));
    return Promise.resolve(made(record));
  };
  PushManager.prototype.getSubscription = function () { return Promise.resolve(made(load())); };
})();"""


async def test_demo_subscribes_from_the_button_and_reposts_when_the_subscription_changes(
    site, browser_context, page
):
    await page.add_init_script(FAKE_PUSH_SERVICE)
    await open_demo(page, site.origin)
    user = await page.input_value("#user")
    assert user.startswith("demo-")
    await page.wait_for_function("() => document.getElementById('status').textContent === 'off'")

    await page.get_by_role("button", name="Enable notifications").click()  # a user gesture
    posted = await site.wait_for("POST", "/v1/subscriptions")
    tz = posted.pop("tz")
    assert tz == await page.evaluate("() => Intl.DateTimeFormat().resolvedOptions().timeZone"), "the visitor's zone"
    assert posted == {
        "user": user,
        "subscription": {
            "endpoint": "https://push.example/sub-1",
            "expirationTime": None,
            "keys": {
                "p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
                "auth": "BTBZMqHH6r4Tts7J_aSIgg",
            },
        },
    }
    key = await page.evaluate(
        "() => JSON.parse(localStorage.getItem('test:push-subscription')).key"
    )
    assert b64url(bytes(key)) == site.vapid_public_key, "subscribed with the server's VAPID key"
    enabled = await site.wait_for("POST", "/v1/events", lambda b: b["event"] == "Notifications Enabled")
    assert enabled["user"] == user and enabled["props"]["tz"]
    await page.wait_for_function("() => document.getElementById('status').textContent === 'on'")
    scope = f"{site.origin}/sdk/"
    assert await page.evaluate(
        "(scope) => navigator.serviceWorker.getRegistration(scope).then(r => !!(r && r.active))", scope
    )

    # Same endpoint, same user: a reload posts nothing.
    await open_demo(page, site.origin)
    assert len(site.received("POST", "/v1/subscriptions")) == 1

    # The browser replaced the subscription while the page was closed: re-posted on load.
    await page.evaluate(
        """() => { const r = JSON.parse(localStorage.getItem('test:push-subscription'));
                   r.endpoint = 'https://push.example/sub-2';
                   localStorage.setItem('test:push-subscription', JSON.stringify(r)); }"""
    )
    await open_demo(page, site.origin)
    moved = await site.wait_for(
        "POST", "/v1/subscriptions", lambda b: b["subscription"]["endpoint"].endswith("/sub-2")
    )
    assert moved["user"] == user

    # Another user in the same browser: the endpoint moves from the old user to the new one.
    await page.fill("#user", "u-other")
    await page.dispatch_event("#user", "change")
    await site.wait_for(
        "POST", "/v1/subscriptions",
        lambda b: b["user"] == "u-other" and b["subscription"]["endpoint"].endswith("/sub-2"),
    )
    assert site.received("DELETE", "/v1/subscriptions") == [
        {"user": user, "endpoint": "https://push.example/sub-2"}
    ]

    # The worker re-posts a subscription the browser replaced (pushsubscriptionchange) for
    # the user the page stored, and deletes the old endpoint.
    worker = await service_worker(browser_context, site.origin)
    outcome = await worker.evaluate(
        """() => self.pushcastWorker.onSubscriptionChange(
             {endpoint: 'https://push.example/sub-2'},
             {endpoint: 'https://push.example/sub-3',
              toJSON: () => ({endpoint: 'https://push.example/sub-3', expirationTime: null,
                              keys: {p256dh: 'k', auth: 'a'}})})"""
    )
    assert outcome == {"posted": True, "endpoint": "https://push.example/sub-3"}
    assert await site.wait_for(
        "POST", "/v1/subscriptions", lambda b: b["subscription"]["endpoint"].endswith("/sub-3")
    ) == {
        "user": "u-other",
        "subscription": {
            "endpoint": "https://push.example/sub-3",
            "expirationTime": None,
            "keys": {"p256dh": "k", "auth": "a"},
        },
    }
    await site.wait_for(
        "DELETE", "/v1/subscriptions",
        lambda b: b == {"user": "u-other", "endpoint": "https://push.example/sub-2"},
    )

    # Turning notifications off unsubscribes and tells the server.
    deletes = len(site.received("DELETE", "/v1/subscriptions"))
    await page.get_by_role("button", name="Turn off").click()
    await wait_until(
        lambda: _count_above(site, "DELETE", "/v1/subscriptions", deletes), "the DELETE"
    )
    assert site.received("DELETE", "/v1/subscriptions")[-1] == {
        "user": "u-other", "endpoint": "https://push.example/sub-2"
    }
    await page.wait_for_function("() => document.getElementById('status').textContent === 'off'")


async def _count_above(site, method, path, count) -> bool:
    return len(site.received(method, path)) > count


async def test_demo_buttons_send_the_sample_events(site, page):
    await open_demo(page, site.origin)
    user = await page.input_value("#user")
    cart = await page.text_content("#cart")
    before = dt.datetime.now(dt.timezone.utc)
    for name in ("Added To Cart", "Charged", "Product Viewed", "Flight Booked"):
        await page.get_by_role("button", name=name, exact=True).click()
    events = {}
    for name in ("Added To Cart", "Charged", "Product Viewed", "Flight Booked"):
        events[name] = await site.wait_for("POST", "/v1/events", lambda b, n=name: b["event"] == n)
    after = dt.datetime.now(dt.timezone.utc)

    for name, event in events.items():
        assert event["user"] == user, name
        ts = dt.datetime.fromisoformat(event["ts"].replace("Z", "+00:00"))
        assert before - dt.timedelta(seconds=5) <= ts <= after + dt.timedelta(seconds=5), name
    assert events["Added To Cart"]["props"]["cart_id"] == cart
    assert events["Added To Cart"]["props"]["price"] >= 10  # the abandoned-cart filter
    assert events["Charged"]["props"]["cart_id"] == cart
    assert events["Product Viewed"]["props"]["product_id"]
    departure = dt.datetime.fromisoformat(
        events["Flight Booked"]["props"]["departure"].replace("Z", "+00:00")
    )
    assert abs(departure - (before + dt.timedelta(days=2))) < dt.timedelta(minutes=1)
    assert {"destination", "booking_ref"} <= events["Flight Booked"]["props"].keys()
    # The page logs after the server answered, so this may come a moment after the request.
    await page.wait_for_function(
        "() => document.getElementById('log').textContent.includes('Sent Flight Booked')"
    )
    assert await page.evaluate(
        """() => import('/sdk/pushcast.mjs').then(m =>
             m.default === window.Pushcast && typeof m.subscribe === 'function')"""
    ), "pushcast.mjs exports the same SDK as the global"
