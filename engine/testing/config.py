"""The pushcast.yaml and campaign folder a real runtime gets for one campaign test file:
the suite's own config (so limits, quiet hours and time zone are the ones the simulator
used), with a fresh VAPID key, the push emulator as the only push service (on two origins:
one stands in for Apple's, which takes Declarative Web Push messages), an admin token
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
    vapid_key: Path
    push_origin: str
    apple_origin: str  # the recorder's stand-in for Apple's push service


def write_runtime_files(plan: Plan, directory: Path, push_origin: str, apple_origin: str) -> RuntimeFiles:
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / "vapid_private.pem"
    files = RuntimeFiles(directory / "pushcast.yaml", directory / "campaigns.d", generate_keys(key),
                         secrets.token_hex(16), key, push_origin, apple_origin)
    write_config(files, plan, plan.suite.config)
    files.campaigns.mkdir(exist_ok=True)
    for path in plan.suite.campaigns:
        for file in sorted(path.glob("*.yaml")) if path.is_dir() else [path]:
            shutil.copy(file, files.campaigns / file.name)
    return files


def write_config(files: RuntimeFiles, plan: Plan, base: Path | None) -> None:
    """`files.config` from `base`'s settings (the suite's, or a reload's) and ours."""
    data = (YAML(typ="safe").load(base.read_text()) if base else None) or {}
    data["vapid"] = {"key": str(files.vapid_key), "subject": "mailto:push@shop.example"}
    # Only the emulator (behind the recorder): a push to anything else is a failure to see.
    data["push_services"] = [{"host": files.push_origin}, {"host": files.apple_origin, "declarative": True}]
    data["admin_token"] = files.admin_token
    test_users = list(data.get("test_users") or [])
    data["test_users"] = test_users + plan.renamed_users(test_users)
    text = io.StringIO()
    YAML(typ="safe").dump(data, text)
    # Replaced in one step: a worker re-reading it never sees half a file.
    tmp = files.config.with_name(files.config.name + ".tmp")
    tmp.write_text(text.getvalue())
    tmp.replace(files.config)
