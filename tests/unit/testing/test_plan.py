"""The plan a real runtime is replayed on: where the clock stops, what goes in when."""

from __future__ import annotations

import io
from pathlib import Path

from engine.testing.plan import make_plan, split_user
from engine.testing.runner import load_suite

ROOT = Path(__file__).resolve().parents[3]
CAMPAIGNS = ROOT / "tests" / "campaigns"
H = 3_600_000


def plan_of(name: str):
    suite, campaigns, reloads = load_suite(CAMPAIGNS / name, io.StringIO())
    return make_plan(suite, campaigns, reloads)


def test_cases_run_side_by_side_under_renamed_users():
    plan = plan_of("downtime-restart.test.yaml")
    users = {r["user"] for s in plan.steps for r in s.events}
    assert users == {"c0.u1", "c1.u2"}
    assert split_user("c1.u2") == (1, "u2") and split_user("qa-1") is None


def test_the_clock_stops_at_events_runs_and_the_simulators_sends():
    plan = plan_of("downtime-late.test.yaml")
    start = plan.start
    times = [s.at - start for s in plan.steps]
    assert times == sorted(times)
    assert 0 in times and 1 * H in times                    # events
    assert int(28.5 * H) in times and 42 * H in times        # sends the simulator makes (Kolkata, LA)
    step_of = {s.at - start: s for s in plan.steps}
    assert step_of[int(28.5 * H)].expected == 2              # both campaigns, Kolkata
    assert step_of[0].runs == 0 and step_of[42 * H].runs == 2  # one run per campaign at 20:00Z (20h)


def test_downtime_removes_the_steps_in_between_and_hands_their_events_to_the_comeback():
    plan = plan_of("downtime-late.test.yaml")
    start = plan.start
    assert not [s for s in plan.steps if 19 * H < s.at - start < int(22.5 * H)]
    down = next(s for s in plan.steps if s.at - start == 19 * H)
    back = next(s for s in plan.steps if s.at - start == int(22.5 * H))
    assert down.down_until == back.at and back.resumes
    assert [r["event"] for r in back.events] == ["App Launched"]   # sent at 20h, while down
    assert back.runs == 2                                            # the runs it missed are due by then


def test_a_reload_is_a_step_of_its_own():
    plan = plan_of("reload-limits.test.yaml")
    reloads = [(s.at - plan.start, s.reload.name) for s in plan.steps if s.reload]
    assert reloads == [(1 * H, "reload-after.pushcast.yaml")]
