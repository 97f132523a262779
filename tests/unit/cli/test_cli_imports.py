"""`pushcast check` and `pushcast test` load no runtime, crypto or Kafka module.

They run on a developer's laptop and in pre-deploy hooks: validating YAML must not need
(or pay the import time of) Faust, aiokafka, the crypto stack or the runtimes. Each case
runs the CLI in a fresh interpreter and lists, at exit, the forbidden modules it loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

FORBIDDEN = ("faust", "mode", "aiokafka", "kafka", "cryptography", "http_ece", "py_vapid",
             "pywebpush", "aiohttp", "redis", "rocksdict", "prometheus_client",
             "engine.local", "engine.agents", "connectors")

PROBE = """
import json, sys
from engine.cli import main
code = main(sys.argv[1:])
forbidden = tuple(json.loads({forbidden!r}))
loaded = sorted(m for m in sys.modules if any(m == f or m.startswith(f + ".") for f in forbidden))
print("LOADED " + json.dumps({{"code": code, "loaded": loaded}}))
"""


def run_cli(*args: str) -> dict:
    code = PROBE.format(forbidden=json.dumps(FORBIDDEN))
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("LOADED "))
    return json.loads(line.removeprefix("LOADED "))


def test_check_loads_no_runtime_crypto_or_kafka_module():
    found = run_cli("check", "campaigns.d", "pushcast.yaml")
    assert found["code"] == 0
    assert found["loaded"] == []


def test_test_loads_no_runtime_crypto_or_kafka_module():
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "campaigns.d" / "tests").glob("*.test.yaml"))
    assert files
    found = run_cli("test", *files)
    assert found["code"] == 0
    assert found["loaded"] == []


def test_the_probe_sees_a_command_that_loads_the_runtime(tmp_path):
    # `stats` opens the embedded runtime's store: the probe must notice engine.local.
    found = run_cli("stats", "--state-dir", str(tmp_path))
    assert found["code"] == 1
    assert "engine.local" in found["loaded"]


def test_pywebpush_is_a_bench_extra_used_only_by_bench_and_freezegun_is_gone():
    import re
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = lambda reqs: {re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].lower() for r in reqs}  # noqa: E731
    assert "pywebpush" not in names(project["dependencies"])
    assert "pywebpush" in names(project["optional-dependencies"]["bench"])
    assert not any("freezegun" in names(reqs) for reqs in
                   [project["dependencies"], *project["optional-dependencies"].values()])
    uses = re.compile(r"^\s*(from|import)\s+(pywebpush|freezegun)\b", re.MULTILINE)
    offenders = [str(path.relative_to(ROOT)) for folder in ("engine", "connectors", "tests", "scripts", "examples")
                 for path in (ROOT / folder).rglob("*.py") if uses.search(path.read_text(encoding="utf-8"))]
    assert offenders == []
    assert uses.search((ROOT / "bench" / "push_pywebpush.py").read_text(encoding="utf-8"))
