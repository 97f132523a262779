"""`pushcast test --runtime embedded|kafka`: each campaign test file through a real
runtime process, delivering to the push-service emulator, with the same report as the
simulated mode.

One runtime per file (a file brings its own campaigns, config and start time, and a test
clock never goes back); the cases of a file run side by side in it, each case's users
renamed (engine.testing.plan). The clock stops at every step of the plan; after each, the
runner waits until the runtime is idle and records what reached the emulator as arrived
at that step's time.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import IO, Callable, Protocol

from engine.testing.arrivals import Deliveries
from engine.testing.config import RuntimeFiles, write_config, write_runtime_files
from engine.testing.emulator import EmulatorProcess, PushEmulator
from engine.testing.failure import RuntimeFailure
from engine.testing.plan import Plan, case_user, make_plan
from engine.testing.recorder import RecordingProxy
from engine.testing.runner import load_suite, report_case, summarize


class RealRuntime(Protocol):
    def start(self) -> "RealRuntime": ...
    def set_clock(self, at_ms: int) -> None: ...
    def send(self, records: list[dict]) -> None: ...
    def wait_idle(self) -> None: ...
    def restart(self, at_ms: int) -> None: ...  # kill -9, come back with the clock at at_ms
    def reload_config(self) -> None: ...  # pushcast.yaml changed: return once it is in force
    def cannot_reload_config(self) -> str | None: ...  # why this runtime cannot, if it cannot
    def winners_judged(self, at_ms: int) -> None: ...  # return once the A/B winners were judged at at_ms
    def runs_made(self, count: int) -> None: ...  # return once `count` scheduled runs were made in all
    def explain(self, user: str, campaign: str | None) -> list[str]: ...  # the user's decision log in words
    def stop(self) -> None: ...


ARRIVAL_GRACE_S = 10.0

# (files, work folder, clock at start) -> a runtime not yet started
RuntimeMaker = Callable[[RuntimeFiles, Path, int], RealRuntime]


def replay(plan: Plan, runtime: RealRuntime, deliveries: Deliveries, files: RuntimeFiles) -> None:
    judged = plan.campaigns is not None and (
        plan.campaigns.config.engagement is not None
        or any(c.campaign.what.winner is not None for c in plan.campaigns.by_id.values()))
    for step in plan.steps:
        if step.events and not step.resumes:
            # Events at T go in with the clock just before T: scheduled runs due at T are
            # then made after them, as the simulator orders them; waits due at T still
            # fire first, because the core fires a user's due waits before applying an
            # event with a later or equal time. No wait for idle here: nothing is due
            # between the previous step and T (else it would be a step), and a wait the
            # runtime fires now without effect is fired by the events' users anyway.
            runtime.set_clock(step.at - 1)
            if judged:
                # A/B winners and the engagement guard are judged from what came before,
                # as the simulator judges them when its clock reaches a new time: before
                # these events go in.
                runtime.winners_judged(step.at - 1)
                runtime.wait_idle()
        if step.resumes:
            # Back after downtime: the runtime catches up on what fell due meanwhile with
            # its clock at T, then the events that waited for it go in.
            runtime.set_clock(step.at)
            runtime.runs_made(step.runs)
            runtime.wait_idle()
        if step.events:
            runtime.send([deliveries.substitute(record) for record in step.events])
            runtime.wait_idle()
        runtime.set_clock(step.at)
        runtime.runs_made(step.runs)
        runtime.wait_idle()
        _collect(deliveries, step.at, step.expected)
        if step.reload is not None:
            write_config(files, plan, step.reload)
            runtime.reload_config()
            runtime.wait_idle()
        if step.down_until is not None:
            runtime.restart(step.down_until)
            runtime.wait_idle()
            if step.down_until == step.at:
                _collect(deliveries, step.at, 0)


def _collect(deliveries: Deliveries, at: int, expected: int) -> None:
    arrived = deliveries.collect(at)
    # Idle is judged from outside (an empty outbox, a lag of 0 for a moment); a busy
    # machine can make a push arrive a little after that. Give what the simulator
    # expects now a while to come, so that slowness is not reported as a wrong time;
    # a push that never comes costs ARRIVAL_GRACE_S and is then reported missing.
    deadline = time.monotonic() + ARRIVAL_GRACE_S
    while arrived < expected and time.monotonic() < deadline:
        time.sleep(0.05)
        arrived += deliveries.collect(at)


def run_real_file(path: Path, out: IO[str], verbose: bool, make_runtime: RuntimeMaker, emulator: PushEmulator,
                  proxy: RecordingProxy, workdir: Path) -> tuple[int, int, int]:
    """(cases passed, failed, not run) of one file."""
    loaded = load_suite(path, out)
    if loaded is None:
        return 0, 1, 0
    suite, campaigns, reloads = loaded
    plan = make_plan(suite, campaigns, reloads)
    files = write_runtime_files(plan, workdir, proxy.origin, proxy.apple_origin)
    deliveries = Deliveries(emulator, proxy, files.public_key, suite.start)
    runtime = make_runtime(files, workdir, plan.start - 1)
    if suite.reloads and (reason := runtime.cannot_reload_config()):
        # Not a pass and not a failure of the runtime: a documented limit, said out loud.
        out.write(f"  NOT RUN {path} (line {suite.reloads[0].position.line}, reload): {reason}\n")
        return 0, 0, len(suite.cases)
    try:
        runtime.start()
        replay(plan, runtime, deliveries, files)
        # Judged while the runtime still runs: a failure asks it why (its decision logs).
        passed = failed = 0
        for case_plan in plan.cases:
            got = deliveries.for_case(case_plan.index, case_plan.until)

            def explain(user: str, campaign: str | None, index: int = case_plan.index) -> list[str]:
                try:
                    return runtime.explain(case_user(index, user), campaign)
                except (RuntimeFailure, OSError) as error:
                    return [f"(the runtime could not say: {error})"]

            if report_case(path, case_plan.case, got, out, verbose, deliveries.problems_of(case_plan.index),
                           explain=explain):
                passed += 1
            else:
                failed += 1
        return passed, failed, 0
    except RuntimeFailure as failure:
        out.write(f"FAIL {path}: the runtime failed, no case could be judged\n{failure}\n")
        return 0, len(suite.cases), 0
    finally:
        runtime.stop()


def run_real_files(paths: list[Path], out: IO[str], make_runtime: RuntimeMaker, verbose: bool = False) -> int:
    """Every file through its own runtime, one emulator for all of them."""
    with EmulatorProcess.start() as emulator, tempfile.TemporaryDirectory(prefix="pushcast-test-") as tmp:
        proxy = RecordingProxy(emulator)
        try:
            results = []
            for n, path in enumerate(paths):
                results.append(run_real_file(path, out, verbose, make_runtime, emulator, proxy, Path(tmp) / f"f{n}"))
                out.flush()
        finally:
            proxy.stop()
    return summarize([r[:2] for r in results], out, not_run=sum(r[2] for r in results))
