"""kill -9 and restart: acknowledged events and pending waits survive, nothing is sent
or counted twice (counted at the push emulator), and a send cut off mid-flight is sent
again with the same Topic header."""

from __future__ import annotations

import threading
import time

import pytest

from engine.core.isotime import parse_iso
from tests.fixtures.push_emulator import Reply
from tests.fixtures.runtime import START

pytestmark = pytest.mark.integration

MIN = 60
USERS = 24
CART_TS = parse_iso(START) + 60_000  # explicit event times: a client's retry is the same event
P256DH = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
AUTH = "BTBZMqHH6r4Tts7J_aSIgg"


def cart_event(n: int) -> dict:
    return {"user": f"k{n}", "event": "Added To Cart", "ts": CART_TS,
            "props": {"product": f"Item {n}", "cart_id": f"cart-{n}", "price": 20}}


def test_kill_9_mid_stream_loses_nothing_and_sends_nothing_twice(pushcast_runtime, push_emulator):
    run = pushcast_runtime()
    subs = []
    for n in range(USERS):
        sub = push_emulator.subscribe(run.public_key)
        run.subscribe(f"k{n}", sub)
        subs.append(sub)

    acknowledged: list[int] = []
    cut_off = []
    enough = threading.Event()

    def produce():
        # Carts for the subscribed users, then other traffic until the runtime dies.
        for n in range(USERS + 100_000):
            event = cart_event(n) if n < USERS else {"user": f"v{n}", "event": "Product Viewed", "props": {"n": n}}
            try:
                response = run.post("/v1/events", event, timeout=5)
            except OSError:
                cut_off.append(n)
                return  # the runtime is gone: the rest is not acknowledged
            if response.status == 200 and n < USERS:
                acknowledged.append(n)
            if len(acknowledged) == USERS // 2:
                enough.set()

    producer = threading.Thread(target=produce)
    producer.start()
    assert enough.wait(20)
    run.kill()
    producer.join(20)
    assert cut_off and len(acknowledged) >= USERS // 2

    run.restart()
    for n in acknowledged:  # every acknowledged event was applied: its wait is there
        waits = run.user(f"k{n}")["waits"]
        assert [w["campaign"] for w in waits] == ["abandoned-cart"], n
    # The client resends what it has no acknowledgment for (and, to be sure, all of it).
    run.events(*[cart_event(n) for n in range(USERS)])

    run.advance(11 * MIN)
    run.wait_outbox_empty()
    counts = [len(push_emulator.notifications(sub["clientHash"])) for sub in subs]
    assert counts == [1] * USERS
    stats = run.stats("abandoned-cart")
    assert (stats["qualified"], stats["sent"], stats["delivered"]) == (USERS, USERS, USERS)

    # Once sent and marked done, a restart sends nothing again and counts nothing again.
    run.kill()
    run.restart()
    run.advance(60 * MIN)  # returns once what became due is queued
    run.wait_outbox_empty()
    assert [len(push_emulator.notifications(sub["clientHash"])) for sub in subs] == [1] * USERS
    assert run.stats("abandoned-cart") == stats


def test_a_send_cut_off_in_flight_is_sent_again_with_the_same_topic(pushcast_runtime, scripted_push_server):
    server = scripted_push_server
    server.script("/push/s1", Reply(201, delay=30))  # the first copy is never answered
    run = pushcast_runtime(extra_origins=(server.origin,))
    subscription = {"endpoint": server.url("/push/s1"), "keys": {"p256dh": P256DH, "auth": AUTH}}
    run.subscribe("s1", subscription)
    run.events({"user": "s1", "event": "Added To Cart", "props": {"cart_id": "c1", "price": 50}})
    run.advance(11 * MIN)
    deadline = time.monotonic() + 10
    while not server.received("/push/s1"):
        assert time.monotonic() < deadline, "the runtime did not send"
        time.sleep(0.02)
    run.kill()

    run.restart()
    run.wait_outbox_empty()
    first, second = server.received("/push/s1")
    assert first.headers["Topic"] == second.headers["Topic"]
    stats = run.stats("abandoned-cart")
    assert (stats["sent"], stats["delivered"], stats["failed"]) == (1, 1, 0)
