"""The Faust app of a Kafka worker, built by `create_runtime` (nothing is wired at import).

    events topic (key: user) ──▶ user agent ──▶ state table (changelog-backed)
          ▲  ▲                      │ Notify
          │  └── wake / run ◀── timer, scheduler (this worker's partitions)
          │                         ▼
          └──── result events ◀── sender agent ◀── sends topic
    malformed records ──▶ dead-letter topic

Processing is at-least-once, and where to read from is pushcast's own record, not Faust's
commits (see offsets.py): a batch's notifications are acknowledged by Kafka before its
states are written, then each partition's last applied offset is written to the same
table, in the same changelog partition, after the states. After a rebalance or a crash a
partition is read again from there; a stored state remembers the last offset it applied,
so a redelivered record changes nothing and a redelivered notification is caught by the
send de-duplication.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import faust
import orjson
from faust.types import TP

from engine.agents import agent_records, faust_private, kafka_admin, reach, stats
from engine.agents.faust_app import build_app, quiet_root_logger
from engine.agents.faust_flow import keep_current_records_at_resume
from engine.agents.faust_take import take_batches
from engine.agents.offsets import OffsetGuard, seek_guarded
from engine.agents.partition_runs import expand_runs, one_step_each
from engine.agents.peers import watch_peers
from engine.agents.reach_pool import ReachPool
from engine.agents.records import (
    DLQ_FIELD,
    DLQ_REASON,
    DLQ_SOURCE,
    encode_wake,
    is_partition_run,
    is_schedule_cursor,
    peek_due,
)
from engine.agents.schedules import ScheduleRunner, write_cursors
from engine.agents.sends import SendProcessor
from engine.agents.settings import WorkerSettings
from engine.agents.stats import StatsBook
from engine.agents.table import (
    TableBatch,
    applied_position,
    in_context,
    scan_users,
    user_db,
    user_items,
    user_values,
    write_applied,
    write_batch,
)
from engine.agents.users import DeadLetter, Record, UserProcessor
from engine.agents.wakes import WakeIndex
from engine.agents.winners import WinnerBook, is_decision
from engine.shell.clock import SystemClock
from engine.shell.metrics import Metrics, worker_metrics
from engine.shell.reload import CampaignReloader, load_set

log = logging.getLogger(__name__)


def _record(event) -> Record:
    message = event.message
    return Record(message.key, message.value, message.headers, int(round(message.timestamp * 1000)),
                  message.partition, message.offset, message.topic, event)


@dataclass
class Worker:
    """One Kafka worker: its Faust app, agents, table and timers (the embedded runtime is
    engine.local.runtime.Runtime; the two share the shell, never each other)."""

    settings: WorkerSettings
    app: faust.App
    metrics: Metrics
    campaigns: CampaignReloader
    users: UserProcessor
    sends: SendProcessor | None
    index: WakeIndex
    clock: Any
    events_guard: OffsetGuard
    sends_guard: OffsetGuard
    events_topic: Any = None
    sends_topic: Any = None
    dead_letter_topic: Any = None
    reach_replies_topic: Any = None
    table: Any = None
    reach_pool: ReachPool | None = None  # counts reach in processes (reach_pool.py); None: in a thread
    ready: bool = False  # partitions assigned and the table recovered
    commits_to_catch_up: dict = field(default_factory=dict)  # TP -> offset
    schedules: ScheduleRunner = field(init=False)
    stats_book: StatsBook = field(default_factory=StatsBook)  # the owned partitions' campaign stats
    winners: WinnerBook = field(init=False)  # the A/B winners known, and the decider

    def __post_init__(self) -> None:
        self.schedules = ScheduleRunner(self)
        self.winners = WinnerBook(self)

    # --- the user agent ---------------------------------------------------------------

    async def handle_user_batch(self, events: list) -> None:
        with self.metrics.batch_seconds.time():
            records = await self.admit(self.events_guard, [_record(e) for e in events])
            questions = [r for r in records if reach.is_request(r.headers)]
            cursors = [r for r in records if is_schedule_cursor(r.headers)]
            asks = [r for r in records if stats.is_request(r.headers)]
            decisions = [r for r in records if is_decision(r.headers)]
            if questions or cursors or asks or decisions:
                records = [r for r in records if not reach.is_request(r.headers) and not is_schedule_cursor(r.headers)
                           and not stats.is_request(r.headers) and not is_decision(r.headers)]
            table, batch = self.table, TableBatch()
            self.winners.write(table, batch, decisions)  # a winner counts from the batch that brings it
            announced = [r for r in records if is_partition_run(r.headers)]
            # Each scheduled run's step over its partition's users, in its place; the next
            # steps are in Kafka before this batch's writes (partition_runs.py).
            records, runs = expand_runs(table, self.campaigns(), self.clock.now(), records, self.settings.run_step,
                                       self.settings.run_ahead)
            await runs.announce(self.events_topic)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("batch %s", sorted((r.partition, r.offset) for r in records))

            read = faust_private.store_reader(table.data)

            def load(user: str, record: Record) -> bytes | None:
                # Keys are bytes everywhere: what the changelog restores must be found again.
                return read(record.partition, user.encode())

            result = self.users.process(records, load)
            self.metrics.batch_items.inc(len(records))
            pending = await agent_records.produce_sends(self, result.notifications)
            for future in pending:  # the sends are in Kafka before the state says they happened
                await future
            # The stats before the states they count (stats.py: so a crash counts once), the
            # applied offsets last; each partition's written at once (table.write_batch).
            self.stats_book.write(table, batch, result.moves, records)
            for user, (stored, record) in result.states.items():
                batch.put(record.partition, user.encode(), stored.dumps())
                self.index.set(user, stored.state.next_due, stored.partition)
            write_cursors(batch, cursors)
            runs.write(batch)
            write_applied(batch, announced + records + questions + cursors + asks + decisions)
            await write_batch(table, self.app.producer, batch)
            # After the notifications: `sent` means queued; stats count this batch.
            for reply in result.test_replies + self.stats_book.answer(
                    table, asks, self.winners.as_stats(), self.winners.engagement_stats()):
                await self.reach_replies_topic.send(key=reply["request"].encode(), value=orjson.dumps(reply))
            await self.dead_letter(result.dead_letters)
            self.metrics.waits_pending.set(len(self.index))
        if questions:
            await self.answer_reach(questions)

    async def admit(self, guard: OffsetGuard, records: list[Record]) -> list[Record]:
        """The records of `records` that continue their partitions; a partition with a hole
        is read again from the hole (its records after the hole come again then)."""
        kept, holes, skipped = guard.admit(records)
        if skipped:
            self.metrics.records_skipped.labels(guard.topic).inc(len(skipped))
            for record in skipped:
                # Done with, without an acknowledgement: Faust must not commit past it.
                faust_private.leave_unacknowledged(record.ref.message)
        for partition, offset in holes.items():
            log.warning("%s[%d]: records from %d were not delivered; reading again from there",
                        guard.topic, partition, offset)
            await seek_guarded(self.app.consumer, TP(guard.topic, partition), offset)
        return kept

    async def answer_reach(self, records: list[Record]) -> None:
        """Reach over the states of each request's partition (this worker owns it: the
        request came from it), counted after the batch's states were written."""
        requests, letters = [], []
        for record in records:
            try:
                request = reach.decode_request(record.value, record.partition)
            except Exception as exc:
                letters.append(DeadLetter(record, "value", f"malformed internal reach record: {exc!r}"))
                continue
            if request.question == reach.USER_QUESTION:  # one state: read at once
                in_context(record.ref)  # the store of the question's partition
                reply = reach.answer_user(request, self.table.data.get(request.user.encode()))
                await self.reach_replies_topic.send(key=reply["request"].encode(), value=orjson.dumps(reply))
            else:
                requests.append(request)
        await self.dead_letter(letters)
        if not requests:
            return
        # Counted off the event loop (engine/agents/reach.py). The partitions cannot move
        # meanwhile: Faust waits for this batch first.
        replies = await reach.answer_table(requests, lambda partition: user_values(self.table, partition),
                                           lambda partition: scan_users(self.table, {partition}), self.campaigns(),
                                           self.reach_pool, lambda partition: user_db(self.table, partition))
        for reply in replies:
            await self.reach_replies_topic.send(key=reply["request"].encode(), value=orjson.dumps(reply))

    async def dead_letter(self, letters: list[DeadLetter]) -> None:
        for letter in letters:
            record = letter.record
            self.metrics.dead_letters.labels(record.topic, letter.field).inc()
            if letter.field == "processing":  # the core raised: a bug, as in the embedded runtime
                self.metrics.processing_error()
            log.warning("dead letter from %s[%d]@%d: %s", record.topic, record.partition, record.offset,
                        letter.reason)
            headers = [
                (DLQ_REASON, letter.reason.encode()),
                (DLQ_FIELD, letter.field.encode()),
                (DLQ_SOURCE, f"{record.topic}/{record.partition}/{record.offset}".encode()),
            ]
            await self.dead_letter_topic.send(key=record.key, value=record.value or b"", headers=headers)

    # --- the sender agent -------------------------------------------------------------

    async def handle_send_batch(self, events: list) -> None:
        await agent_records.handle_send_batch(self, [_record(e) for e in events])

    # --- timers: wake-ups and scheduled runs ------------------------------------------

    def owned_partitions(self) -> set[int]:
        topic = self.events_topic.get_topic_name()
        return {tp.partition for tp in self.app.consumer.assignment() if tp.topic == topic}

    async def on_recovered(self) -> None:
        """Partitions were assigned and the table recovered: rebuild the wake index."""
        owned = self.owned_partitions()
        index = WakeIndex(self.settings.refire_ms)
        users_by_partition: dict[int, int] = {}
        for user, value in user_items(self.table):
            partition, due = peek_due(value)
            if partition in owned:
                users_by_partition[partition] = users_by_partition.get(partition, 0) + 1
                if due is not None:
                    index.set(user, due, partition)
        self.index = index
        self.metrics.waits_pending.set(len(index))
        self.ready = True
        # The member id names this worker in the group's description (kafka-consumer-groups,
        # the integration tests' report of a partition left behind).
        log.warning("partitions %s of %s: %d pending waits (group member %s)", sorted(owned),
                    self.events_topic.get_topic_name(), len(index), kafka_admin.group_member_id(self.app))
        self.schedules.keep_partitions(owned)
        self.winners.recover(self.table, owned)

    async def on_revoked(self, revoked) -> None:
        self.ready = False
        self.index.drop_partitions({tp.partition for tp in revoked if tp.topic == self.events_guard.topic})
        self.stats_book.drop(tp.partition for tp in revoked if tp.topic == self.events_guard.topic)
        for guard in (self.events_guard, self.sends_guard):
            guard.drop(tp.partition for tp in revoked if tp.topic == guard.topic)

    async def position_partitions(self) -> None:
        """Seek each owned partition where pushcast reads it from: an events partition after
        the last record applied to the table, a sends partition at its committed offset."""
        consumer = self.app.consumer
        for tp in consumer.assignment():
            committed = faust_private.committed_offset(consumer, tp) or 0
            if tp.topic == self.events_guard.topic:
                offset, guard = applied_position(self.table, tp.partition), self.events_guard
            elif tp.topic == self.sends_guard.topic:
                offset, guard = committed, self.sends_guard
            else:
                continue
            await seek_guarded(consumer, tp, offset)
            guard.reset(tp.partition, offset)
            if offset > committed:
                # Applied further than committed (a worker died before its commit): say so
                # to Kafka once the rebalance is over, or the group shows lag it has not.
                self.commits_to_catch_up[tp] = offset
            log.info("reading %s[%d] from %d", tp.topic, tp.partition, offset)

    def commit_later(self, offsets: dict) -> None:
        """Offsets ({TP: offset}) a commit did not make: the timer commits them again
        while the partition is still held here and nothing newer was committed."""
        self.commits_to_catch_up.update(offsets)

    async def catch_up_commits(self) -> None:
        consumer = self.app.consumer
        due = {tp: offset for tp, offset in self.commits_to_catch_up.items()
               if tp in consumer.assignment() and faust_private.committed_offset(consumer, tp) == offset}
        self.commits_to_catch_up.clear()
        if due:
            await faust_private.commit_offsets(consumer, due)

    async def seek_late_holes(self) -> None:
        for guard in (self.events_guard, self.sends_guard):
            for partition, offset in guard.late_holes().items():
                log.warning("%s[%d]: records from %d did not come again; reading again from there",
                            guard.topic, partition, offset)
                await seek_guarded(self.app.consumer, TP(guard.topic, partition), offset)

    async def timer_loop(self) -> None:
        quiet_root_logger(self.settings)
        tick = self.settings.timer_tick
        reload_every = max(1, int(self.settings.reload_interval / tick))
        ticks = 0
        while True:
            await asyncio.sleep(tick)
            ticks += 1
            try:
                if ticks % reload_every == 0:
                    await self.campaigns.reload_if_changed()  # read in a thread
                if self.ready and not self.app.rebalancing:
                    await self.catch_up_commits()
                    await self.seek_late_holes()
                    await self.fire_due()
                    await self.schedules.run_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # the timer must outlive one bad tick
                log.exception("timer tick failed")

    async def fire_due(self) -> None:
        now = self.clock.now()
        for user, due, partition in self.index.pop_due(now):
            value, headers = encode_wake(user, due)
            await self.events_topic.send(key=user.encode(), value=value, partition=partition, headers=headers)
            self.metrics.wakes_fired.inc()
            self.metrics.wait_lateness.observe(max(0, now - due) / 1000)


