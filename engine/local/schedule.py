"""Scheduled campaigns in the embedded runtime: at each run time, every stored user is
read once, in chunks of (user, reach snapshot) from the store, and the segment is
evaluated on the snapshot's JSON (`engine.shell.reach.qualifiers`); only the users in
it are offered to the campaign (`engine.core.schedule.process_scheduled_run`) through
the writer, like any other work, which decides each of them again on their state as it
is then. For the others the core would change nothing, so nothing is written for them.

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

from engine.core.schedule import run_times
from engine.local.store import SNAPSHOT_OR_STATE
from engine.shell.inputs import ScheduledRun
from engine.shell.reach import qualifiers

log = logging.getLogger("pushcast.schedule")

CHUNK = 2000  # users read per query: ~5 ms of the event loop
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
        reader = runtime.store.reader
        pending: deque = deque()
        while True:
            rows = reader.execute(f"SELECT user, {SNAPSHOT_OR_STATE} FROM users WHERE user > ? ORDER BY user LIMIT ?",
                                  (after, self.chunk)).fetchall()
            if not rows:
                break
            users += len(rows)
            after = rows[-1][0]
            compiled = runtime.campaigns.get(campaign)  # a reload may have dropped it
            found = qualifiers(rows, compiled, runtime.clock.now()) if compiled is not None else []
            if found:
                offered += len(found)
                pending.append(runtime.submit_nowait([ScheduledRun(user, campaign, slot, at) for user in found]))
            if len(pending) >= IN_FLIGHT:
                await pending.popleft()
            else:
                await asyncio.sleep(0)  # the event loop serves requests between chunks
        for future in pending:
            await future
        await runtime.submit([], {f"schedule:{campaign}": str(at)})
        log.info("campaign %s: run %s offered to %d user(s) in the segment, of %d stored",
                 campaign, slot, offered, users)

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
