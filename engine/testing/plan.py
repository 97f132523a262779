"""What a real runtime must be shown to replay one campaign test file, and what it should
answer: the cases of the file merged into one timeline (each case's users renamed
`c<i>.<user>`, so cases run side by side in one runtime without meeting), and the clock
steps.

A real runtime decides a scheduled run when it is made and a wait when it falls due, at
whatever its clock reads, so the clock must stop at every time something happens: every
event time, every scheduled run time and every time the simulator says a notification is
due (a DND hold ending, a `late: next_day` slot, a reminder). The simulator is run first
to learn those times; it is also the reference a failure is reported against.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from pathlib import Path

from engine.core import CampaignSet
from engine.core.schedule import run_times
from engine.core.variants import drawn
from engine.rules.testfile import TestCase, TestSuite
from engine.testing.runner import DEFAULT_UNTIL_S, run_case

SUBSCRIPTION_EVENTS = ("$push_subscribe", "$push_unsubscribe")


MAX_RENAME_TRIES = 100_000


def case_user(index: int, user: str, campaigns: CampaignSet | None = None) -> str:
    """`c<index>.<user>`; when the campaigns have A/B variants, `c<index>x<n>.<user>` with
    the first n that draws every variant the user's own name draws (the draw hashes the
    user id), so a real runtime assigns the variants the simulator did."""
    name = f"c{index}.{user}"
    ab = [c.campaign for c in campaigns.by_id.values() if c.campaign.what.variants] if campaigns else []
    if not ab:
        return name
    wanted = [drawn(campaign, user) for campaign in ab]
    for n in range(MAX_RENAME_TRIES):
        candidate = name if n == 0 else f"c{index}x{n}.{user}"
        if [drawn(campaign, candidate) for campaign in ab] == wanted:
            return candidate
    return name


def split_user(renamed: str) -> tuple[int, str] | None:
    """`c3.u1` or `c3x17.u1` -> (3, "u1"); None for a user no case named."""
    prefix, dot, user = renamed.partition(".")
    index = prefix[1:].split("x", 1)[0]
    if not dot or not prefix.startswith("c") or not index.isdigit() or not prefix[1:].replace("x", "", 1).isdigit():
        return None
    return int(index), user


@dataclass
class Step:
    at: int  # epoch ms: the test-clock time this step stops at
    events: list[dict] = field(default_factory=list)  # sent with the clock just before `at`
    expected: int = 0  # notifications the simulator sends at `at`: the runner waits for them
    down_until: int | None = None  # after this step the runtime is killed and comes back at this time
    resumes: bool = False  # the runtime came back at `at`: it catches up before the events go in
    reload: Path | None = None  # after this step pushcast.yaml becomes this file's settings
    runs: int = 0  # scheduled runs due by `at`, all campaigns together


@dataclass
class CasePlan:
    index: int
    case: TestCase
    until: int  # epoch ms: arrivals after it are not this case's business
    simulated: list[dict]  # the simulator's notifications (notification_fields)


@dataclass
class Plan:
    suite: TestSuite
    cases: list[CasePlan]
    steps: list[Step]
    campaigns: CampaignSet | None = None

    @property
    def start(self) -> int:
        return self.suite.start

    @property
    def end(self) -> int:
        return max((c.until for c in self.cases), default=self.suite.start)

    def renamed_users(self, names) -> list[str]:
        """`names` (e.g. the config's test_users) as every case calls them."""
        return [case_user(c.index, name, self.campaigns) for c in self.cases for name in names]


def event_record(index: int, event, at_ms: int, campaigns: CampaignSet | None = None) -> dict:
    """A test file's event as a runtime takes it in (JSON, `ts` in epoch ms)."""
    return {"user": case_user(index, event.user, campaigns), "event": event.event,
            "ts": event.ts if event.ts is not None else at_ms, "props": dict(event.props or {})}


def make_plan(suite: TestSuite, campaigns: CampaignSet, reloads: list[tuple[int, CampaignSet]] = ()) -> Plan:
    cases: list[CasePlan] = []
    steps: dict[int, Step] = {}

    def step(at: int) -> Step:
        return steps.setdefault(at, Step(at))

    for index, case in enumerate(suite.cases):
        last = max((e.at for e in case.events), default=0)
        until = suite.start + (case.until if case.until is not None else last + DEFAULT_UNTIL_S) * 1000
        simulated = run_case(suite, case, campaigns, reloads)
        cases.append(CasePlan(index, case, until, simulated))
        for event in case.events:
            at = suite.start + event.at * 1000
            if at <= until:  # the simulator ignores what comes after `until` too
                step(at).events.append(event_record(index, event, at, campaigns))
        for fields in simulated:
            step(suite.start + fields["at"] * 1000).expected += 1
    plan = Plan(suite, cases, [], campaigns)
    all_runs = sorted(run_at for compiled in campaigns.by_id.values()
                      for _slot, run_at in run_times(compiled, suite.start - 1, plan.end))
    for run_at in all_runs:
        step(run_at)
    step(plan.end)
    for reload in suite.reloads:
        if suite.start + reload.at * 1000 <= plan.end:
            step(suite.start + reload.at * 1000).reload = reload.config
    for down in suite.down:
        went_down, back = suite.start + down.start * 1000, suite.start + down.end * 1000
        if went_down > plan.end:
            break
        step(went_down).down_until = back
        if back == went_down:
            continue  # a restart: nothing waits for it
        resumed = step(back)
        resumed.resumes = True
        # Nothing happens while the runtime is down (the simulator agrees: it has no
        # notification in there); the events of that time wait for it, in time order.
        waiting = [steps.pop(at) for at in sorted(steps) if went_down < at < back]
        resumed.events[:0] = [record for s in waiting for record in s.events]
        resumed.expected += sum(s.expected for s in waiting)
    plan.steps = [steps[at] for at in sorted(steps)]
    for s in plan.steps:
        s.runs = bisect.bisect_right(all_runs, s.at)
    return plan
