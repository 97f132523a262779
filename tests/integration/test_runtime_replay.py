"""`pushcast test --runtime embedded`: campaign test files through a real `pushcast run`
on a test clock, delivering to the push emulator, reported as the simulated mode does."""

from __future__ import annotations

import pytest

from tests.integration.campaign_tests import ROOT, pushcast_test, write_wrong_file

pytestmark = pytest.mark.integration


def test_example_files_pass_through_pushcast_run_with_a_restart_in_a_wait():
    files = [ROOT / "campaigns.d" / "tests" / "welcome.test.yaml",
             ROOT / "tests" / "campaigns" / "downtime-restart.test.yaml",
             ROOT / "tests" / "campaigns" / "downtime-outage.test.yaml"]
    code, out = pushcast_test("--runtime", "embedded", *files)
    assert code == 0, out
    assert out.strip().endswith("SUCCESS: 9 cases"), out


def test_wrong_expectations_fail_with_the_lines_of_the_simulated_mode(tmp_path):
    path = write_wrong_file(tmp_path)
    simulated = pushcast_test(path)
    embedded = pushcast_test("--runtime", "embedded", path)
    assert simulated[0] == embedded[0] == 1, embedded[1]
    assert embedded[1] == simulated[1]
    assert "  ok   " in embedded[1] and "FAILED: 4 of 5 cases" in embedded[1]
    assert "expected, not sent: at 11m: user='u1', title='Still thinking about Boots?'" in embedded[1]
    assert "expected, not sent: at 12m: user='u1', campaign='abandoned-cart'" in embedded[1]
    assert "expected, not sent: at 11m: user='u1', campaign='abandoned-cart', ttl=7200" in embedded[1]
    assert "sent, not expected: at 0s: user='u1', campaign='welcome'" in embedded[1]
