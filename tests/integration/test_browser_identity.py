"""Identity verification end to end: `pushcast run` with $PUSHCAST_IDENTITY_SECRET and
--open-events, the SDK in headless Chromium given `userHash` (what the site's backend
computes). The SDK's requests carry it and are accepted; a page naming another user
without that user's hash is refused, for subscriptions and events alike; the service
worker re-posts a replaced subscription with the stored hash.

The browser's push service is replaced in the page (`pushManager.subscribe` needs the
vendor's servers): it hands out FCM-shaped endpoints, which the runtime's allow-list
accepts at subscribe time; nothing is sent to them.
"""

from __future__ import annotations

import asyncio

import pytest

from engine.shell.identity import user_hash
from tests.fixtures.browser import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

SECRET = "browser-identity-secret-0123456789"
USER = "asha"
KEYS = {"p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
        "auth": "BTBZMqHH6r4Tts7J_aSIgg"}
ENDPOINT = "https://fcm.googleapis.com/fcm/send/identity-1"

FAKE_PUSH_SERVICE = """((keys) => {
  const KEY = 'test:push-subscription';
  const made = (record) => record && {
    endpoint: record.endpoint, expirationTime: null,
    options: {userVisibleOnly: true, applicationServerKey: new Uint8Array(record.key).buffer},
    toJSON: () => ({endpoint: record.endpoint, expirationTime: null, keys}),
    unsubscribe: () => { localStorage.removeItem(KEY); return Promise.resolve(true); },
  };
  PushManager.prototype.subscribe = function (options) {
    const record = {endpoint: '%s', key: Array.from(new Uint8Array(options.applicationServerKey))};
    localStorage.setItem(KEY, JSON.stringify(record));
    return Promise.resolve(made(record));
  };
  PushManager.prototype.getSubscription = function () {
    return Promise.resolve(made(JSON.parse(localStorage.getItem(KEY) || 'null')));
  };
})(%s);""" % (ENDPOINT, '{"p256dh": "%s", "auth": "%s"}' % (KEYS["p256dh"], KEYS["auth"]))

# Pushcast.init for a user, then one SDK call; the outcome as data (a refusal is a result).
AS_USER_JS = """async ([user, userHash, call]) => {
  Pushcast.init({server: location.origin, user, userHash: userHash || undefined});
  await Pushcast.ready;
  try {
    const value = await (call === 'subscribe' ? Pushcast.subscribe().then(s => s.endpoint)
                         : call === 'unsubscribe' ? Pushcast.unsubscribe()
                         : Pushcast.track('Product Viewed', {product: 'p-1'}).then(() => 'tracked'));
    return {ok: true, value};
  } catch (error) {
    return {ok: false, code: error.code, message: error.message};
  }
}"""


@pytest.fixture
async def runtime(pushcast_runtime):
    run = pushcast_runtime(start=False, extra_args=("--open-events",))
    run.env = {"PUSHCAST_IDENTITY_SECRET": SECRET}
    run.clock_start = "now"  # the SDK stamps events with the browser's time
    return await asyncio.to_thread(run.start)


async def test_the_sdk_sends_user_hash_and_nobody_speaks_for_another_user(runtime, browser_context):
    run = runtime
    assert "identity verification on" in run.output()
    page = await browser_context.new_page()
    await page.add_init_script(FAKE_PUSH_SERVICE)
    await browser_context.grant_permissions(["notifications"], origin=run.url)
    await page.goto(run.url + "/")
    await page.wait_for_function("() => !!window.Pushcast")
    good = user_hash(SECRET.encode(), USER)

    # A page that names the user without their hash, or with another user's, is refused.
    for given, status in ((None, "401"), (user_hash(SECRET.encode(), "mallory"), "403")):
        for call in ("track", "subscribe"):
            outcome = await page.evaluate(AS_USER_JS, [USER, given, call])
            assert not outcome["ok"] and outcome["code"] == "server", outcome
            assert f"HTTP {status}" in outcome["message"] and "user_hash" in outcome["message"], outcome
    assert await asyncio.to_thread(run.user, USER) is None  # nothing was stored for the user

    # With the hash from the site's backend, the same calls go through.
    assert await page.evaluate(AS_USER_JS, [USER, good, "subscribe"]) == {"ok": True, "value": ENDPOINT}
    assert await page.evaluate(AS_USER_JS, [USER, good, "track"]) == {"ok": True, "value": "tracked"}
    assert (await asyncio.to_thread(run.user, USER))["subscriptions"] == [ENDPOINT]

    # The service worker re-posts a subscription the browser replaced, with the stored hash.
    async def worker():
        return next((w for w in browser_context.service_workers if w.url.startswith(run.url + "/sdk/pushcast-sw.js")),
                    None)

    service_worker = await wait_until(worker, "the SDK's service worker")
    replaced = ENDPOINT.replace("identity-1", "identity-2")
    outcome = await service_worker.evaluate(
        """([old, next, keys]) => self.pushcastWorker.onSubscriptionChange(
             {endpoint: old}, {endpoint: next, toJSON: () => ({endpoint: next, expirationTime: null, keys})})""",
        [ENDPOINT, replaced, KEYS])
    assert outcome == {"posted": True, "endpoint": replaced}

    async def moved():
        return (await asyncio.to_thread(run.user, USER))["subscriptions"] == [replaced]

    await wait_until(moved, "the replaced subscription to be stored in place of the old one")

    # Turning notifications off detaches the subscription, again with the hash.
    await page.evaluate("() => { const r = JSON.parse(localStorage.getItem('test:push-subscription'));"
                        f" r.endpoint = '{replaced}'; localStorage.setItem('test:push-subscription', JSON.stringify(r)); }}")
    assert await page.evaluate(AS_USER_JS, [USER, good, "unsubscribe"]) == {"ok": True, "value": True}
    assert (await asyncio.to_thread(run.user, USER))["subscriptions"] == []
