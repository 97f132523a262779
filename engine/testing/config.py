"""The pushcast.yaml and campaign folder a real runtime gets for one campaign test file:
the suite's own config (so limits, quiet hours and time zone are the ones the simulator
used), with a fresh VAPID key, the push emulator as the only push service, an admin token
for the test clock and events, and each test user under every case's name."""

from __future__ import annotations

import io
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML

from connectors.push.vapid import generate_keys
from engine.testing.plan import Plan


@dataclass(frozen=True)
class RuntimeFiles:
    config: Path
    campaigns: Path  # a folder holding a copy of each of the suite's campaign files
    public_key: str  # the VAPID applicationServerKey: emulator subscriptions are made with it
    admin_token: str


def write_runtime_files(plan: Plan, directory: Path, push_origin: str) -> RuntimeFiles:
    directory.mkdir(parents=True, exist_ok=True)
    suite = plan.suite
    data = (YAML(typ="safe").load(suite.config.read_text()) if suite.config else None) or {}
    key = directory / "vapid_private.pem"
    public_key = generate_keys(key)
    token = secrets.token_hex(16)
    data["vapid"] = {"key": str(key), "subject": "mailto:push@shop.example"}
    # Only the emulator (behind the recorder): a push to anything else is a failure to see.
    data["push_services"] = [{"host": push_origin}]
    data["admin_token"] = token
    test_users = list(data.get("test_users") or [])
    data["test_users"] = test_users + plan.renamed_users(test_users)
    config = directory / "pushcast.yaml"
    text = io.StringIO()
    YAML(typ="safe").dump(data, text)
    config.write_text(text.getvalue())
    campaigns = directory / "campaigns.d"
    campaigns.mkdir(exist_ok=True)
    for path in suite.campaigns:
        for file in sorted(path.glob("*.yaml")) if path.is_dir() else [path]:
            shutil.copy(file, campaigns / file.name)
    return RuntimeFiles(config, campaigns, public_key, token)
