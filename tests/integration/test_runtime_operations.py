"""Operating `pushcast run`: first-run keys and token, campaign reload (folder change and
SIGHUP) keeping the last good set and the pending waits, an events file with bad lines,
`pushcast stats`, a clean stop."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time

import pytest

from tests.fixtures.runtime import ROOT, PushcastProcess, free_port

pytestmark = pytest.mark.integration

MIN = 60
PING = """
campaign: ping
who: {on: {event: Ping}}
what: {title: "Pong {{ event.n }}"}
"""


def wait_for(predicate, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_reload_keeps_the_last_good_set_and_pending_waits(pushcast_runtime, push_emulator):
    run = pushcast_runtime()
    sub = push_emulator.subscribe(run.public_key)
    run.subscribe("r1", sub)
    run.events({"user": "r1", "event": "Added To Cart", "props": {"cart_id": "c1", "price": 30}})

    # A broken file: the folder is refused whole, the previous set keeps running.
    (run.campaigns_dir / "ping.yaml").write_text(PING.replace("title:", "titel:"))
    wait_for(lambda: "pushcast_config_last_reload_successful 0.0" in run.get("/metrics", token=None).body.decode(),
             what="the failed reload")
    assert "ping.yaml" in run.output() and "titel" in run.output()
    assert "ping" not in {c["id"] for c in run.get("/v1/campaigns").json["campaigns"]}

    # Fixed and announced with SIGHUP (the poll would find it too).
    (run.campaigns_dir / "ping.yaml").write_text(PING)
    run.process.send_signal(signal.SIGHUP)
    wait_for(lambda: "ping" in {c["id"] for c in run.get("/v1/campaigns").json["campaigns"]}, what="the reload")
    assert "pushcast_config_last_reload_successful 1.0" in run.get("/metrics", token=None).body.decode()

    # The cart wait made before both reloads still fires; the new campaign works.
    run.events({"user": "r1", "event": "Ping", "props": {"n": 7}})
    run.advance(11 * MIN)
    wait_for(lambda: len(push_emulator.notifications(sub["clientHash"])) == 2, what="two notifications")
    titles = sorted(json.loads(m)["title"] for m in push_emulator.notifications(sub["clientHash"]))
    assert titles == ["Pong 7", "Still thinking about your cart?"]


def test_events_file_bad_lines_stats_command_and_first_run(tmp_path, push_emulator, pushcast_runtime):
    # From the fixture, so that the last start is stopped however the test ends.
    run = pushcast_runtime({"ping": PING}, start=False)
    # No admin token in the config: one is generated at first run and printed.
    run.config_path.write_text("\n".join(line for line in run.config_path.read_text().splitlines()
                                         if not line.startswith("admin_token")) + "\n")
    # An events file whose subscription needs the emulator's key: the runtime makes the
    # key at first run, so start once to get it.
    run.start()
    key_file = run.state_dir / "vapid_private.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert f"VAPID public key {run.public_key}" in run.output()
    token = (run.state_dir / "admin_token").read_text().strip()
    assert f"generated admin token {token}" in run.output()
    # No identity_secret: the start says that browser routes take user ids on trust.
    assert "identity verification is off: browser routes trust the user id" in run.output()
    run.stop()
    assert "pushcast: stopped" in run.output()

    sub = push_emulator.subscribe(run.public_key)
    events = tmp_path / "events.ndjson"
    events.write_text("\n".join([
        json.dumps({"user": "f1", "event": "$push_subscribe",
                    "props": {"endpoint": sub["endpoint"], "keys": sub["keys"]}}),
        "{this is not json",
        json.dumps({"user": "f1", "event": "Ping", "props": {"n": 1}, "surprise": True}),
        json.dumps({"user": "f1", "event": "Ping", "props": {"n": 2}}),
    ]) + "\n")
    run.extra_args = ("--events", str(events))
    run.start()
    wait_for(lambda: len(push_emulator.notifications(sub["clientHash"])) == 1, what="the notification")
    assert json.loads(push_emulator.notifications(sub["clientHash"])[0])["title"] == "Pong 2"
    output = run.output()
    assert f"{events}:2: event rejected: invalid JSON" in output
    assert f"{events}:3: event rejected: surprise: unknown key" in output
    run.wait_outbox_empty()
    stats = run.request("GET", "/v1/campaigns/ping/stats", token=token).json
    assert (stats["qualified"], stats["sent"], stats["delivered"]) == (1, 1, 1)
    run.stop()

    table = subprocess.run([sys.executable, "-m", "engine.cli", "stats", "--state-dir", str(run.state_dir)],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout
    header, _, row = table.splitlines()[:3]
    assert header.split()[:5] == ["campaign", "qualified", "suppressed", "sent", "delivered"]
    assert row.split()[:5] == ["ping", "1", "0", "1", "1"]
    one = subprocess.run([sys.executable, "-m", "engine.cli", "stats", "ping", "--json", "--state-dir",
                          str(run.state_dir)], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert [(s["campaign"], s["sent"], s["delivered"]) for s in json.loads(one)] == [("ping", 1, 1)]
    missing = subprocess.run([sys.executable, "-m", "engine.cli", "stats", "nope", "--state-dir", str(run.state_dir)],
                             cwd=ROOT, capture_output=True, text=True)
    assert missing.returncode == 1 and "nope" in missing.stderr

    # A restart does not read the events file again: the same notification is not resent.
    run.start()
    deadline = time.monotonic() + 30
    while "resuming after line 4" not in run.output():  # the file is read from there on
        assert time.monotonic() < deadline, run.output()
        time.sleep(0.05)
    run.wait_outbox_empty()
    assert len(push_emulator.notifications(sub["clientHash"])) == 1
    assert "resuming after line 4" in run.output()


def test_an_invalid_campaign_folder_stops_the_start_with_every_problem(tmp_path, push_emulator):
    run = PushcastProcess(tmp_path, [push_emulator.origin], {
        "one": PING.replace("ping", "one").replace("title:", "titel:"),
        "two": PING.replace("ping", "two").replace("on: {event: Ping}", "on: {evnt: Ping}"),
    })
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", "run", "--config", str(run.config_path), "--campaigns",
         str(run.campaigns_dir), "--state-dir", str(run.state_dir), "--port", str(free_port())],
        cwd=ROOT, capture_output=True, text=True, timeout=30, env={**os.environ})
    assert result.returncode == 1
    assert "one.yaml" in result.stderr and "two.yaml" in result.stderr and "problem(s)" in result.stderr
