"""The Kafka side of `./scripts/run --kafka` (scripts/demo.py): a VAPID key and an admin
token in the demo's state folder, two `pushcast worker`s and a `pushcast gateway`, all on
the demo's pushcast.yaml and topics of their own (`pushcast-demo-`)."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PUSHCAST = str(ROOT / ".venv/bin/pushcast")
KAFKA = os.environ.get("PUSHCAST_KAFKA", f"127.0.0.1:{os.environ.get('PUSHCAST_KAFKA_PORT', '19092')}")
REDIS = os.environ.get("PUSHCAST_REDIS", f"redis://127.0.0.1:{os.environ.get('PUSHCAST_REDIS_PORT', '16379')}/0")
PREFIX = os.environ.get("PUSHCAST_DEMO_TOPIC_PREFIX", "pushcast-demo-")  # tests: topics of their own


def _events_topic_exists() -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    async def check() -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
        await admin.start()
        try:
            return f"{PREFIX}events" in await admin.list_topics()
        finally:
            await admin.close()

    return asyncio.run(check())


def start_kafka_side(config: Path, state: Path, port: int, children: list) -> str:
    """Starts the workers, then the gateway once they made the topics; the admin token."""
    key = state / "vapid_private.pem"
    if not key.exists():
        subprocess.run([PUSHCAST, "vapid", "generate", "--out", str(key)], check=True, stdout=subprocess.DEVNULL)
    token_file = state / "admin_token"
    if not token_file.exists():
        token_file.write_text(secrets.token_urlsafe(32))
        token_file.chmod(0o600)
    token = token_file.read_text().strip()
    env = dict(os.environ, PUSHCAST_ADMIN_TOKEN=token)
    common = ["--kafka", KAFKA, "--config", str(config), "--campaigns", str(ROOT / "campaigns.d"),
              "--topic-prefix", PREFIX]
    for n in (1, 2):
        children.append(subprocess.Popen(
            [PUSHCAST, "worker", *common, "--redis", REDIS, "--app-id", f"{PREFIX}app",
             "--data-dir", str(state / f"worker-{n}"), "--metrics-port", "0"], cwd=ROOT, env=env))
    deadline = time.monotonic() + 90
    while not _events_topic_exists():
        if any(child.poll() is not None for child in children):
            raise SystemExit("demo: a worker stopped (its error is above)")
        if time.monotonic() > deadline:
            raise SystemExit(f"demo: the workers made no topics on {KAFKA} within 90 s")
        time.sleep(0.2)
    children.append(subprocess.Popen(
        [PUSHCAST, "gateway", *common, "--redis", REDIS, "--app-id", f"{PREFIX}app", "--port", str(port),
         "--open-events"], cwd=ROOT, env=env))
    print(f"demo: two workers and a gateway on Kafka {KAFKA} (topics {PREFIX}*), Redis {REDIS}", file=sys.stderr)
    return token
