"""`pushcast test`: passing files exit 0; a mismatch exits 1 with expected against got."""

import io
from pathlib import Path

from engine.cli import main
from engine.testing.runner import run_test_files

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).parents[1] / "testfiles"


def test_the_example_and_rule_campaign_tests_pass():
    files = sorted((ROOT / "campaigns.d/tests").glob("*.test.yaml")) + sorted((ROOT / "tests/campaigns").glob("*.test.yaml"))
    out = io.StringIO()
    assert run_test_files(files, out) == 0, out.getvalue()
    assert "FAIL" not in out.getvalue()


def test_a_mismatch_fails_and_shows_expected_against_got():
    out = io.StringIO()
    assert run_test_files([HERE / "wrong-title.test.yaml"], out) == 1
    text = out.getvalue()
    assert "FAIL" in text and "expects the wrong title" in text
    assert "expected, not sent: at 11m: user='u1', title='Still thinking about Boots?'" in text
    assert "got instead:     at 11m: user='u1', title='Still thinking about Trail shoes?'" in text
    # Without the 30-minute global gap (no config here), the second cart is sent too.
    assert "sent, not expected: at 12m: user='u1', campaign='abandoned-cart', title='Still thinking about Hat?'" in text
    assert "  ok   " in text and "FAILED: 1 of 2 cases" in text


def test_the_cli_exit_code(capsys):
    assert main(["test", str(HERE / "wrong-title.test.yaml")]) == 1
    assert main(["test", str(ROOT / "campaigns.d/tests/price-drop.test.yaml")]) == 0
    assert "SUCCESS: 4 cases" in capsys.readouterr().out


def test_a_broken_test_file_is_reported_with_its_position(tmp_path):
    bad = tmp_path / "bad.test.yaml"
    bad.write_text("campaigns: [missing.yaml]\nstart: yesterday\ncases: []\n")
    out = io.StringIO()
    assert run_test_files([bad], out) == 1
    assert f"{bad}" in out.getvalue() and "cannot load" in out.getvalue()
