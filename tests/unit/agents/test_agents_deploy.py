"""The deployment files run what the code has: the compose/Dockerfile worker command parses
with the real CLI and Prometheus scrapes the port it opens (the dashboard's metrics:
tests/unit/shell/test_metrics.py). (No Docker engine runs in CI.)"""

import json
import re
import sys
from pathlib import Path

from ruamel.yaml import YAML

from engine.cli import build_parser

ROOT = Path(__file__).resolve().parents[3]


def _entrypoint() -> list[str]:
    text = (ROOT / "Dockerfile").read_text()
    match = re.search(r"^ENTRYPOINT (\[.*?\])$", text.replace("\\\n", ""), re.MULTILINE | re.DOTALL)
    return json.loads(match.group(1))


def _compose() -> dict:
    return YAML(typ="safe").load((ROOT / "deploy" / "compose.yaml").read_text())


def _built(compose: dict) -> dict:
    """The services run from the pushcast image (the Dockerfile)."""
    return {name: s for name, s in compose["services"].items() if "build" in s}


def _parse(argv: list[str]):
    """argparse exits (SystemExit 2) on an unknown flag or a bad value: fail with the argv."""
    try:
        return build_parser().parse_args(argv)
    except SystemExit:
        raise AssertionError(f"the CLI refuses {argv}") from None


def test_every_command_of_the_image_and_compose_parses_with_the_cli():
    entry = _entrypoint()
    assert entry[:2] == ["pushcast", "worker"]
    compose = _compose()
    workers = {name: s for name, s in _built(compose).items() if name.startswith("worker")}
    assert len(workers) == 2
    for name, service in _built(compose).items():
        argv = entry[1:] + service.get("command", [])
        if "entrypoint" in service:  # a service of the same image running another subcommand
            argv = service["entrypoint"][1:] + service.get("command", [])
        args = _parse(argv)
        assert args.kafka == "kafka:9092" and args.redis.startswith("redis://redis:"), name
    for service in workers.values():
        args = _parse(entry[1:] + service["command"])
        assert args.func.__name__ == "run_worker"
        assert args.metrics_port == 9464 and str(args.data_dir) == "/data"
        # Prometheus scrapes from its own container: the loopback default would hide /metrics.
        assert args.metrics_host == "0.0.0.0"


def _mounts(service: dict) -> dict[str, Path]:
    """{container path: host path} of a service's bind mounts (named volumes left out)."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            mounts[target] = (ROOT / "deploy" / source).resolve()
    return mounts


def _host_path(mounts: dict[str, Path], path: str) -> Path:
    for target, source in mounts.items():
        if path == target or path.startswith(target + "/"):
            return source / path[len(target):].lstrip("/")
    raise AssertionError(f"{path} is in no volume mounted into the worker (mounts: {sorted(mounts)})")


def test_compose_ships_every_file_it_mounts():
    for name, service in _compose()["services"].items():
        for target, source in _mounts(service).items():
            assert source.exists(), f"{name} mounts {source.relative_to(ROOT)} at {target}, which is not in the repo"


def test_the_workers_config_and_campaigns_are_in_deploy_etc_and_valid(capsys):
    from engine.rules.check import run_check
    from engine.rules.config import load_config

    compose, entry = _compose(), _entrypoint()
    for name, service in _built(compose).items():
        args = _parse(service.get("entrypoint", entry)[1:] + service.get("command", []))
        mounts = _mounts(service)
        config_file = _host_path(mounts, str(args.config))
        assert config_file == ROOT / "deploy" / "etc" / "pushcast.yaml", name
        config = load_config(config_file)
        assert config.kafka == "kafka:9092" and config.redis == "redis://redis:6379/0"
        # The key is each deployment's own (made before `up`, never committed), in the mount.
        key = _host_path(mounts, config.vapid_key)
        assert key.parent == ROOT / "deploy" / "etc" and key.suffix == ".pem"
        campaigns = [_host_path(mounts, str(c)) for c in args.campaigns]
        assert campaigns == [ROOT / "deploy" / "etc" / "campaigns.d"]
        assert run_check(campaigns, sys.stdout) == 0, capsys.readouterr().out
        assert "SUCCESS: 6 campaigns" in capsys.readouterr().out


def test_prometheus_scrapes_every_worker_on_its_metrics_port_and_the_gateway():
    config = YAML(typ="safe").load((ROOT / "deploy" / "prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    workers = {name for name in _compose()["services"] if name.startswith("worker")}
    gateway = _compose()["services"]["gateway"]
    args = _parse(gateway["entrypoint"][1:] + gateway["command"])
    assert args.func.__name__ == "run_gateway" and args.host == "0.0.0.0"
    # The gateway's /metrics is on its API port; the SDK it serves is in the image.
    assert gateway["ports"] == [f"{args.port}:{args.port}"] and str(args.sdk_dir) == "/app/sdk"
    assert "COPY sdk sdk" in (ROOT / "Dockerfile").read_text()
    assert targets == {f"{w}:9464" for w in workers} | {f"gateway:{args.port}"}
