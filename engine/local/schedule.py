"""Scheduled campaigns in the embedded runtime: at each run time, every stored user is
looked at once, in chunks of the users table in key order, and the segment is evaluated
on each one's reach snapshot (`engine.shell.reach.qualifying`); only the users in it are
offered to the campaign (`engine.core.schedule.process_scheduled_run`) through the
writer, like any other work, which decides each of them again on their state as it is
then. For the others the core would change nothing, so nothing is written for them.

SQLite itself skips the users whose snapshot lacks the segment's byte needles (as reach
does: `engine.local.reach`), and the chunk query reads the stored states of the rest
beside their snapshots: the qualifiers' states go to the writer with their items
(`ReadStates`), which uses them instead of reading them again while they are current.

The last run time of each campaign is kept in the store (`schedule:<id>`): runs missed
while the runtime was down are made at the next start; a campaign seen for the first
time runs from then on, not for its past dates. A run cut short by a crash is made again
in full: the core recognises users already reached by that run (same message id), so
nobody gets it twice.
"""

from __future__ import annotations

import asyncio
import logging

from collections import deque
from operator import itemgetter

from engine.core.schedule import run_times
from engine.local.reach import needle_values, snapshot_has_needles_sql
from engine.local.runtime import ReadStates
from engine.local.store import SNAPSHOT_OR_STATE
from engine.shell.inputs import ScheduledRun
from engine.shell.reach import needles_of, qualifying

log = logging.getLogger("pushcast.schedule")

CHUNK = 4000  # users looked at per chunk (most skipped by SQLite): a few ms of the event loop
IN_FLIGHT = 4  # chunks submitted and not yet committed: the next is read meanwhile
LOOKAHEAD_MS = 7 * 24 * 3600 * 1000
IDLE_SECONDS = 60.0  # re-plan at least this often (reloads may add campaigns)


class Scheduler:
    def __init__(self, runtime, chunk: int = CHUNK, retry_seconds: float = IDLE_SECONDS):
        self.runtime = runtime
        self.chunk = chunk
        self.retry_seconds = retry_seconds
        self.changed = asyncio.Event()
        self._lock = asyncio.Lock()
        runtime.clock.on_change(lambda _now: self.changed.set())
        runtime.scheduler = self

    def _scheduled(self):
        return [c for c in self.runtime.campaigns.by_id.values() if c.campaign.when.schedule is not None]

    def _last(self, campaign: str) -> int | None:
        value = self.runtime.store.get_meta(f"schedule:{campaign}")
        return int(value) if value is not None else None

    async def run_due(self) -> int:
        """Make every run due by now; returns how many runs were made."""
        async with self._lock:
            made = 0
            now = self.runtime.clock.now()
            for compiled in self._scheduled():
                last = self._last(compiled.id)
                if last is None:
                    await self.runtime.submit([], {f"schedule:{compiled.id}": str(now)})
                    continue
                for slot, at in run_times(compiled, last, now):
                    await self._run(compiled.id, slot, at)
                    made += 1
            return made

    async def _run(self, campaign: str, slot: str, at: int) -> None:
        log.info("campaign %s: scheduled run %s", campaign, slot)
        runtime = self.runtime
        await runtime.barrier()  # what was submitted before the run is in the store it reads
        after = ""
        users = offered = 0
        pending: deque = deque()
        while True:
            compiled = runtime.campaigns.get(campaign)  # a reload may have dropped it
            if compiled is None:
                break
            last, looked, rows, read = self._chunk(after, compiled)
            users += looked
            found = qualifying(zip(rows, map(itemgetter(1), rows)), compiled, runtime.clock.now())
            if found:
                offered += len(found)
                items = [ScheduledRun(row[0], campaign, slot, at) for row, _data in found]
                states = ReadStates(read, {row[0]: row[2] for row, _data in found})
                pending.append(runtime.submit_nowait(items, read=states))
            if last is None:
                break
            after = last
            if len(pending) >= IN_FLIGHT:
                await pending.popleft()
            else:
                await asyncio.sleep(0)  # the event loop serves requests between chunks
        for future in pending:
            await future
        await runtime.submit([], {f"schedule:{campaign}": str(at)})
        log.info("campaign %s: run %s offered to %d user(s) in the segment, of %d stored",
                 campaign, slot, offered, users)

    def _chunk(self, after: str, compiled) -> tuple[str | None, int, list, int]:
        """The next chunk of users after `after`: (its last user, None at the end; how many
        users it holds; (user, snapshot or state, state) of those who have the segment's
        needles; the state cache's `removals` before the read)."""
        reader = self.runtime.store.reader
        last = reader.execute("SELECT user FROM users WHERE user > ? ORDER BY user LIMIT 1 OFFSET ?",
                              (after, self.chunk - 1)).fetchone()
        if last is None:
            looked = reader.execute("SELECT count(*) FROM users WHERE user > ?", (after,)).fetchone()[0]
        else:
            last, looked = last[0], self.chunk
        needles = needles_of(compiled.campaign.segment)
        having = snapshot_has_needles_sql(needles)
        where = "user > ?" + ("" if last is None else " AND user <= ?") + (f" AND {having}" if having else "")
        params = [after] + ([] if last is None else [last]) + needle_values(needles)
        removals = self.runtime.states.removals  # before the read: see `ReadStates`
        rows = reader.execute(f"SELECT user, {SNAPSHOT_OR_STATE}, state FROM users WHERE {where}", params).fetchall()
        return last, looked, rows, removals

    def next_run(self) -> int | None:
        now = self.runtime.clock.now()
        times = []
        for compiled in self._scheduled():
            last = self._last(compiled.id)
            runs = run_times(compiled, last if last is not None else now, now + LOOKAHEAD_MS)
            if runs:
                times.append(runs[0][1])
        return min(times, default=None)

    async def run(self) -> None:
        while True:
            self.changed.clear()
            try:
                await self.run_due()
                next_run = self.next_run()
                timeout = IDLE_SECONDS
                if next_run is not None:
                    timeout = min(timeout, self.runtime.clock.seconds_until(next_run))
            except Exception:  # a failed batch: what was not recorded is made next time
                log.exception("scheduled runs failed; retrying in %.0f s", self.retry_seconds)
                timeout = self.retry_seconds
            try:
                await asyncio.wait_for(self.changed.wait(), timeout)
            except asyncio.TimeoutError:
                pass
