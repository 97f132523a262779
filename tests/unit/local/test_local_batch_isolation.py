"""One failing item never fails the others of its group commit, and the background jobs
(pruner, scheduler) outlive a batch that fails as a whole."""

from __future__ import annotations

import asyncio
import logging
import sqlite3

from prometheus_client import CollectorRegistry

from engine.shell.metrics import embedded_metrics
from engine.core import Event
from engine.local.schedule import Scheduler
from engine.local.server import _prune
from tests.unit.core_helpers import T0
from tests.unit.local_helpers import Running, cart, make_runtime, subscribe


async def test_a_state_that_cannot_be_saved_fails_alone(tmp_path, caplog):
    # Events built past the input checks: a profile value beyond 64 bits (orjson refuses
    # it) and a wait due beyond SQLite's signed 64 bits (orjson would take it).
    metrics = embedded_metrics(CollectorRegistry())
    runtime = make_runtime(tmp_path / "state", metrics=metrics)
    running = Running(runtime)
    try:
        await runtime.submit([subscribe("bad1"), subscribe("bad2")])
        jobs = [runtime.submit_nowait([Event("bad1", "$profile", T0, {"n": 2**70}), cart("good1")]),
                runtime.submit_nowait([cart("bad2", at=2**63 - 1000)]),
                runtime.submit_nowait([cart("good2")])]
        with caplog.at_level(logging.ERROR, "pushcast.runtime"):
            await asyncio.gather(*jobs)  # none of them raises
        for user in ("good1", "good2"):
            assert len(runtime.user_state(user).waits) == 1
        for user in ("bad1", "bad2"):  # still their committed state: subscribed, no wait
            state = runtime.user_state(user)
            assert state.subscriptions and not state.waits and not state.profile
        assert "user 'bad1': the state cannot be saved" in caplog.text
        assert "user 'bad2': the state cannot be saved" in caplog.text
        assert metrics.registry.get_sample_value("pushcast_processing_errors_total") == 2
        assert runtime.store.timers() and all(due < 2**63 for due, _ in runtime.store.timers())
    finally:
        await running.stop()


def _lock(path) -> sqlite3.Connection:
    """Another process holding the write lock: every batch of the runtime fails."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


async def test_the_pruner_survives_a_failed_batch(tmp_path, caplog):
    runtime = make_runtime(tmp_path / "state")
    runtime.store.db.execute("PRAGMA busy_timeout=0")  # fail at once rather than in 5 s
    running = Running(runtime)
    other = _lock(runtime.store.path)
    task = asyncio.create_task(_prune(runtime, interval=0.01))
    try:
        with caplog.at_level(logging.ERROR):
            while "pruning failed" not in caplog.text:
                await asyncio.sleep(0.01)
        assert not task.done()
        other.execute("ROLLBACK")
        await runtime.submit([cart("u1")])  # the writer goes on too
        assert runtime.user_state("u1").waits
        assert not task.done()
    finally:
        task.cancel()
        other.close()
        await running.stop()


async def test_the_scheduler_survives_a_failed_batch(tmp_path, caplog):
    runtime = make_runtime(tmp_path / "state", """
campaign: weekly
who: {segment: {did: Session Started, in_last: 30d}}
when: {schedule: {cron: "0 10 * * MON"}}
what: {title: "Weekly news"}
""")
    runtime.store.db.execute("PRAGMA busy_timeout=0")
    running = Running(runtime)
    scheduler = Scheduler(runtime, retry_seconds=0.01)
    other = _lock(runtime.store.path)
    task = asyncio.create_task(scheduler.run())
    try:
        with caplog.at_level(logging.ERROR):
            while "scheduled runs failed" not in caplog.text:
                await asyncio.sleep(0.01)
        other.execute("ROLLBACK")
        # Once the lock is gone, its retry records the first sight of the schedule.
        while runtime.store.get_meta("schedule:weekly") is None:
            assert not task.done()
            await asyncio.sleep(0.01)
        assert int(runtime.store.get_meta("schedule:weekly")) == T0
    finally:
        task.cancel()
        other.close()
        await running.stop()
