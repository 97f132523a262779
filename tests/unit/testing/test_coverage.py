"""`pushcast test --coverage`: which branches each campaign can reach, which the cases'
decisions took, and the exit code only with --coverage-fail-under."""

import io
from pathlib import Path

from engine.cli import main
from engine.core.campaigns import CampaignSet
from engine.rules.loader import parse_campaign
from engine.rules.model import DoNotDisturb, FrequencyLimit, GlobalConfig, TimeOfDay
from engine.testing.coverage import BRANCHES, Coverage, coverage_of_files, reachable
from engine.testing.runner import run_test_files
from tests.unit.core_helpers import DAY, MIN, T0, ev, simulate, subscribed

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).parents[1] / "testfiles"

LIVE = """
campaign: cart
name: cart
who:
  on: {event: Added To Cart}
  unless: {event: Charged, within: 10m}
  segment: {did: Product Viewed, in_last: 7d}
when: {limits: {per_user: {max: 1, per: 1d}}, cutoff: "21:00"}
what: {title: hi}
conversion: {event: Charged, within: 1d}
"""
PLAIN = """
campaign: plain
name: plain
who: {on: Searched}
when: {dnd: off, limits: {ignore_global: true}}
what: {title: hi}
"""


def test_only_the_branches_a_campaign_can_reach_are_listed():
    config = GlobalConfig(limits=(FrequencyLimit(3, 86400),), min_gap=60,
                          dnd=DoNotDisturb(TimeOfDay(22, 0), TimeOfDay(8, 0)))
    assert reachable(parse_campaign(LIVE), config) == [
        "triggered", "segment", "sent", "no_subscription", "cancelled", "dnd_delay", "cutoff",
        "limit_global", "limit_min_gap", "limit_campaign", "converted"]
    assert reachable(parse_campaign(PLAIN), config) == ["triggered", "sent", "no_subscription"]
    discard = GlobalConfig(dnd=DoNotDisturb(TimeOfDay(22, 0), TimeOfDay(8, 0), "discard"))
    assert "dnd_discard" in reachable(parse_campaign(LIVE), discard)
    assert "dnd_delay" not in reachable(parse_campaign(LIVE), discard)


def test_branches_are_covered_by_the_decisions_the_cases_made():
    cs = CampaignSet([parse_campaign(LIVE)])
    sim = simulate(cs, subscribed() + [
        ev(T0, "Added To Cart"),  # segment failed: no view before
        ev(T0 + MIN, "Product Viewed"),
        ev(T0 + 2 * MIN, "Added To Cart"),  # waits, then sent at 12m
        ev(T0 + 20 * MIN, "Charged"),  # a conversion (view-through)
    ], T0 + DAY)
    coverage = Coverage()
    coverage.add_campaigns(cs)
    coverage.add_effects(sim.effects, cs)
    assert coverage.missing("cart") == ["no_subscription", "cancelled", "cutoff", "limit_campaign"]
    assert coverage.totals() == (4, 8)


def test_the_report_names_what_no_case_exercised_and_fail_under_sets_the_exit_code(capsys):
    files = [str(ROOT / "campaigns.d/tests/flight-reminder.test.yaml")]
    assert main(["test", "--coverage", *files]) == 0
    out = capsys.readouterr().out
    assert "flight-reminder  4/6  not exercised: no subscription, DND delay" in out
    assert "coverage: 4 of 6 branches (66.7%)" in out
    assert main(["test", "--coverage-fail-under", "70", *files]) == 1
    assert "under --coverage-fail-under 70" in capsys.readouterr().out
    assert main(["test", "--coverage-fail-under", "66", *files]) == 0


def test_the_example_campaigns_are_covered_in_full():
    coverage = coverage_of_files(sorted((ROOT / "campaigns.d/tests").glob("*.test.yaml")))
    assert set(coverage.reachable) == {p.stem for p in (ROOT / "campaigns.d").glob("*.yaml")}
    assert {c: coverage.missing(c) for c in coverage.reachable} == {c: [] for c in coverage.reachable}
    assert set().union(*coverage.reachable.values()) <= set(BRANCHES)


def test_a_missing_notification_is_explained_from_the_users_decision_log():
    out = io.StringIO()
    assert run_test_files([HERE / "wrong-title.test.yaml"], out) == 1
    text = out.getvalue()
    assert "why (pushcast explain u1):" in text
    assert "abandoned-cart  qualified, waiting until 2026-11-25 10:11 UTC unless Charged comes" in text
    assert "abandoned-cart  sent to 1 subscription" in text
