"""`pushcast check` over the project's folders: test files beside campaigns are skipped."""

from pathlib import Path

from engine.cli import main

ROOT = Path(__file__).resolve().parents[3]


def test_check_passes_on_every_shipped_folder_and_skips_test_files(capsys):
    assert main(["check", str(ROOT / "campaigns.d"), str(ROOT / "pushcast.yaml"), str(ROOT / "tests/campaigns")]) == 0
    out = capsys.readouterr().out
    assert "rules.test.yaml" not in out and "SUCCESS:" in out


def test_a_test_file_named_directly_is_still_checked(capsys):
    assert main(["check", str(ROOT / "tests/campaigns/rules.test.yaml")]) == 0
    assert "rules.test.yaml" in capsys.readouterr().out
