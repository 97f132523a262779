"""`pushcast test`: run campaign test files (docs/campaign-tests.md) on a simulated clock."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any, Callable

from engine.core import CampaignSet, Event, Notify
from engine.rules.config import load_config
from engine.rules.errors import ConfigError
from engine.rules.loader import load_campaigns
from engine.rules.testfile import Expectation, TestCase, TestSuite, load_test_file
from engine.shell.declarative import is_apple_push_service
from engine.shell.explain import explain_state
from engine.testing.simulator import Simulation

DEFAULT_UNTIL_S = 86400  # the clock runs to the last event + 1 day unless `until` says


def notification_fields(notify: Notify, start_ms: int) -> dict[str, Any]:
    """A sent notification as the keys an expectation may name. `declarative`: sent as a
    Declarative Web Push message (marked so by the campaign, with a `url`, to Apple's push
    service), as the sender decides."""
    fields = dict(notify.payload)
    marked = fields.pop("declarative", False)
    fields["declarative"] = bool(marked and "url" in fields
                                 and any(is_apple_push_service(s.endpoint) for s in notify.subscriptions))
    fields.update(user=notify.user, campaign=notify.campaign, ttl=notify.ttl, urgency=notify.urgency,
                  at=(notify.at - start_ms) // 1000)
    fields.setdefault("require_interaction", False)
    return fields


def matches(expectation: Expectation, got: dict[str, Any]) -> bool:
    if expectation.at is not None and expectation.at != got["at"]:
        return False
    return all(got.get(key) == value for key, value in expectation.fields.items())


# (user, campaign or None) -> the lines explaining that user's decisions
Explainer = Callable[[str, str | None], list[str]]


def run_case(suite: TestSuite, case: TestCase, campaigns: CampaignSet,
             reloads: list[tuple[int, CampaignSet]] = ()) -> list[dict]:
    """Simulate one case; return the notifications as field dicts. `reloads`: (epoch ms,
    the campaigns under the config reloaded then)."""
    return notifications_of(simulate_case(suite, case, campaigns, reloads), suite)


def notifications_of(sim: Simulation, suite: TestSuite) -> list[dict]:
    return [notification_fields(n, suite.start) for n in sim.notifications]


def simulate_case(suite: TestSuite, case: TestCase, campaigns: CampaignSet,
                  reloads: list[tuple[int, CampaignSet]] = ()) -> Simulation:
    """The simulation of one case, run to its end (its states hold the decision logs)."""
    sim = Simulation(campaigns, started=suite.start)
    events = sorted(
        (
            (suite.start + e.at * 1000, Event(e.user, e.event, e.ts if e.ts is not None else suite.start + e.at * 1000, e.props))
            for e in case.events
        ),
        key=lambda pair: pair[0],
    )
    last = max((e.at for e in case.events), default=0)
    until_s = case.until if case.until is not None else last + DEFAULT_UNTIL_S
    down = [(suite.start + d.start * 1000, suite.start + d.end * 1000) for d in suite.down]
    sim.run(events, suite.start + until_s * 1000, down, reloads)
    return sim


def compare(case: TestCase, got: list[dict]) -> tuple[list[Expectation], list[dict]]:
    """Expectations not met, and notifications nobody expected."""
    unused = list(got)
    missing = []
    for expectation in case.expect:
        found = next((g for g in unused if matches(expectation, g)), None)
        if found is None:
            missing.append(expectation)
        else:
            unused.remove(found)
    return missing, unused


def _format_duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _describe(fields: dict, keys: list[str] | None = None) -> str:
    shown = {k: fields[k] for k in (keys or ["user", "campaign", "variant", "title", "body", "url"]) if k in fields}
    at = fields.get("at")
    prefix = f"at {_format_duration(at)}: " if isinstance(at, int) else ""
    return prefix + ", ".join(f"{k}={v!r}" for k, v in shown.items())


def load_suite(path: Path, out: IO[str]) -> tuple[TestSuite, CampaignSet, list[tuple[int, CampaignSet]]] | None:
    """The test file, its campaigns, and the campaigns under each config it reloads;
    None (after printing every problem) if any is bad."""
    try:
        suite = load_test_file(path)
        config = load_config(suite.config) if suite.config else None
        campaigns = load_campaigns(list(suite.campaigns))
        reloads = [(suite.start + r.at * 1000, CampaignSet(campaigns, load_config(r.config))) for r in suite.reloads]
        return suite, CampaignSet(campaigns, config), reloads
    except ConfigError as error:
        out.write(f"FAIL {path}: cannot load\n{error}\n")
        return None


def run_test_file(path: Path, out: IO[str], verbose: bool = False) -> tuple[int, int]:
    """Run one file; returns (cases passed, cases failed). Load errors count as failed."""
    loaded = load_suite(path, out)
    if loaded is None:
        return 0, 1
    suite, campaigns, reloads = loaded
    passed = failed = 0
    for case in suite.cases:
        sim = simulate_case(suite, case, campaigns, reloads)

        def explain(user: str, campaign: str | None, sim=sim) -> list[str]:
            return explain_state(sim.states.get(user), user, campaign, sim.campaigns)

        if report_case(path, case, notifications_of(sim, suite), out, verbose, explain=explain):
            passed += 1
        else:
            failed += 1
    return passed, failed


def report_case(path: Path, case: TestCase, got: list[dict], out: IO[str], verbose: bool = False,
                problems: list[str] = (), explain: Explainer | None = None) -> bool:
    """Compare one case's notifications with its `expect` list and print the ok/FAIL
    lines (every runtime's report looks the same); True when it passed. `explain`: the
    runtime's decision log of a user, printed under an expected notification not sent."""
    missing, unexpected = compare(case, got)
    if not missing and not unexpected and not problems:
        out.write(f"  ok   {path}: {case.name}\n")
        if verbose:
            for fields in got:
                out.write(f"         sent {_describe(fields)}\n")
        return True
    out.write(f"  FAIL {path}: {case.name} ({case.position})\n")
    for problem in problems:
        out.write(f"         {problem}\n")
    for expectation in missing:
        keys = list(expectation.fields)
        wanted = dict(expectation.fields, at=expectation.at)
        out.write(f"         expected, not sent: {_describe(wanted, keys)}\n")
        near = [g for g in got if all(g.get(k) == v for k, v in expectation.fields.items() if k in ("user", "campaign"))]
        for g in near:
            out.write(f"           got instead:     {_describe(g, keys)}\n")
        if explain is not None:
            _write_explanation(case, expectation, explain, out)
    for fields in unexpected:
        out.write(f"         sent, not expected: {_describe(fields)}\n")
    if not got:
        out.write("         (nothing was sent)\n")
    return False


def case_users(case: TestCase) -> list[str]:
    return sorted({e.user for e in case.events})


def _write_explanation(case: TestCase, expectation: Expectation, explain: Explainer, out: IO[str]) -> None:
    """Why the expected notification did not come: the decision log (pushcast explain)
    of its user (or every user of the case) for its campaign (or all)."""
    user = expectation.fields.get("user")
    campaign = expectation.fields.get("campaign")
    for name in [user] if isinstance(user, str) else case_users(case):
        out.write(f"           why (pushcast explain {name}{' ' + campaign if campaign else ''}):\n")
        for line in explain(name, campaign if isinstance(campaign, str) else None):
            out.write(f"             {line}\n")


def run_test_files(paths: list[Path], out: IO[str], verbose: bool = False) -> int:
    return summarize([run_test_file(path, out, verbose) for path in paths], out)


def summarize(results: list[tuple[int, int]], out: IO[str], not_run: int = 0) -> int:
    """The last line and the exit code, from each file's (passed, failed); `not_run`
    cases a runtime cannot replay (each file said why above)."""
    total_passed = sum(p for p, _ in results)
    total_failed = sum(f for _, f in results)
    note = f" ({not_run} not run on this runtime: see NOT RUN above)" if not_run else ""
    if total_failed:
        out.write(f"FAILED: {total_failed} of {total_passed + total_failed} cases{note}\n")
        return 1
    out.write(f"SUCCESS: {total_passed} cases{note}\n")
    return 0
