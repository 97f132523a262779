"""Why (not) sent, on the embedded runtime: `GET /v1/users/{id}/decisions` and
`pushcast explain` against a running `pushcast run`, after real sends to the emulator."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.fixtures.runtime import ADMIN_TOKEN, ROOT

pytestmark = pytest.mark.integration


def test_decisions_of_a_sent_and_an_unreachable_user_in_json_text_and_the_cli(pushcast_runtime, push_emulator):
    run = pushcast_runtime()
    sub = push_emulator.subscribe(run.public_key)
    run.subscribe("r1", sub)
    cart = {"event": "Added To Cart", "props": {"product": "Boots", "cart_id": "c1", "price": 30}}
    run.events({"user": "r1", **cart}, {"user": "nosub", **cart})
    run.advance(11 * 60)
    run.wait_outbox_empty()

    answer = run.get("/v1/users/r1/decisions?campaign=abandoned-cart")
    assert answer.status == 200, answer
    body = answer.json
    assert body["user"] == "r1" and body["log_size"] == 20
    assert [(d["decision"], d.get("subscriptions")) for d in body["decisions"]] == [("waiting", None), ("sent", 1)]
    assert body["decisions"][0]["text"] == "qualified, waiting until 2026-11-25 10:10 UTC unless Charged comes"
    assert body["decisions"][1]["at"] == "2026-11-25T10:10:00.000Z"

    missing = run.get("/v1/users/nosub/decisions").json["decisions"]
    assert [(d["campaign"], d["decision"], d.get("reason")) for d in missing] == [
        ("abandoned-cart", "waiting", None), ("abandoned-cart", "suppressed", "no_subscription")]

    text = run.get("/v1/users/nosub/decisions?format=text&campaign=abandoned-cart").body.decode()
    assert text.splitlines()[-1] == "2026-11-25 10:10 UTC  abandoned-cart  not sent: no push subscription"
    assert run.get("/v1/users/nobody/decisions").status == 404
    assert run.get("/v1/users/r1/decisions", token=None).status == 401
    assert run.get("/v1/users/r1/decisions?format=xml").status == 400

    done = subprocess.run([sys.executable, "-m", "engine.cli", "explain", "nosub", "abandoned-cart", "--url", run.url,
                           "--token", ADMIN_TOKEN], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == text
    unknown = subprocess.run([sys.executable, "-m", "engine.cli", "explain", "nobody", "--url", run.url,
                              "--token", ADMIN_TOKEN], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 1 and "no state for user 'nobody'" in unknown.stderr
