"""The sample events (examples/) and the README's backtest and reach examples, as written."""

from __future__ import annotations

import importlib.util
import io
import json
import re
import shlex
import subprocess
import sys
import threading
from contextlib import redirect_stdout
from pathlib import Path

from engine.cli import main

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
EVENTS = ROOT / "examples" / "events.ndjson"


def readme_command(name: str) -> list[str]:
    """The README's example line for `pushcast NAME`, with its optional [parts] kept."""
    for line in README.read_text().splitlines():
        if line.startswith(f".venv/bin/pushcast {name} "):
            words = shlex.split(line.split("#", 1)[0].replace("[", " ").replace("]", " "))
            return words[1:]
    raise AssertionError(f"no `.venv/bin/pushcast {name}` line in the README")


def generate() -> list[dict]:
    spec = importlib.util.spec_from_file_location("make_events", ROOT / "examples" / "make_events.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate()


def test_the_committed_sample_is_what_the_script_writes():
    lines = [json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in generate()]
    assert EVENTS.read_text(encoding="utf-8").splitlines() == lines
    assert 2000 <= len(lines) <= 6000


def test_the_sample_is_sorted_by_time_and_every_event_is_valid():
    from engine.core import parse_event

    events = [parse_event(json.loads(line), 0, None) for line in EVENTS.read_text(encoding="utf-8").splitlines()]
    assert [e.ts for e in events] == sorted(e.ts for e in events)
    names = {e.name for e in events}
    assert {"$profile", "$push_subscribe", "Added To Cart", "Charged", "Session Started"} <= names


def test_the_readme_backtest_example_reports_sends_for_abandoned_cart(monkeypatch):
    args = readme_command("backtest")
    assert args[:2] == ["backtest", "abandoned-cart"]
    assert "examples/events.ndjson" in args
    monkeypatch.chdir(ROOT)
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(args) == 0
    report = out.getvalue()
    assert "bad lines: 0" in report
    found = re.search(r"abandoned-cart: qualified ([\d,]+), would send ([\d,]+)", report)
    assert found, report
    qualified, sent = (int(n.replace(",", "")) for n in found.groups())
    assert qualified > 0 and 0 < sent <= qualified


def test_the_readme_reach_example_counts_the_replayed_sample(tmp_path):
    """docs/embedded.md: replay the sample through `pushcast run`, then `pushcast reach`."""
    state = tmp_path / "state"
    run = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "run", "--config", "examples/pushcast.yaml", "--events",
         "examples/events.ndjson", "--test-clock", "2026-12-01T00:00:00Z", "--port", "0",
         "--state-dir", str(state)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watchdog = threading.Timer(300, run.kill)  # a hung runtime fails the test instead of blocking the suite
    watchdog.start()
    try:
        seen = []
        for line in run.stdout:
            seen.append(line)
            if "examples/events.ndjson: done" in line:
                break
        assert re.search(r"done, 4[\d,]* event\(s\) applied, 0 line\(s\) rejected", "".join(seen)), "".join(seen)
    finally:
        watchdog.cancel()
        run.terminate()
        run.communicate(timeout=60)  # read what it still logs: a full pipe would block its shutdown
    args = readme_command("reach")
    assert args[:2] == ["reach", "win-back"]
    args = [a if a != ".pushcast" else str(state) for a in args]
    args = [a if a != "ISO" else "2026-12-01T00:00:00Z" for a in args]
    done = subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["users"] == 100
    assert 0 < found["reachable"] <= found["qualified"]