def create_runtime(settings: WorkerSettings, *, sender=None, dedup=None, clock=None,
                   metrics: Metrics | None = None) -> Worker:
    """Build the app, its topics, table, agents and tasks. `sender` and `dedup` default to
    none (the sender agent is not started); the CLI builds them from the config."""
    faust_private.verify_installed()  # an upgrade that changed Faust's internals stops here
    metrics = metrics or worker_metrics()
    clock = clock or SystemClock()
    campaigns = CampaignReloader(settings.campaigns, settings.config,
                                 load_set(settings.campaigns, settings.config), metrics=metrics)  # bad: no start
    app = build_app(settings)
    # Records fetched while Faust ends a rebalance stay buffered (faust_flow.py).
    keep_current_records_at_resume(app, (settings.events_topic, settings.sends_topic))
    faust_private.deliver_every_read(app.consumer, (settings.events_topic, settings.sends_topic))
    faust_private.report_commits_not_made(app.consumer, lambda offsets: runtime.commit_later(offsets))
    users = UserProcessor(lambda: runtime.winners.campaigns(), metrics, clock.now)  # with the A/B winners
    sends = SendProcessor(sender, dedup, metrics, clock.now) if sender is not None else None
    runtime = Worker(settings, app, metrics, campaigns, users, sends, WakeIndex(settings.refire_ms), clock,
                      OffsetGuard(settings.events_topic), OffsetGuard(settings.sends_topic))
    runtime.events_topic = app.topic(settings.events_topic, partitions=settings.partitions,
                                     key_serializer="raw", value_serializer="raw")
    runtime.sends_topic = app.topic(settings.sends_topic, partitions=settings.sends_partitions,
                                    key_serializer="raw", value_serializer="raw")
    runtime.dead_letter_topic = app.topic(settings.dead_letter_topic, partitions=1,
                                          key_serializer="raw", value_serializer="raw")
    runtime.reach_replies_topic = app.topic(settings.reach_replies_topic, partitions=1,
                                            key_serializer="raw", value_serializer="raw")
    # Keys and values are bytes made by records.py: typed so, the table and its changelog
    # serialize them raw (Faust derives "json" for an untyped table).
    table = app.Table("users", default=None, partitions=settings.partitions, key_type=bytes, value_type=bytes)
    runtime.table = table

    async def user_agent(stream):
        async for events in take_batches(stream, settings.batch_size, settings.batch_within):
            for part in one_step_each(events):  # a scheduled run's steps one at a time (partition_runs.py)
                await runtime.handle_user_batch(part)

    app.agent(runtime.events_topic, name="users")(user_agent)

    if sends is not None:
        async def sender_agent(stream):
            async for events in take_batches(stream, settings.batch_size, settings.batch_within):
                await runtime.handle_send_batch(events)

        app.agent(runtime.sends_topic, name="sender")(sender_agent)

    runtime.table.on_recover(runtime.on_recovered)
    if settings.peer_timeout > 0:
        watch_peers(app, settings)

    @app.on_partitions_revoked.connect
    async def _revoked(sender, revoked, **kwargs) -> None:
        await runtime.on_revoked(revoked)

    @app.on_partitions_assigned.connect
    async def _assigned(sender, assigned, **kwargs) -> None:
        faust_private.take_over_positions(app, runtime.position_partitions)

    app.task(runtime.timer_loop)
    if settings.reach_processes and settings.store == "rocksdb":
        runtime.reach_pool = ReachPool(settings.reach_processes)
        app.task(runtime.reach_pool.start)  # spawned when the app starts, not at the first question
    app.task(runtime.winners.run)
    if settings.api_port:
        from engine.agents.api import WorkerApi
        app.task(WorkerApi(runtime).run)
    return runtime
