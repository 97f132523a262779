"""Scheduled campaigns in the embedded runtime: each run reads every stored user and
offers the users in the segment, once; a run made again reaches nobody twice."""

from __future__ import annotations

from engine.core import Event
from engine.local.schedule import Scheduler
from tests.unit.core_helpers import DAY, HOUR, T0
from tests.unit.local_helpers import Running, without_series, make_runtime, subscribe

WEEKLY = """
campaign: weekly
who: {segment: {did: Session Started, in_last: 30d}}
when: {schedule: {cron: "0 10 * * MON"}}
what: {title: "Weekly news"}
"""
MONDAY = T0 + 5 * DAY  # T0 is Wednesday 2026-11-25 10:00 UTC


async def test_each_run_reaches_every_qualifying_user_once(tmp_path):
    runtime = make_runtime(tmp_path, WEEKLY)
    running = Running(runtime)
    scheduler = Scheduler(runtime, chunk=2)  # several chunks per run
    try:
        await scheduler.run_due()  # first sight: runs from now on
        users = [f"u{n}" for n in range(5)]
        await runtime.submit([subscribe(u) for u in users]
                             + [Event(u, "Session Started", T0, {}) for u in users[:4]])
        assert scheduler.next_run() == MONDAY

        runtime.clock.set(MONDAY - HOUR)
        await runtime.fire_due()
        assert runtime.store.pending_count() == 0
        runtime.clock.set(MONDAY + 1)
        await runtime.fire_due()
        assert sorted(r.user for r in runtime.store.pending(100)) == users[:4]
        assert without_series(runtime.store.stats("weekly")["weekly"]) == {"qualified": 4, "sent": 4}

        # The same run made again (a crash before its end was recorded) reaches nobody twice.
        await scheduler._run("weekly", "2026-11-30T10:00", MONDAY)
        assert runtime.store.pending_count() == 4
        assert runtime.store.stats("weekly")["weekly"]["sent"] == 4
        assert scheduler.next_run() == MONDAY + 7 * DAY
    finally:
        await running.stop()


async def test_runs_missed_while_down_are_made_at_the_next_start(tmp_path):
    runtime = make_runtime(tmp_path, WEEKLY)
    running = Running(runtime)
    await Scheduler(runtime).run_due()
    await runtime.submit([subscribe("u1"), Event("u1", "Session Started", T0, {})])
    await running.stop()

    later = make_runtime(tmp_path, WEEKLY)
    later.clock.set(MONDAY + 2 * HOUR)
    running = Running(later)
    try:
        assert await Scheduler(later).run_due() == 1
        assert later.store.pending_count() == 1
    finally:
        await running.stop()



async def test_a_run_offers_only_users_in_the_segment_after_what_was_submitted_before_it(tmp_path, caplog):
    runtime = make_runtime(tmp_path, WEEKLY)
    running = Running(runtime)
    scheduler = Scheduler(runtime, chunk=10)  # one read: nothing is committed during it
    try:
        await scheduler.run_due()
        users = [f"u{n}" for n in range(6)]
        await runtime.submit([subscribe(u) for u in users] + [Event(u, "Session Started", T0, {}) for u in users[:3]])
        runtime.clock.set(MONDAY + 1)
        # Submitted, not yet committed, when the run starts: the run reads the store after it.
        runtime.submit_nowait([Event("u3", "Session Started", MONDAY, {})])
        with caplog.at_level("INFO", logger="pushcast.schedule"):
            await scheduler._run("weekly", "2026-11-30T10:00", MONDAY)
        assert sorted(r.user for r in runtime.store.pending(100)) == users[:4]
        assert "offered to 4 user(s) in the segment, of 6 stored" in caplog.text
    finally:
        await running.stop()


async def test_a_run_checks_rows_without_a_snapshot_on_their_state(tmp_path, caplog):
    runtime = make_runtime(tmp_path, WEEKLY)
    running = Running(runtime)
    scheduler = Scheduler(runtime, chunk=3)  # a chunk ends on the last user: one more, empty, read
    try:
        await scheduler.run_due()
        users = [f"u{n}" for n in range(6)]
        await runtime.submit([subscribe(u) for u in users] + [Event(u, "Session Started", T0, {}) for u in users[:4]])
        # rows as a file from before snapshots has them: SQLite's needles cannot rule them out
        runtime.store.db.execute("UPDATE users SET snap = NULL WHERE user IN ('u1', 'u5')")
        runtime.clock.set(MONDAY + 1)
        with caplog.at_level("INFO", logger="pushcast.schedule"):
            await scheduler._run("weekly", "2026-11-30T10:00", MONDAY)
        assert sorted(r.user for r in runtime.store.pending(100)) == users[:4]
        assert "offered to 4 user(s) in the segment, of 6 stored" in caplog.text
    finally:
        await running.stop()
