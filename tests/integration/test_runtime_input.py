"""Bad input on every endpoint of a running `pushcast run`: a clear 4xx naming what is
wrong, and nothing stored."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.runtime import SITE_ORIGIN

pytestmark = pytest.mark.integration

P256DH = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
AUTH = "BTBZMqHH6r4Tts7J_aSIgg"
FCM = "https://fcm.googleapis.com/fcm/send/abc"
GOOD_SUB = {"endpoint": FCM, "keys": {"p256dh": P256DH, "auth": AUTH}}
CART = {"user": "bad-1", "event": "Added To Cart", "props": {"cart_id": "c", "price": 20}}

# (description, method, path, body or raw bytes, admin token?, status, field, index)
CASES = [
    ("events: bad JSON", "POST", "/v1/events", b"{not json", True, 400, None, None),
    ("events: empty body", "POST", "/v1/events", b"", True, 400, None, None),
    ("events: a string", "POST", "/v1/events", "hello", True, 400, "event", None),
    ("events: user missing", "POST", "/v1/events", {"event": "X"}, True, 400, "user", None),
    ("events: user a number", "POST", "/v1/events", {"user": 42, "event": "X"}, True, 400, "user", None),
    ("events: event empty", "POST", "/v1/events", {"user": "bad-1", "event": ""}, True, 400, "event", None),
    ("events: ts not a time", "POST", "/v1/events", {**CART, "ts": "yesterday"}, True, 400, "ts", None),
    # Out of range: each was once answered 200 and then broke the group commit saving it.
    ("events: ts 1e19", "POST", "/v1/events", b'{"user": "bad-1", "event": "Added To Cart", "ts": 1e19}', True,
     400, "ts", None),
    ("events: ts 2**70", "POST", "/v1/events", b'{"user": "bad-1", "event": "Added To Cart", "ts": %d}' % 2**70,
     True, 400, "ts", None),
    ("events: ts in the year 10000", "POST", "/v1/events", {**CART, "ts": "10000-01-01T00:00:00Z"}, True, 400, "ts",
     None),
    ("events: ts -1e15", "POST", "/v1/events", {**CART, "ts": -1e15}, True, 400, "ts", None),
    ("events: props a list", "POST", "/v1/events", {**CART, "props": [1]}, True, 400, "props", None),
    ("events: unknown key", "POST", "/v1/events", {**CART, "extra": 1}, True, 400, "extra", None),
    ("events: unknown reserved", "POST", "/v1/events", {"user": "bad-1", "event": "$nope"}, True, 400, "event", None),
    ("events: pushcast's own", "POST", "/v1/events",
     {"user": "bad-1", "event": "$notification_sent", "props": {"message": "m"}}, True, 400, "event", None),
    ("events: batch with one bad item", "POST", "/v1/events",
     [CART, {**CART, "user": "bad-2"}, {"user": "bad-3", "event": 7}], True, 400, "event", 2),
    ("events: empty batch", "POST", "/v1/events", [], True, 400, None, None),
    ("events: too many items", "POST", "/v1/events", [CART] * 1001, True, 413, None, None),
    ("events: over 1 MB", "POST", "/v1/events", [{**CART, "props": {"x": "y" * 600_000}}] * 2, True, 413, None, None),
    ("events: no token", "POST", "/v1/events", CART, False, 401, None, None),
    ("events: subscribe off the allow-list", "POST", "/v1/events",
     {"user": "bad-1", "event": "$push_subscribe", "props": {**GOOD_SUB, "endpoint": "https://evil.example/push"}},
     True, 400, "props.endpoint", None),
    ("events: subscribe to an internal address", "POST", "/v1/events",
     {"user": "bad-1", "event": "$push_subscribe", "props": {**GOOD_SUB, "endpoint": "https://10.0.0.1/push"}},
     True, 400, "props.endpoint", None),
    ("subscriptions: bad JSON", "POST", "/v1/subscriptions", b"[", False, 400, None, None),
    ("subscriptions: user missing", "POST", "/v1/subscriptions", {"subscription": GOOD_SUB}, False, 400, "user", None),
    ("subscriptions: user a list", "POST", "/v1/subscriptions", {"user": ["bad-1"], "subscription": GOOD_SUB},
     False, 400, "user", None),
    ("subscriptions: subscription missing", "POST", "/v1/subscriptions", {"user": "bad-1"}, False, 400,
     "subscription", None),
    ("subscriptions: keys missing", "POST", "/v1/subscriptions",
     {"user": "bad-1", "subscription": {"endpoint": FCM}}, False, 400, "subscription.keys", None),
    ("subscriptions: short p256dh", "POST", "/v1/subscriptions",
     {"user": "bad-1", "subscription": {"endpoint": FCM, "keys": {"p256dh": "AAAA", "auth": AUTH}}},
     False, 400, "subscription.keys.p256dh", None),
    ("subscriptions: not allow-listed", "POST", "/v1/subscriptions",
     {"user": "bad-1", "subscription": {**GOOD_SUB, "endpoint": "https://push.evil.example/x"}},
     False, 400, "subscription.endpoint", None),
    ("subscriptions: plain http", "POST", "/v1/subscriptions",
     {"user": "bad-1", "subscription": {**GOOD_SUB, "endpoint": "http://fcm.googleapis.com/fcm/send/x"}},
     False, 400, "subscription.endpoint", None),
    ("subscriptions: unknown key", "POST", "/v1/subscriptions",
     {"user": "bad-1", "subscription": GOOD_SUB, "admin": True}, False, 400, "admin", None),
    ("subscriptions: tz not a zone", "POST", "/v1/subscriptions",
     {"user": "bad-1", "subscription": GOOD_SUB, "tz": "Mars/Olympus"}, False, 400, "tz", None),
    ("subscriptions: tz a number", "POST", "/v1/subscriptions",
     {"user": "bad-1", "subscription": GOOD_SUB, "tz": 5}, False, 400, "tz", None),
    ("subscriptions: oversize", "POST", "/v1/subscriptions",
     {"user": "bad-1", "subscription": {**GOOD_SUB, "pad": "x" * 20_000}}, False, 413, None, None),
    ("unsubscribe: endpoint missing", "DELETE", "/v1/subscriptions", {"user": "bad-1"}, False, 400, "endpoint", None),
    ("track: bad JSON", "POST", "/v1/track", b"{", False, 400, None, None),
    ("track: message missing", "POST", "/v1/track",
     {"campaign": "abandoned-cart", "user": "bad-1", "type": "shown", "sig": "x"}, False, 400, "message", None),
    ("track: type unknown", "POST", "/v1/track",
     {"message": "m", "campaign": "abandoned-cart", "user": "bad-1", "type": "opened", "sig": "x"},
     False, 400, "type", None),
    ("track: action a number", "POST", "/v1/track",
     {"message": "m", "campaign": "abandoned-cart", "user": "bad-1", "type": "clicked", "action": 3, "sig": "x"},
     False, 400, "action", None),
    ("track: forged signature", "POST", "/v1/track",
     {"message": "m", "campaign": "abandoned-cart", "user": "bad-1", "type": "clicked", "sig": "forged"},
     False, 403, "sig", None),
    ("campaigns: no token", "GET", "/v1/campaigns", None, False, 401, None, None),
    ("stats: unknown campaign", "GET", "/v1/campaigns/no-such/stats", None, True, 404, None, None),
    ("clock: no token", "POST", "/v1/admin/clock", {"advance": 60}, False, 401, None, None),
    ("clock: advance a string", "POST", "/v1/admin/clock", {"advance": "10m"}, True, 400, "advance", None),
    ("clock: backwards", "POST", "/v1/admin/clock", {"set": "2020-01-01T00:00:00Z"}, True, 400, None, None),
    ("clock: both keys", "POST", "/v1/admin/clock", {"advance": 1, "set": "2030-01-01T00:00:00Z"}, True, 400,
     None, None),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_with_a_clear_4xx(shared_runtime, case):
    _, method, path, body, admin, status, field, index = case
    run = shared_runtime
    clock_before = run.get("/healthz", token=None).json["now"]
    raw = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
    kwargs = {} if admin else {"token": None}
    response = run.request(method, path, raw=raw, headers={"Origin": SITE_ORIGIN}, **kwargs)
    assert response.status == status, response
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json["error"]
    if field is not None:
        assert response.json.get("field") == field, response
        assert field.split(".")[-1] in response.json["error"]
    assert response.json.get("index") == index
    # Nothing stored: no user state was made, the clock did not move, nothing is counted.
    for user in ("bad-1", "bad-2", "bad-3"):
        assert run.user(user) is None
    assert run.get("/healthz", token=None).json["now"] == clock_before
    stats = run.stats("abandoned-cart")
    assert stats["qualified"] == stats["shown"] == stats["clicked"] == 0


def test_a_disallowed_origin_is_refused(shared_runtime):
    response = shared_runtime.post("/v1/subscriptions", {"user": "bad-1", "subscription": GOOD_SUB}, token=None,
                                   headers={"Origin": "https://evil.example"})
    assert response.status == 403 and "site_origins" in response.json["error"]
    assert shared_runtime.user("bad-1") is None


def test_a_preflight_from_the_site_is_allowed(shared_runtime):
    response = shared_runtime.request("OPTIONS", "/v1/track", token=None,
                                      headers={"Origin": SITE_ORIGIN, "Access-Control-Request-Method": "POST"})
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == SITE_ORIGIN
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


def test_a_good_subscription_is_stored(shared_runtime):
    response = shared_runtime.post("/v1/subscriptions", {"user": "good-1", "subscription": GOOD_SUB}, token=None,
                                   headers={"Origin": SITE_ORIGIN})
    assert response.status == 201
    assert shared_runtime.user("good-1")["subscriptions"] == [FCM]
    gone = shared_runtime.request("DELETE", "/v1/subscriptions", {"user": "good-1", "endpoint": FCM}, token=None)
    assert gone.status == 200
    assert shared_runtime.user("good-1")["subscriptions"] == []


def test_a_subscription_carries_the_visitors_time_zone_into_the_profile(shared_runtime):
    response = shared_runtime.post("/v1/subscriptions", {"user": "tz-1", "subscription": GOOD_SUB, "tz": "Asia/Kolkata"},
                                   token=None, headers={"Origin": SITE_ORIGIN})
    assert response.status == 201
    user = shared_runtime.user("tz-1")
    assert user["profile"] == {"tz": "Asia/Kolkata"} and user["subscriptions"] == [FCM]
