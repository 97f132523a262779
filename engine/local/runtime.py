"""The embedded runtime's heart: one writer that applies events, wake-ups, send results
and tracking reports to user states through the core, and commits each batch of them,
with the sends and counters they produce, in one SQLite transaction.

Everything that changes state goes through `submit()` and the single writer task, so
a user's events are applied in arrival order and no two batches interleave. Jobs queued
while a batch is being written are taken together into the next one (group commit):
one fsync covers many HTTP requests, timers and send results.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from engine.core import CampaignSet, Event, Notify, Suppressed, UserState
from engine.local.sends import BatchSends
from engine.local.state_cache import DEFAULT_MAX_BYTES, DEFAULT_MAX_USERS, StateCache
from engine.local.store import Batch, OutboxRow, Store, payload_variant
from engine.shell.clock import SystemClock
from engine.shell.inputs import Report, ScheduledRun, WakeUp, report_event
from engine.shell.reach import stored_forms
from engine.shell.step import apply, counts, message_stats
from engine.shell.timers import Timers

log = logging.getLogger("pushcast.runtime")

MAX_BATCH_ITEMS = 5000
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1  # what SQLite stores as an integer


@dataclass(frozen=True)
class SendDone:
    """The final outcome of one outbox row: `outcome` sent | failed | unsubscribed."""

    row: OutboxRow
    outcome: str
    events: list  # the sender's result events (docs/events.md), fed back to the core


@dataclass(frozen=True)
class Prune:
    """Forget sent messages past the de-duplication horizon (in the writer's order)."""

    now: int


@dataclass(frozen=True)
class ReadStates:
    """The stored states a submitter read (committed data) for its items' users, so the
    writer need not read them again; `removals`: `StateCache.removals` before the read. A
    state written since is in the cache, looked at first, or its user `removed_since`."""

    removals: int
    states: dict[str, bytes]


@dataclass
class Job:
    items: list
    meta: dict = field(default_factory=dict)  # settings committed with the batch (file offsets)
    future: asyncio.Future | None = None
    replies: list = field(default_factory=list)  # test sends' results, for the submitter
    read: ReadStates | None = None  # the items' users' stored states, as read by the submitter


class BatchStates(dict):
    """user -> the state a batch works on; `committed` holds, for users already stored,
    (the stored bytes, the stored next due time): what `_save` compares against."""

    def __init__(self):
        super().__init__()
        self.committed: dict[str, tuple[bytes, int | None]] = {}


class Runtime:
    """Applies work to user states; `campaigns` may be replaced at any time (reload)."""

    def __init__(self, store: Store, campaigns: CampaignSet, *, secret: bytes, clock=None, metrics=None,
                 cache_size: int = DEFAULT_MAX_USERS, cache_bytes: int = DEFAULT_MAX_BYTES):
        self.store = store
        self.campaigns = campaigns
        self.secret = secret
        self.clock = clock or SystemClock()
        self.metrics = metrics
        self.cache_size = cache_size
        self.states = StateCache(cache_size, cache_bytes)  # committed states, most recent last
        self._new_users: set[str] = set()
        self._read: dict[str, bytes] = {}  # the batch's states read by their submitters (`ReadStates`)
        self._sends = BatchSends(secret)  # the batch being written's (`write` makes one per batch)
        self.scheduler = None  # engine.local.schedule.Scheduler, when scheduled campaigns run
        self.winner_judge = None  # engine.local.winners.WinnerJudge, when A/B winners are judged
        self._commit_thread = ThreadPoolExecutor(1, thread_name_prefix="pushcast-commit")
        self.timers = Timers()
        self.timers.load(store.timers())
        self.timer_changed = asyncio.Event()
        self.outbox_ready = asyncio.Event()
        self.outbox_ready.set()  # rows left by a previous run are sent first
        self._queue: asyncio.Queue[Job | None] = asyncio.Queue()
        self.clock.on_change(lambda _now: self.timer_changed.set())

    # --- submitting work ---------------------------------------------------------------

    def submit_nowait(self, items: list, meta: dict | None = None, read: ReadStates | None = None) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        # A caller that does not await (the timer loop) must not leave an unread error.
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._queue.put_nowait(Job(items, meta or {}, future, read=read))
        return future

    async def submit(self, items: list, meta: dict | None = None) -> list[dict]:
        """Apply these items; returns once they are committed to disk, with the replies
        of the test sends among them."""
        return await self.submit_nowait(items, meta)

    async def barrier(self) -> None:
        """Wait until everything submitted before is committed."""
        await self.submit([])

    async def save_clock(self) -> None:
        """Keep a test clock's reading, so that a restart does not take time back."""
        await self.submit([], {"test_clock": str(self.clock.now())})

    async def fire_due(self) -> int:
        """Make the scheduled runs and submit the wake-ups of every timer due by now, and
        wait for them: what a clock move needs before it answers, so the caller sees
        their effects."""
        if self.scheduler is not None:
            await self.scheduler.run_due()
        due = self.timers.pop_due(self.clock.now())
        if due:
            await self.submit([WakeUp(user, at) for user, at in due])
        await self.barrier()
        if self.winner_judge is not None:  # what the clock move made counts before what follows
            await self.winner_judge.judge_now()
        return len(due)

    # --- the writer ----------------------------------------------------------------------

    async def run_writer(self) -> None:
        """Take queued jobs, several at a time, until `stop_writer()`."""
        while True:
            job = await self._queue.get()
            if job is None:
                return
            jobs = [job]
            size = len(job.items)
            while size < MAX_BATCH_ITEMS and not self._queue.empty():
                job = self._queue.get_nowait()
                if job is None:
                    await self.write(jobs)
                    return
                jobs.append(job)
                size += len(job.items)
            await self.write(jobs)

    def stop_writer(self) -> None:
        """The writer ends after what is queued now: nothing acknowledged is dropped."""
        self._queue.put_nowait(None)

    async def write(self, jobs: list[Job]) -> None:
        """Apply jobs in one transaction. The COMMIT (the fsync) runs in a thread, so the
        event loop goes on reading requests meanwhile; the writer waits for it."""
        started = time.perf_counter()
        dirty = BatchStates()
        self._sends = sends = BatchSends(self.secret)
        try:
            self._prefetch(jobs)
            batch = self.store.begin()
            try:
                now = self.clock.now()
                for job in jobs:
                    for item in job.items:
                        self._apply(batch, item, now, dirty, job.replies)
                    for key, value in job.meta.items():
                        batch.set_meta(key, value)
                enqueued = sends.write(batch, now)
                rows = self._encode(dirty)
                self._save(batch, rows, dirty.committed)
                batch.flush_counts()
                commit = asyncio.get_running_loop().run_in_executor(self._commit_thread, self.store.commit)
                try:
                    await asyncio.shield(commit)
                except asyncio.CancelledError:
                    await commit  # never leave a COMMIT running behind a rollback
                    raise
            except BaseException:
                self.store.rollback()
                raise
        except Exception as exc:
            log.exception("writing a batch of %d jobs failed; its changes are discarded", len(jobs))
            for job in jobs:
                if job.future is not None and not job.future.done():
                    job.future.set_exception(exc)
            return
        self.states.put_many(rows)
        self.states.trim()
        set_timer = self.timers.set
        earliest = False
        for user, _blob, next_due, _snapshot in rows:
            if set_timer(user, next_due):
                earliest = True
        if earliest:
            self.timer_changed.set()
        if enqueued:
            self.outbox_ready.set()
        if self.metrics is not None:
            self.metrics.committed(batch.counts, sum(len(j.items) for j in jobs), time.perf_counter() - started)
        for job in jobs:
            if job.future is not None and not job.future.done():
                job.future.set_result(job.replies)

    @staticmethod
    def _save(batch: Batch, rows: list[tuple[str, bytes, int | None, bytes]], committed: dict) -> None:
        """Write the batch's states, each the cheapest way: not at all when the step left
        it as committed (a search no campaign reads), the state and its reach snapshot
        alone when its next due time is unchanged (no `next_due` index entry to move), the
        whole row otherwise (new users, timers moved)."""
        upserts, updates = [], []
        for row in rows:
            before = committed.get(row[0])
            if before is None:
                upserts.append(row)
            elif row[1] != before[0]:
                if row[2] == before[1]:
                    updates.append((row[1], row[3], row[0]))
                else:
                    upserts.append(row)
        if upserts:
            batch.save_states(upserts)
        if updates:
            batch.update_states(updates)

    def _encode(self, dirty: dict[str, UserState]) -> list[tuple[str, bytes, int | None, bytes]]:
        """The rows to save, each with its state's reach snapshot. A state that cannot be
        stored (a number beyond 64 bits) is that user's failure, not the batch's: it keeps
        its last committed state, the rest of the group commit goes ahead, and the failure
        is logged and counted. (The input checks keep such numbers out; this is the last
        line, so one user's bad state can never again stop everyone's commits. Sends
        already decided for that user stand.)"""
        rows = []
        for user, state in dirty.items():
            try:
                due = state.next_due
                if due is not None and not _INT64_MIN <= due <= _INT64_MAX:
                    raise OverflowError(f"next due time {due} is outside 64 bits")
                blob, snapshot = stored_forms(state)
                rows.append((user, blob, due, snapshot))
            except Exception:
                log.exception("user %r: the state cannot be saved; it stays as last committed", user)
                if self.metrics is not None:
                    self.metrics.processing_error()
        return rows

    async def drain(self) -> None:
        """Write whatever is queued (at shutdown, the writer task gone)."""
        jobs = []
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if job is not None:
                jobs.append(job)
        if jobs:
            await self.write(jobs)

    def _prefetch(self, jobs: list[Job]) -> None:
        """Read the states this batch needs and the cache lacks, in a few queries; those
        a job's submitter read (`ReadStates`) are taken from it while they are current."""
        cache = self.states
        wanted = set()
        self._read = given = {}
        for job in jobs:
            read = job.read
            gone = cache.removed_since(read.removals) if read is not None else None
            if gone is not None:  # as read: whoever is neither in the cache nor removed from it since
                states = read.states
                given.update(states if not gone else {u: raw for u, raw in states.items() if u not in gone})
            for item in job.items:
                user = item.row.user if isinstance(item, SendDone) else getattr(item, "user", None)
                if user is not None and user not in cache and user not in given:
                    wanted.add(user)
        found = self.store.load_states(list(wanted)) if wanted else {}
        cache.update(found)
        self._new_users = wanted - found.keys()  # known to have no state yet

    def state(self, user: str, dirty: "BatchStates") -> UserState:
        """The user's state for this batch (the cache holds committed states as bytes:
        they cost the garbage collector nothing and cannot run ahead of the disk)."""
        state = dirty.get(user)
        if state is None:
            raw = self.states.get(user) or self._read.get(user)
            if raw is None and user not in self._new_users:
                raw = self.store.load_states([user]).get(user)
            if raw is None:
                state = dirty[user] = UserState(user)
            else:
                state = dirty[user] = UserState.loads(raw)
                dirty.committed[user] = (raw, state.next_due)
        return state

    def user_state(self, user: str) -> UserState | None:
        """A user's committed state (for reading; changes go through `submit`)."""
        raw = self.states.get(user)
        if raw is None:
            raw = self.store.load_state(user)
        return UserState.loads(raw) if raw is not None else None

    def _apply(self, batch: Batch, item, now: int, dirty: dict, replies: list) -> None:
        """Apply one item (its sends join the batch's `BatchSends`). One bad item never
        spoils the batch: a failure is logged and counted, the rest goes on."""
        try:
            if isinstance(item, SendDone):
                self._send_done(batch, item, now, dirty)
                return
            if isinstance(item, Report):
                self._report(batch, item, now, dirty, replies)
                return
            if isinstance(item, Prune):
                removed = batch.prune(item.now)
                if removed:
                    log.info("forgot %d sent message(s) past the de-duplication horizon", removed)
                return
            if isinstance(item, WakeUp) and self.metrics is not None:
                self.metrics.timer_fired(self.clock, item.at)
            if isinstance(item, ScheduledRun) and item.user in self._new_users and item.user not in dirty:
                return  # offered by the scheduler (engine/local/schedule.py), gone since
            effects, reply = apply(self.state(item.user, dirty), item, now, self.campaigns)
            if reply is not None:
                replies.append(reply)
            self._effects(batch, effects, now)
        except Exception:
            log.exception("processing %r failed", item)
            if self.metrics is not None:
                self.metrics.processing_error()

    def _effects(self, batch: Batch, effects, now: int) -> None:
        for campaign, stat, amount in counts(effects):
            batch.count(campaign, stat, amount)
        for effect in effects.items:
            if isinstance(effect, Notify):
                self._sends.add(effect, now)
            elif isinstance(effect, Suppressed) and effect.reason == "render_error":
                log.warning("campaign %s, user %r: not sent, %r", effect.campaign, effect.user, effect.detail)

    def _send_done(self, batch: Batch, done: SendDone, now: int, dirty: dict) -> None:
        row = done.row
        if not batch.complete(row.seq, done.outcome, now):
            return
        variant = payload_variant(row.payload)
        for stat in message_stats("delivered" if done.outcome == "sent" else "failed", variant, row.test):
            batch.count(row.campaign, stat)
        if done.outcome == "unsubscribed":
            batch.count(row.campaign, ("test." if row.test else "") + "unsubscribed")
        state = self.state(row.user, dirty)
        for raw in done.events:
            event = Event(raw["user"], raw["event"], now, raw["props"])
            self._effects(batch, apply(state, event, now, self.campaigns)[0], now)

    def _report(self, batch: Batch, report: Report, now: int, dirty: dict, replies: list) -> None:
        """Replies {"report": message id, "outcome": counted | repeated | unknown}."""
        known = self.store.message(report.message_id)
        if known is None:
            # Pruned (past the de-duplication horizon): what it was sent for cannot be
            # checked, so the report's own campaign and user are never taken on trust.
            replies.append({"report": report.message_id, "outcome": "unknown"})
            return
        campaign, user, test, variant = known
        if not batch.report(report.message_id, report.kind, now):
            replies.append({"report": report.message_id, "outcome": "repeated"})
            return  # the same message reported again: counted once
        replies.append({"report": report.message_id, "outcome": "counted"})
        for stat in message_stats(report.kind, variant, test, now):
            batch.count(campaign, stat)
        if not user:
            return
        event = report_event(user, report.kind, report.message_id, campaign, report.action, now, variant or "")
        self._effects(batch, apply(self.state(user, dirty), event, now, self.campaigns)[0], now)

    # --- timers ----------------------------------------------------------------------------

    async def run_timers(self) -> None:
        """Fire each user's timer when due (real clock: within milliseconds of it)."""
        while True:
            self.timer_changed.clear()
            due = self.timers.pop_due(self.clock.now())
            if due:
                self.submit_nowait([WakeUp(user, at) for user, at in due])
                await asyncio.sleep(0)
                continue
            next_due = self.timers.next_due()
            timeout = None if next_due is None else self.clock.seconds_until(next_due)
            if timeout == float("inf"):
                timeout = None
            try:
                await asyncio.wait_for(self.timer_changed.wait(), timeout)
            except asyncio.TimeoutError:
                pass

