"""Test sends and the worker API on the Kafka runtime, with two workers and the push
emulator: a test send reaches a test user's browser although the campaign's limit is
used up for them; a user who is not a test profile is refused; the worker API answers
reach (as `pushcast reach --kafka` does) and send-test (every test profile)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures.kafka_runtime import make_config, metric_value

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_795_600_800_000  # 2026-11-25T10:00:00Z
MIN = 60_000
TOKEN = "kafka-api-token-0123456789abcdef"
CART = """\
campaign: cart
who:
  on: {event: Added To Cart}
when:
  limits: {per_user: {max: 1, per: 1d}}
what:
  title: "Hi {{ profile.name | default: 'there' }}, still thinking about {{ event.product | default: 'your cart' }}?"
  ttl: 1h
"""


def _cli(harness, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PUSHCAST_CLOCK_FILE=str(harness.clock_file))  # the workers' clock
    return subprocess.run([sys.executable, "-m", "engine.cli", *args, "--kafka", harness.bootstrap,
                           "--topic-prefix", harness.prefix, "--json", "--timeout", "15"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def _post(port: int, path: str, body: dict | None = None, token: str | None = TOKEN) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body or {}).encode(),
                                     headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _wait_api(harness, port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        harness.check_alive()
        try:
            _post(port, "/v1/campaigns/cart/reach", token="")  # 401: the server is up
            return
        except OSError:
            assert time.monotonic() < deadline, f"the worker API did not answer\n{harness.logs()}"
            time.sleep(0.1)


def _payloads(emulator, sub: dict, count: int, timeout: float = 15) -> list[dict]:
    """The decrypted payloads at `sub`, once there are `count` of them."""
    deadline = time.monotonic() + timeout
    while True:
        got = [json.loads(text) for text in emulator.notifications(sub["clientHash"])]
        if len(got) >= count or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def test_test_sends_and_the_worker_api_over_two_workers(kafka_runtime_factory, push_emulator, tmp_path):
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "campaigns" / "cart.yaml").write_text(CART)
    config = make_config(tmp_path, None, extra_test_users=["qa-config", "qa-never-seen"], admin_token=TOKEN,
                         push_services=[{"host": push_emulator.origin, "rate": 1000, "burst": 1000}])
    key = (tmp_path / "vapid_public.txt").read_text()
    qa, customer, qa_config = (push_emulator.subscribe(key) for _ in range(3))

    harness = kafka_runtime_factory([tmp_path / "campaigns"], config)
    harness.set_clock(NOW)
    w1 = harness.start_worker("w1", dry_run=False, api=True)
    harness.start_worker("w2", dry_run=False)
    harness.wait_members(2)

    def subscribe(user: str, sub: dict) -> dict:
        return {"user": user, "event": "$push_subscribe", "ts": NOW,
                "props": {"endpoint": sub["endpoint"], "keys": sub["keys"]}}

    def cart(user: str, minute: int) -> dict:
        return {"user": user, "event": "Added To Cart", "ts": NOW + minute * MIN, "props": {"product": "Trail shoes"}}

    # qa-1 and customer each get the campaign once for real: its limit is used up for both
    # (customer's second cart is suppressed by it); then qa-1 becomes a test profile.
    harness.produce([subscribe("qa-1", qa), subscribe("customer", customer), subscribe("qa-config", qa_config),
                     cart("qa-1", 1), cart("customer", 1), cart("customer", 2),
                     {"user": "qa-1", "event": "$profile", "ts": NOW + 3 * MIN, "props": {"test": True, "name": "Quinn"}}])
    harness.wait_idle()
    assert len(_payloads(push_emulator, qa, 1)) == 1
    assert len(_payloads(push_emulator, customer, 1)) == 1
    metrics = [w.metrics() for w in harness.workers]
    assert sum(metric_value(m, "pushcast_suppressed_total", campaign="cart", reason="limit")
               for m in metrics) == 1

    # A test send to qa-1 over the CLI: sent, and it reaches the browser.
    done = _cli(harness, "send-test", "cart", "--user", "qa-1")
    assert done.returncode == 0, done.stderr + harness.logs()
    result = json.loads(done.stdout)
    assert (result["campaign"], result["test_users"], result["sent"]) == ("cart", 1, 1)
    (sent,) = result["results"]
    assert sent["user"] == "qa-1" and sent["title"] == "Hi Quinn, still thinking about your cart?"
    payloads = _payloads(push_emulator, qa, 2)
    assert [p["title"] for p in payloads] == ["Hi there, still thinking about Trail shoes?",
                                              "Hi Quinn, still thinking about your cart?"]
    assert payloads[1]["message"] == sent["message"] and payloads[1]["campaign"] == "cart"

    # customer is not a test profile: refused, with the reason.
    refused = _cli(harness, "send-test", "cart", "--user", "customer")
    assert refused.returncode == 1 and "user 'customer' is not a test profile" in refused.stderr, refused.stderr
    unknown = _cli(harness, "send-test", "no-such-campaign", "--user", "qa-1")
    assert unknown.returncode == 1 and "no campaign 'no-such-campaign'" in unknown.stderr, unknown.stderr

    # The worker API: reach equals the CLI's; send-test to every test profile.
    _wait_api(harness, w1.api_port)
    status, body = _post(w1.api_port, "/v1/campaigns/cart/reach", token="")
    assert status == 401 and "Bearer" in body["error"]
    status, api_reach = _post(w1.api_port, "/v1/campaigns/cart/reach")
    assert status == 200, api_reach
    cli_reach = _cli(harness, "reach", "cart")
    assert cli_reach.returncode == 0, cli_reach.stderr
    counted = ("users", "qualified", "reachable", "no_subscription", "test_profiles")
    assert {k: api_reach[k] for k in counted} == {k: json.loads(cli_reach.stdout)[k] for k in counted}
    assert (api_reach["users"], api_reach["reachable"], api_reach["test_profiles"]) == (3, 1, 2)

    status, body = _post(w1.api_port, "/v1/campaigns/nope/send-test")
    assert status == 404 and "no campaign 'nope'" in body["error"]
    status, body = _post(w1.api_port, "/v1/campaigns/cart/send-test", {"user": "customer"})
    assert (status, body.get("field")) == (400, "user") and "not a test profile" in body["error"]
    status, body = _post(w1.api_port, "/v1/campaigns/cart/send-test", {"name": "qa-1"})
    assert (status, body.get("field")) == (400, "name")

    status, everyone = _post(w1.api_port, "/v1/campaigns/cart/send-test")
    assert status == 200, everyone
    by_user = {r["user"]: r for r in everyone["results"]}
    assert sorted(by_user) == ["qa-1", "qa-config", "qa-never-seen"]
    assert (everyone["test_users"], everyone["sent"]) == (3, 2)
    assert by_user["qa-never-seen"]["reason"] == "no_subscription"
    assert by_user["qa-config"]["title"] == "Hi there, still thinking about your cart?"
    assert [p["message"] for p in _payloads(push_emulator, qa_config, 1)] == [by_user["qa-config"]["message"]]
    assert len(_payloads(push_emulator, qa, 3)) == 3
    assert len(push_emulator.notifications(customer["clientHash"])) == 1  # never a test send

    harness.wait_idle()
    metrics = [w.metrics() for w in harness.workers]
    assert sum(metric_value(m, "pushcast_notifications_sent_total", campaign="cart", test="true") for m in metrics) == 3
    assert sum(metric_value(m, "pushcast_notifications_sent_total", campaign="cart", test="false") for m in metrics) == 2
