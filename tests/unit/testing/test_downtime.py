"""`down:` in campaign test files: its validation, and what the simulator makes of it
(what a runtime that was down does when it comes back)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from engine.rules.errors import ConfigError
from engine.rules.testfile import load_test_file
from engine.testing.runner import run_test_file

ROOT = Path(__file__).resolve().parents[3]
CART = ROOT / "campaigns.d" / "abandoned-cart.yaml"
SUB = ('{endpoint: "https://fcm.googleapis.com/fcm/send/s", keys: {p256dh: '
       '"BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4", '
       'auth: "BTBZMqHH6r4Tts7J_aSIgg"}}')


def write(tmp_path: Path, down: str, cases: str) -> Path:
    path = tmp_path / "t.test.yaml"
    path.write_text(f"campaigns: [{CART}]\nstart: 2026-11-25T12:00:00Z\n{down}cases:\n{cases}")
    return path


CART_CASE = f"""\
  - name: cart
    events:
      - {{at: 0s, user: u1, event: $push_subscribe, props: {SUB}}}
      - {{at: 1m, user: u1, event: Added To Cart, props: {{product: Shoes, cart_id: c-1, price: 50}}}}
      - {{at: 20m, user: u1, event: Charged, props: {{cart_id: c-1, amount: 50}}}}
    until: 2h
    expect: [{{at: AT, user: u1, campaign: abandoned-cart}}]
"""


def run(path: Path) -> tuple[tuple[int, int], str]:
    out = io.StringIO()
    return run_test_file(path, out), out.getvalue()


def test_down_is_read_in_seconds_from_start(tmp_path):
    suite = load_test_file(write(tmp_path, "down:\n  - {from: 5m, to: 30m}\n  - {from: 1h, to: 1h}\n",
                                 CART_CASE.replace("AT", "11m")))
    assert [(d.start, d.end) for d in suite.down] == [(300, 1800), (3600, 3600)]
    assert suite.down[0].position.line == 4


@pytest.mark.parametrize("down, message", [
    ("down: {from: 5m, to: 30m}\n", "down: expected a list like [{from: 1d, to: 2d12h}]"),
    ("down:\n  - {from: 30m, to: 5m}\n", "down[0].to: is before `from`"),
    ("down:\n  - {from: 5m}\n", 'down[0]: missing required key "to"'),
    ("down:\n  - {from: 1h, to: 2h}\n  - {from: 30m, to: 40m}\n", "down[1].from: must come after the previous downtime's end (line 4)"),
    ("down:\n  - {from: 1h, to: 2h, at: 3h}\n", 'down[0].at: unknown key "at"; allowed: from, to'),
    ("down:\n  - {from: soon, to: 2h}\n", "down[0].from: expected a time like 11m"),
])
def test_bad_down_is_reported_with_file_line_and_field(tmp_path, down, message):
    path = write(tmp_path, down, CART_CASE.replace("AT", "11m"))
    with pytest.raises(ConfigError) as raised:
        load_test_file(path)
    text = str(raised.value)
    assert message in text, text
    assert text.startswith(f"{path}:3:") or text.startswith(f"{path}:4:") or text.startswith(f"{path}:5:"), text


def test_a_restart_changes_nothing(tmp_path):
    (passed, failed), out = run(write(tmp_path, "down: [{from: 5m, to: 5m}]\n", CART_CASE.replace("AT", "11m")))
    assert (passed, failed) == (1, 0), out


def test_a_wait_due_while_down_fires_when_the_runtime_is_back_and_a_purchase_meanwhile_waits(tmp_path):
    # Down from 5m to 40m: the reminder due at 11m goes at 40m; the purchase sent at 20m is
    # applied only then, after the reminder, so it cannot cancel it.
    (passed, failed), out = run(write(tmp_path, "down: [{from: 5m, to: 40m}]\n", CART_CASE.replace("AT", "40m")))
    assert (passed, failed) == (1, 0), out


def test_without_the_downtime_the_purchase_cancels_and_the_same_expectation_fails(tmp_path):
    (passed, failed), out = run(write(tmp_path, "", CART_CASE.replace("AT", "40m")))
    assert (passed, failed) == (0, 1)
    assert "expected, not sent: at 40m" in out


def test_still_down_at_until_sends_nothing_after_going_down(tmp_path):
    case = CART_CASE.replace("until: 2h", "until: 30m").replace("expect: [{at: AT, user: u1, campaign: abandoned-cart}]",
                                                                 "expect: []")
    (passed, failed), out = run(write(tmp_path, "down: [{from: 5m, to: 1h}]\n", case))
    assert (passed, failed) == (1, 0), out
