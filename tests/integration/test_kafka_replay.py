"""`pushcast test --runtime kafka`: campaign test files through real Kafka workers on a
file clock (two of them, sharing Redis), delivering to the push emulator, reported as the
simulated mode does. (This replaced a test that replayed the example files through the
workers with its own copy of the machinery; scripts/test runs every file this way.)"""

from __future__ import annotations

import pytest

from tests.integration.campaign_tests import ROOT, pushcast_test, write_wrong_file

pytestmark = pytest.mark.integration


def test_example_files_pass_through_two_workers_killed_and_restarted_in_a_wait(kafka_bootstrap, redis_url):
    files = [ROOT / "campaigns.d" / "tests" / "abandoned-cart.test.yaml",
             ROOT / "tests" / "campaigns" / "downtime-restart.test.yaml"]
    code, out = pushcast_test("--runtime", "kafka", "--kafka", kafka_bootstrap, "--redis", redis_url,
                              "--workers", "2", *files)
    assert code == 0, out
    assert out.strip().endswith("SUCCESS: 14 cases"), out


def test_wrong_expectations_fail_with_the_lines_of_the_simulated_mode(tmp_path, kafka_bootstrap):
    path = write_wrong_file(tmp_path)
    simulated = pushcast_test(path)
    kafka = pushcast_test("--runtime", "kafka", "--kafka", kafka_bootstrap, path)
    assert simulated[0] == kafka[0] == 1, kafka[1]
    # The explanations under each missing notification are the workers' own decision
    # logs (asked with pushcast explain --kafka): the same as the simulator's.
    assert kafka[1] == simulated[1]
    assert "FAILED: 4 of 5 cases" in kafka[1]
    assert "why (pushcast explain u1):" in kafka[1]
    assert "abandoned-cart  qualified, waiting until 2026-11-25 10:11 UTC unless Charged comes" in kafka[1]


def test_kafka_needs_an_address():
    code, out = pushcast_test("--runtime", "kafka", ROOT / "campaigns.d" / "tests" / "welcome.test.yaml")
    assert code == 2
    assert "--runtime kafka needs --kafka HOST:PORT" in out
