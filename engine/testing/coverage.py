"""`pushcast test --coverage`: per campaign, which of its branches (trigger fired, segment
failed, DND delay, each limit kind, inaction cancel, conversion ...) no test case
exercised, like promtool's rule tests.

A campaign's branches are the ones it can reach (a campaign without quiet hours has no
DND branch); a branch is covered when a decision of some case took it. The decisions are
the ones the user decision log keeps (engine.core.decisions), taken from the simulator's
run of every case, whole (a log keeps only the last N). Every runtime makes the same
decisions (one `engine.shell.step.apply`), so coverage does not depend on `--runtime`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import IO

from engine.core.campaigns import CampaignSet
from engine.core.decisions import Entry, entry, row_of
from engine.core.limits import queue_delay
from engine.rules.model import DND_OFF, Campaign, DateTrigger, GlobalConfig

# Branch -> what the report calls it.
BRANCHES = {
    "triggered": "trigger fired and qualified",
    "scheduled": "a scheduled run reached a user",
    "segment": "segment failed",
    "sent": "sent",
    "no_subscription": "no subscription",
    "cancelled": "inaction wait cancelled",
    "dnd_delay": "DND delay",
    "dnd_discard": "DND discard",
    "cutoff": "cut-off",
    "limit_global": "global limit",
    "limit_min_gap": "global min_gap",
    "limit_campaign": "campaign limit",
    "date_passed": "date passed",
    "invalid_date": "date not a date",
    "not_started": "before start",
    "ended": "after end",
    "paused": "paused",
    "late": "late scheduled run",
    "converted": "conversion",
    "queued": "queued by a limit",
    "fatigue": "paused by fatigue",
    "engagement": "held by the engagement guard",
}
_LIMIT_KINDS = (("global limit", "limit_global"), ("global min_gap", "limit_min_gap"),
                ("campaign limit", "limit_campaign"))


def reachable(campaign: Campaign, config: GlobalConfig) -> list[str]:
    """The branches this campaign can take under this config, in BRANCHES order."""
    when = campaign.when
    found = {"sent", "no_subscription", "triggered" if campaign.is_live else "scheduled"}
    if campaign.segment is not None and campaign.is_live:
        found.add("segment")  # a scheduled run's non-qualifiers are not logged: one per user per run
    if campaign.unless is not None:
        found.add("cancelled")
    dnd = when.dnd or config.dnd
    if dnd is not None and dnd.start != dnd.end and dnd != DND_OFF:
        found.add("dnd_discard" if dnd.then == "discard" else "dnd_delay")
    if when.cutoff is not None or when.cutoff_at is not None:
        found.add("cutoff")
    if not when.limits.ignore_global:
        if config.limits:
            found.add("limit_global")
        if config.min_gap:
            found.add("limit_min_gap")
    if when.limits.per_user:
        found.add("limit_campaign")
    if found & {"limit_global", "limit_min_gap", "limit_campaign"} and queue_delay(campaign, config):
        found.add("queued")
    if config.fatigue is not None:
        found.add("fatigue")
    if config.engagement is not None:
        found.add("engagement")
    if isinstance(campaign.trigger, DateTrigger):
        found |= {"date_passed", "invalid_date"}
    if when.start is not None and campaign.is_live:
        found.add("not_started")
    if when.end is not None:
        found.add("ended")
    if campaign.status == "paused":
        found = {"paused"}
    if when.schedule is not None and when.schedule.timezone == "user":
        found.add("late")
    if campaign.conversion is not None and campaign.status != "paused":
        found.add("converted")
    return [name for name in BRANCHES if name in found]


def branch_of(decision: Entry) -> str | None:
    """The branch a logged decision took."""
    kind, reason = decision.decision, decision.reason
    if kind == "sent":
        return "sent"
    if kind == "converted":
        return "converted"
    if kind == "waiting":
        return "triggered"
    if kind == "held":
        return "dnd_delay"
    if kind == "queued":
        return "queued"
    if kind == "cancelled":
        return "cancelled"
    if kind == "not_qualified":
        return reason if reason in BRANCHES else None
    if kind == "suppressed":
        if reason == "limit":
            return next((b for prefix, b in _LIMIT_KINDS if decision.detail.startswith(prefix)), None)
        if reason == "dnd":
            return "dnd_discard"
        return reason if reason in BRANCHES else None
    return None


def _triggered(decision: Entry) -> bool:
    """A decision that only follows a qualified trigger (or run)."""
    return decision.decision in ("waiting", "sent", "held") or (
        decision.decision == "suppressed" and decision.reason not in ("date_passed", "invalid_date"))


@dataclass
class Coverage:
    """Reachable and covered branches per campaign id, over every test file."""

    reachable: dict[str, set[str]] = field(default_factory=dict)
    covered: dict[str, set[str]] = field(default_factory=dict)

    def add_campaigns(self, campaigns: CampaignSet) -> None:
        for compiled in campaigns.by_id.values():
            self.reachable.setdefault(compiled.id, set()).update(reachable(compiled.campaign, campaigns.config))
            self.covered.setdefault(compiled.id, set())

    def add_effects(self, effects: list, campaigns: CampaignSet) -> None:
        """Mark the branches the decisions among these effects took."""
        for effect in effects:
            row = row_of(effect)
            if row is None:
                continue
            decision = entry(row)
            compiled = campaigns.get(decision.campaign)
            if compiled is None:
                continue
            live = compiled.campaign.is_live
            taken = self.covered.setdefault(decision.campaign, set())
            branch = branch_of(decision)
            if branch is not None:
                taken.add(branch)
            if _triggered(decision) or decision.decision == "converted":
                taken.add("triggered" if live else "scheduled")

    def missing(self, campaign: str) -> list[str]:
        reach = self.reachable.get(campaign, set())
        return [b for b in BRANCHES if b in reach and b not in self.covered.get(campaign, set())]

    def totals(self) -> tuple[int, int]:
        """(branches covered, branches reachable) over every campaign."""
        total = sum(len(r) for r in self.reachable.values())
        return total - sum(len(self.missing(c)) for c in self.reachable), total

    def percent(self) -> float:
        covered, total = self.totals()
        return 100.0 * covered / total if total else 100.0

    def report(self, out: IO[str]) -> None:
        out.write("coverage: branches no test case exercised, per campaign\n")
        width = max((len(c) for c in self.reachable), default=0)
        for campaign in sorted(self.reachable):
            missing = self.missing(campaign)
            reach = len(self.reachable[campaign])
            line = f"  {campaign:<{width}}  {reach - len(missing)}/{reach}"
            if missing:
                line += "  not exercised: " + ", ".join(BRANCHES[b] for b in missing)
            out.write(line + "\n")
        covered, total = self.totals()
        out.write(f"coverage: {covered} of {total} branches ({self.percent():.1f}%)\n")


def coverage_of_files(paths: list) -> Coverage:
    """The coverage of every case of these test files (files that cannot be loaded are
    skipped: the test run reports them)."""
    import io

    from engine.testing.runner import load_suite, simulate_case

    coverage = Coverage()
    for path in paths:
        loaded = load_suite(path, io.StringIO())
        if loaded is None:
            continue
        suite, campaigns, reloads = loaded
        coverage.add_campaigns(campaigns)
        for _, reloaded in reloads:
            coverage.add_campaigns(reloaded)
        for case in suite.cases:
            sim = simulate_case(suite, case, campaigns, reloads)
            coverage.add_effects(sim.effects, campaigns)
    return coverage


def report_coverage(paths: list, out: IO[str], fail_under: float | None) -> int:
    """Print the coverage; 1 when `fail_under` (percent) is given and not reached."""
    coverage = coverage_of_files(paths)
    coverage.report(out)
    if fail_under is not None and coverage.percent() < fail_under:
        out.write(f"coverage {coverage.percent():.1f}% is under --coverage-fail-under {fail_under:g}\n")
        return 1
    return 0
