"""The README's Kafka section, command by command: the commands are read from its first
`sh` block and run as written, in a fresh folder holding copies of pushcast.yaml and
campaigns.d (as a checkout has them, without .pushcast/). A push reaches the
web-push-testing emulator, subscribed with the key `pushcast vapid public-key` printed,
and `pushcast stats --kafka` shows it sent and delivered.

What the test adds, and why (nothing else changes):
- `--topic-prefix`/`--app-id` on `worker` and `--topic-prefix` on `produce` and `stats`:
  the broker is shared, so this test's topics and group are its own;
- `stats` runs after the push arrived (and again until the delivery is counted): run
  right after `produce`, as written, it may come before the worker decided anything;
- `--metrics-port` on `worker`: other test runs on this machine may hold 9464/9465 (the
  per-worker defaults themselves are tested in tests/unit/agents/test_agents_slot.py);
- the emulator in pushcast.yaml's `push_services` (local push services are never allowed
  by default), and `events.ndjson`: the README's example events with the emulator's
  subscription in place of a browser's.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.fixtures.kafka_runtime import KafkaRuntimeHarness, WorkerProcess
from tests.fixtures.push_emulator import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PUSHCAST = ROOT / ".venv" / "bin" / "pushcast"


def readme_kafka_commands() -> list[list[str]]:
    """The README Kafka section's first sh block: one argv per command (continuations
    joined, comments dropped)."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## The Kafka runtime"):]
    section = section[:section.index("\n## ", 1)]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL).group(1)
    return [shlex.split(line, comments=True) for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def readme_events(section_text: str, subscription: dict) -> str:
    """The README's example events (its json block), with `subscription` for the browser's."""
    block = re.search(r"```json\n(.*?)```", section_text, re.DOTALL).group(1)
    events = [json.loads(line) for line in block.splitlines() if line.strip()]
    for event in events:
        if event["event"] == "$push_subscribe":
            event["props"] = {"endpoint": subscription["endpoint"], "keys": subscription["keys"]}
    return "".join(json.dumps(e) + "\n" for e in events)


def test_the_readme_kafka_section_works_as_written(kafka_bootstrap, redis_url, push_emulator, tmp_path):
    commands = readme_kafka_commands()
    assert [c[:2] for c in commands] == [
        ["scripts/services", "start"], *[[".venv/bin/pushcast", word] for word in
                                         ("vapid", "vapid", "worker", "worker", "produce", "stats")]], commands
    work = tmp_path / "checkout"
    work.mkdir()
    shutil.copytree(ROOT / "campaigns.d", work / "campaigns.d")
    config = (ROOT / "pushcast.yaml").read_text()
    (work / "pushcast.yaml").write_text(
        config + f'push_services:\n  - {{host: "{push_emulator.origin}"}}\n  - {{host: fcm.googleapis.com}}\n')
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## The Kafka runtime"):]

    harness = KafkaRuntimeHarness(kafka_bootstrap, redis_url, tmp_path, [work / "campaigns.d"], work / "pushcast.yaml")
    isolate = ["--topic-prefix", harness.prefix]
    subscription = None
    stats = None  # run once the push arrived: its delivery is then on its way into the stats
    try:
        for argv in commands:
            if argv[0] == "scripts/services":
                done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
                assert done.returncode == 0, done.stderr
                continue
            assert argv[0] == ".venv/bin/pushcast", argv
            argv = [str(PUSHCAST), *argv[1:]]
            for flag, default, value in (("--kafka", "127.0.0.1:19092", kafka_bootstrap),
                                         ("--redis", "redis://127.0.0.1:16379/0", redis_url)):
                if flag in argv:  # the README's addresses are scripts/services' defaults
                    at = argv.index(flag) + 1
                    assert argv[at] == default, argv
                    argv[at] = value  # where the services of this run listen (PUSHCAST_*_PORT)
            command = argv[1]
            if command == "stats":
                stats = [*argv, *isolate]
                continue
            if command == "worker":
                port = free_port()
                log = tmp_path / f"worker-{len(harness.workers) + 1}.log"
                with open(log, "wb") as out:
                    process = subprocess.Popen([*argv, *isolate, "--app-id", harness.app_id, "--metrics-port", str(port)],
                                               cwd=work, stdout=out, stderr=subprocess.STDOUT)
                harness.workers.append(WorkerProcess(f"worker-{len(harness.workers) + 1}", process, log, port))
                continue
            if command == "produce":
                harness.wait_members(len(harness.workers))
                (work / "events.ndjson").write_text(readme_events(section, subscription))
                argv = [*argv, *isolate]
            done = subprocess.run(argv, cwd=work, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, f"{shlex.join(argv)} exited {done.returncode}:\n{done.stderr}"
            assert "Traceback" not in done.stderr
            if argv[1:3] == ["vapid", "public-key"]:
                subscription = push_emulator.subscribe(done.stdout.strip())

        # Both workers run, each with its own store folder (the per-machine defaults).
        assert sorted(p.name for p in (work / ".pushcast" / "kafka").iterdir()) == ["worker-1", "worker-2"]
        assert harness.partition_counts()[harness.events_topic] == 8  # the default --partitions
        deadline = time.monotonic() + 60
        while not (messages := push_emulator.notifications(subscription["clientHash"])):
            harness.check_alive()
            assert time.monotonic() < deadline, f"no push arrived within 60 s\n{harness.logs()}"
            time.sleep(0.2)
        payload = json.loads(messages[0])
        assert payload["campaign"] == "welcome" and payload["title"].startswith("You're in")

        # The stats table: the welcome push sent and, once its result is back, delivered.
        deadline = time.monotonic() + 60
        while True:
            done = subprocess.run(stats, cwd=work, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
            rows = {line.split()[0]: line.split() for line in done.stdout.splitlines()[2:] if line.strip()}
            if rows.get("welcome", [])[3:5] == ["1", "1"]:  # the columns: campaign qualified suppressed sent delivered
                break
            assert time.monotonic() < deadline, f"stats without the delivery after 60 s:\n{done.stdout}"
            time.sleep(0.2)
        assert done.stdout.splitlines()[0].split()[:5] == ["campaign", "qualified", "suppressed", "sent", "delivered"]
    finally:
        harness.stop()
        harness.delete_topics()
