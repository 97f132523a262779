"""`reload:` in campaign test files: validation, and the simulator switching to the
reloaded pushcast.yaml at that time."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from engine.rules.errors import ConfigError
from engine.rules.testfile import load_test_file
from engine.testing.runner import run_test_file

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "tests" / "campaigns" / "reload-limits.test.yaml"


def test_the_example_passes_and_fails_without_its_reload(tmp_path):
    out = io.StringIO()
    assert run_test_file(EXAMPLE, out) == (3, 0), out.getvalue()
    # The same cases with the reload taken out: the old limit lets the second reminders through.
    text = EXAMPLE.read_text().replace("reload:\n  - {at: 1h, config: config/reload-after.pushcast.yaml}\n", "")
    assert text != EXAMPLE.read_text()
    copy = tmp_path / "no-reload.test.yaml"
    copy.write_text(text.replace("../../campaigns.d/", f"{ROOT}/campaigns.d/")
                    .replace("config/reload-before", f"{EXAMPLE.parent}/config/reload-before"))
    out = io.StringIO()
    assert run_test_file(copy, out) == (1, 2), out.getvalue()
    assert "sent, not expected: at 190m: user='u2'" in out.getvalue()
    assert "sent, not expected: at 130m: user='u3'" in out.getvalue()


def write(tmp_path: Path, reload: str, down: str = "") -> Path:
    (tmp_path / "stricter.pushcast.yaml").write_text("limits: [{max: 1, per: 1d}]\n")
    path = tmp_path / "t.test.yaml"
    path.write_text(f"campaigns: [{ROOT / 'campaigns.d' / 'welcome.yaml'}]\nstart: 2026-11-25T12:00:00Z\n{down}{reload}"
                    "cases:\n  - {name: c, events: [], expect: []}\n")
    return path


def test_reload_is_read(tmp_path):
    suite = load_test_file(write(tmp_path, "reload: [{at: 1h, config: stricter.pushcast.yaml}]\n"))
    assert [(r.at, r.config.name) for r in suite.reloads] == [(3600, "stricter.pushcast.yaml")]


@pytest.mark.parametrize("reload, down, message", [
    ("reload: [{at: 1h, config: missing.yaml}]\n", "", "reload[0].config: no such file or folder"),
    ("reload: [{at: 1h}]\n", "", 'reload[0]: missing required key "config"'),
    ("reload: [{at: 2h, config: stricter.pushcast.yaml}, {at: 1h, config: stricter.pushcast.yaml}]\n", "",
     "reload[1].at: must come after the previous reload's time"),
    ("reload: [{at: 1h, config: stricter.pushcast.yaml}]\n", "down: [{from: 30m, to: 2h}]\n",
     "reload: at 3600s falls while the runtime is down (line 3)"),
])
def test_bad_reload_is_reported_with_its_line(tmp_path, reload, down, message):
    path = write(tmp_path, reload, down)
    with pytest.raises(ConfigError) as raised:
        load_test_file(path)
    assert message in str(raised.value), str(raised.value)
    assert str(raised.value).startswith(f"{path}:"), str(raised.value)
