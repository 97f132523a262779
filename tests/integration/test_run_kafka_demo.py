"""`./scripts/run --kafka`'s demo (scripts/demo.py --kafka) as a user runs it: two workers
and a gateway come up over the broker, the demo visitor subscribes through the gateway,
the welcome push reaches the push emulator and is printed, and Ctrl-C (SIGTERM) stops
every process it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.fixtures.kafka_runtime import _run
from tests.fixtures.push_emulator import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


async def _delete_topics(bootstrap: str, prefix: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


def test_the_kafka_demo_shows_the_welcome_push_and_stops_cleanly(kafka_bootstrap, redis_url, tmp_path):
    prefix = f"demo{uuid.uuid4().hex[:8]}-"
    port = free_port()
    log = tmp_path / "demo.log"
    env = dict(os.environ, PUSHCAST_KAFKA=kafka_bootstrap, PUSHCAST_REDIS=redis_url,
               PUSHCAST_DEMO_TOPIC_PREFIX=prefix, PYTHONUNBUFFERED="1")
    env.pop("PUSHCAST_CLOCK_FILE", None)
    with open(log, "wb") as out:
        demo = subprocess.Popen([sys.executable, "scripts/demo.py", "--kafka", "--port", str(port),
                                 "--state-dir", str(tmp_path / "state")], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while "decrypted [welcome]" not in log.read_text(errors="replace"):
            assert demo.poll() is None, f"the demo exited with {demo.returncode}:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"no welcome push printed:\n{log.read_text()[-5000:]}"
            time.sleep(0.2)
        text = log.read_text()
        assert f"listening on http://127.0.0.1:{port}" in text and "two workers and a gateway" in text
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(60) == 0
        assert "pushcast gateway: stopped" in log.read_text()
        # Every process it started (all name the demo's topic prefix) is gone.
        gone = subprocess.run(["pgrep", "-f", prefix], capture_output=True, text=True)
        assert gone.returncode == 1 and gone.stdout == "", gone
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(10)
        _run(_delete_topics(kafka_bootstrap, prefix))
