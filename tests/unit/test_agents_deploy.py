"""The deployment files run what the code has: the compose/Dockerfile worker command parses
with the real CLI and Prometheus scrapes the port it opens (the dashboard's metrics:
tests/unit/shell/test_metrics.py). (No Docker engine runs in CI.)"""

import json
import re
from pathlib import Path

from ruamel.yaml import YAML

from engine.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def _entrypoint() -> list[str]:
    text = (ROOT / "Dockerfile").read_text()
    match = re.search(r"^ENTRYPOINT (\[.*?\])$", text.replace("\\\n", ""), re.MULTILINE | re.DOTALL)
    return json.loads(match.group(1))


def _compose() -> dict:
    return YAML(typ="safe").load((ROOT / "deploy" / "compose.yaml").read_text())


def test_the_worker_command_of_the_image_and_compose_parses_with_the_cli():
    entry = _entrypoint()
    assert entry[:2] == ["pushcast", "worker"]
    compose = _compose()
    workers = {name: s for name, s in compose["services"].items() if name.startswith("worker")}
    assert len(workers) == 2
    for service in workers.values():
        args = build_parser().parse_args(entry[1:] + service["command"])
        assert args.func.__name__ == "run_worker"
        assert args.kafka == "kafka:9092" and args.redis.startswith("redis://redis:")
        assert args.metrics_port == 9464 and str(args.data_dir) == "/data"


def test_prometheus_scrapes_every_worker_on_its_metrics_port():
    config = YAML(typ="safe").load((ROOT / "deploy" / "prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    workers = {name for name in _compose()["services"] if name.startswith("worker")}
    assert targets == {f"{w}:9464" for w in workers}
