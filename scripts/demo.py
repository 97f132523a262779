"""The README's run commands: pushcast with the example campaigns, showing it send.

`./scripts/run`: the embedded runtime (`pushcast run`). `./scripts/run --kafka`: the same
demo through Kafka (scripts/services' Kafka and Redis, two `pushcast worker`s and a
`pushcast gateway` on the same port, see demo_kafka.py).

Starts `pushcast run` (the demo page on http://127.0.0.1:8080/) and, so that a send is
visible without a browser, a local Web Push service emulator (web-push-testing, from
npm) that checks VAPID and decrypts what it receives. A demo visitor subscribes there,
turns notifications on and adds a product to the cart; the welcome push arrives at once
and the abandoned-cart reminder after ten quiet minutes. Every notification the emulator
decrypts is printed. Open the demo page in a browser to receive real ones. Ctrl-C stops.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EMULATOR = ROOT / "node_modules/web-push-testing/src/bin/server.js"
sys.path.insert(0, str(ROOT))

from connectors.push.allowlist import DEFAULT_PUSH_HOSTS  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(url: str, body: object | None = None, token: str | None = None, method: str | None = None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method or ("POST" if data else "GET"))
    try:
        response = urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as error:
        raise SystemExit(f"demo: {method or 'POST'} {url} answered {error.code}: {error.read().decode()[:500]}") from None
    with response:
        text = response.read()
        return json.loads(text) if text.strip().startswith((b"{", b"[")) else text


def wait_until(check, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"demo: {what} did not come up within {seconds:.0f} s")


def write_config(state: Path, emulator_port: int) -> Path:
    """The example pushcast.yaml, plus the local emulator as an allowed push service
    (explicitly, for this demo: it is never allowed by default)."""
    text = (ROOT / "pushcast.yaml").read_text()
    text = text.replace("key: .pushcast/vapid_private.pem", f"key: {state / 'vapid_private.pem'}")
    hosts = "".join(f'  - {{host: "{host}"}}\n' for host in DEFAULT_PUSH_HOSTS)
    text += f"push_services:\n{hosts}  - {{host: \"http://localhost:{emulator_port}\"}}\n"
    path = state / "pushcast.yaml"
    path.write_text(text)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--state-dir", type=Path, default=ROOT / ".pushcast/demo")
    parser.add_argument("--kafka", action="store_true",
                        help="through Kafka: two workers and a gateway (scripts/run --kafka starts Kafka and Redis)")
    args = parser.parse_args()
    if args.kafka and args.state_dir == parser.get_default("state_dir"):
        args.state_dir = ROOT / ".pushcast/demo-kafka"
    args.state_dir.mkdir(parents=True, exist_ok=True)
    node = shutil.which("node")
    if not node or not EMULATOR.exists():
        raise SystemExit("demo: needs Node and `npm install` (scripts/setup does both)")

    emulator_port = free_port()
    children = [subprocess.Popen([node, str(EMULATOR), str(emulator_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    emulator = f"http://127.0.0.1:{emulator_port}"
    config = write_config(args.state_dir, emulator_port)
    server = f"http://127.0.0.1:{args.port}"
    if args.kafka:
        from demo_kafka import start_kafka_side

        token = start_kafka_side(config, args.state_dir, args.port, children)
    else:
        children.append(subprocess.Popen(
            [str(ROOT / ".venv/bin/pushcast"), "run", "--config", str(config), "--campaigns", str(ROOT / "campaigns.d"),
             "--state-dir", str(args.state_dir), "--port", str(args.port), "--open-events"], cwd=ROOT))

    def stop(*_):
        for child in reversed(children):
            child.send_signal(signal.SIGTERM)
        for child in children:
            child.wait(timeout=15)
        raise SystemExit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    wait_until(lambda: call(f"{emulator}/status", {}) is not None, "the push emulator")
    wait_until(lambda: call(f"{server}/healthz") is not None, "the gateway" if args.kafka else "pushcast run", 90)

    if not args.kafka:
        token = (args.state_dir / "admin_token").read_text().strip()
    key = call(f"{server}/v1/vapid-public-key")["publicKey"]
    sub = call(f"{emulator}/subscribe", {"applicationServerKey": key, "userVisibleOnly": "true"})["data"]
    user = f"demo-{int(time.time())}"
    call(f"{server}/v1/events", [
        {"user": user, "event": "$profile", "props": {"name": "Demo visitor"}},
        {"user": user, "event": "$push_subscribe", "props": {"endpoint": sub["endpoint"], "keys": sub["keys"]}},
        {"user": user, "event": "Notifications Enabled"},
        {"user": user, "event": "Added To Cart", "props": {"product": "Trail shoes", "cart_id": "demo-cart", "price": 89.5}},
    ], token=token)
    print(f"\ndemo: visitor {user} subscribed at a local push service, turned notifications on and added "
          f"Trail shoes to the cart.\ndemo: the welcome push comes now, the abandoned-cart reminder in ten minutes "
          f"(leave this running).\ndemo: open {server}/ in a browser to get real notifications; Ctrl-C stops.\n", flush=True)
    seen = 0
    while True:
        messages = call(f"{emulator}/get-notifications", {"clientHash": sub["clientHash"]})["data"]["messages"]
        for raw in messages[seen:]:
            payload = json.loads(raw)
            print(f"demo: push service received and decrypted [{payload.get('campaign')}] "
                  f"{payload.get('title')!r} — {payload.get('body')!r} → {payload.get('url')}", flush=True)
        seen = len(messages)
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
