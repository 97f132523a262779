"""Queued caps in `pushcast run`: a message its cap holds is sent when the window frees
(on the test clock, from the stored send history), and the stats count it queued and
released."""

from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.integration

HOURLY = """
campaign: hourly
who: {on: {event: Ping}}
when:
  limits:
    per_user: {max: 1, per: 1h}
    on_limit: queue
    max_delay: 2h
what: {title: "Ping {{ event.n }}"}
"""


def _titles(emulator, client_hash: str, count: int, timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        titles = [json.loads(m)["title"] for m in emulator.notifications(client_hash)]
        if len(titles) >= count or time.monotonic() > deadline:
            return titles
        time.sleep(0.05)


def test_a_capped_message_waits_for_the_window_and_is_counted(pushcast_runtime, push_emulator):
    run = pushcast_runtime(campaigns={"hourly": HOURLY})
    sub = push_emulator.subscribe(run.public_key)
    run.subscribe("u1", sub)
    run.events({"user": "u1", "event": "Ping", "props": {"n": 1}}, {"user": "u1", "event": "Ping", "props": {"n": 2}})
    assert _titles(push_emulator, sub["clientHash"], 1) == ["Ping 1"]
    [wait] = run.user("u1")["waits"]
    assert (wait["campaign"], wait["kind"]) == ("hourly", "queued")

    run.advance(3599)
    run.wait_outbox_empty()
    assert _titles(push_emulator, sub["clientHash"], 2, timeout=1) == ["Ping 1"]
    run.advance(1)
    assert _titles(push_emulator, sub["clientHash"], 2) == ["Ping 1", "Ping 2"]
    run.wait_outbox_empty()
    stats = run.stats("hourly")
    assert (stats["qualified"], stats["queued"], stats["released"], stats["sent"], stats["delivered"]) == (2, 1, 1, 2, 2)
    assert stats["suppressed_total"] == 0
