"""Helpers for the tests of `pushcast test --runtime ...`: run the command as a user
does, and a campaign test file whose expectations are wrong in ways only a delivery
shows (a title, a minute, a TTL header)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

WRONG = """\
campaigns: [{cart}, {welcome}]
config: {config}
start: 2026-11-25T10:00:00Z
cases:
  - name: right
    events:
      - {{at: 0s, user: u1, event: $push_subscribe, props: &sub {{endpoint: "https://fcm.googleapis.com/fcm/send/x", keys: {{p256dh: "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4", auth: "BTBZMqHH6r4Tts7J_aSIgg"}}}}}}
      - {{at: 1m, user: u1, event: Added To Cart, props: {{product: Trail shoes, cart_id: c-9, price: 89.5}}}}
    expect:
      - {{at: 11m, user: u1, title: "Still thinking about Trail shoes?", ttl: 1d, urgency: normal}}
  - name: wrong title
    events:
      - {{at: 0s, user: u1, event: $push_subscribe, props: *sub}}
      - {{at: 1m, user: u1, event: Added To Cart, props: {{product: Trail shoes, cart_id: c-9, price: 89.5}}}}
    expect:
      - {{at: 11m, user: u1, title: "Still thinking about Boots?"}}
  - name: wrong minute
    events:
      - {{at: 0s, user: u1, event: $push_subscribe, props: *sub}}
      - {{at: 1m, user: u1, event: Added To Cart, props: {{product: Trail shoes, cart_id: c-9, price: 89.5}}}}
    expect:
      - {{at: 12m, user: u1, campaign: abandoned-cart}}
  - name: wrong ttl
    events:
      - {{at: 0s, user: u1, event: $push_subscribe, props: *sub}}
      - {{at: 1m, user: u1, event: Added To Cart, props: {{product: Trail shoes, cart_id: c-9, price: 89.5}}}}
    expect:
      - {{at: 11m, user: u1, campaign: abandoned-cart, ttl: 2h}}
  - name: a welcome nobody expected
    events:
      - {{at: 0s, user: u1, event: $push_subscribe, props: *sub}}
      - {{at: 0s, user: u1, event: Notifications Enabled}}
    expect: []
"""


def write_wrong_file(directory: Path) -> Path:
    path = directory / "wrong.test.yaml"
    path.write_text(WRONG.format(cart=ROOT / "campaigns.d" / "abandoned-cart.yaml",
                                 welcome=ROOT / "campaigns.d" / "welcome.yaml", config=ROOT / "pushcast.yaml"))
    return path


def pushcast_test(*args: str, timeout: float = 600) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "engine.cli", "test", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False)
    return done.returncode, done.stdout + done.stderr
