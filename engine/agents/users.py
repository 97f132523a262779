"""The user agent's work, without Faust: a batch of events-topic records in, new states,
messages to send and dead letters out. `app.py` feeds it from the stream and writes back.

Per record: decode (or dead-letter), skip it if the stored state has already applied its
offset (a redelivery after a crash), call the core, keep the state in the batch's cache.
A test-send record also leaves its result in the batch's `test_replies`, which app.py
sends to the replies topic once the batch's notifications are in Kafka. A results record
(the sender's delivery results for the partition) applies each user's events together,
under the one offset they share; a plain result event (the form before) applies as any.

Every campaign stat a record moves is a `Move` tagged with the record's partition and
offset: app.py adds them to the partition's running totals (stats.py), which skip the
moves of records they already counted, so a batch read again never counts twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import orjson

from engine.shell.metrics import Metrics
from engine.agents.outcomes import OUTCOME_EVENTS, outcome_stats, remember
from engine.agents.records import StoredState, decode_record, decode_results, encode_run, is_results, parse_result
from engine.core import CampaignSet, Event, EventError, Notify, UserState
from engine.core.events import SYSTEM_EVENTS
from engine.shell.inputs import ScheduledRun, TestSend, WakeUp
from engine.shell.series import with_series
from engine.shell.step import apply, counts, message_stats

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Record:
    key: bytes | None
    value: bytes | None
    headers: object
    timestamp_ms: int
    partition: int
    offset: int
    topic: str = ""
    ref: object = field(default=None, compare=False, repr=False)  # the Faust event, for table context
    run: "RunStep | None" = field(default=None, compare=False)  # a partition-run record's step (partition_runs.py)


@dataclass
class RunStep:
    """A step of a scheduled run over stored users, applied in its record's place: each
    user (user, stored value, its state parsed), read by the step and in the segment, or
    (user, None, None), a user of the step's keys whose events came earlier in the batch
    (their state is the batch's). No per-user record: nothing decoded twice."""

    campaign: str
    slot: str
    at: int
    users: list[tuple[str, bytes | None, dict | None]]


@dataclass
class DeadLetter:
    record: Record
    field: str
    reason: str


class Move(NamedTuple):
    """A campaign stat moved by the record at (partition, offset)."""

    partition: int
    offset: int
    campaign: str
    stat: str
    amount: float


@dataclass
class BatchResult:
    states: dict[str, tuple[StoredState, Record]] = field(default_factory=dict)  # changed: user -> (state, last record)
    notifications: list[tuple[Notify, int]] = field(default_factory=list)  # (notify, events partition)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    test_replies: list[dict] = field(default_factory=list)  # results of test sends, for the requesters
    moves: list[Move] = field(default_factory=list)  # every campaign stat moved, in record order

    def counts(self) -> dict[tuple[str, str], float]:
        """(campaign, stat) -> amount over the batch's moves."""
        out: dict[tuple[str, str], float] = {}
        for move in self.moves:
            key = (move.campaign, move.stat)
            out[key] = out.get(key, 0) + move.amount
        return out


class UserProcessor:
    """`load(user, record)` returns the stored bytes of a user (None: a new user)."""

    def __init__(self, campaigns: Callable[[], CampaignSet], metrics: Metrics,
                 clock_ms: Callable[[], int]):
        self._campaigns = campaigns
        self.metrics = metrics
        self._clock_ms = clock_ms

    def process(self, records: list[Record], load: Callable[[str, Record], bytes | None]) -> BatchResult:
        out = BatchResult()
        campaigns = self._campaigns()
        # One reading of the clock per batch (a batch spans a few ms): a test clock is a
        # file read, ~5% of a busy worker when read per record (bench/RESULTS.md).
        now = self._clock_ms()
        cache: dict[str, StoredState] = {}
        kinds: dict[str, int] = {}  # inputs applied, counted once per batch (a metric per record costs)
        for record in records:
            if record.run is not None:
                kinds["run"] = kinds.get("run", 0) + self._run_step(record, out, cache, load, now, campaigns)
                continue
            if is_results(record.headers):
                kinds["system"] = kinds.get("system", 0) + self._results(record, out, cache, load, now, campaigns)
                continue
            try:
                item = decode_record(record.key, record.value, record.headers, record.timestamp_ms,
                                     campaigns.config.max_event_ahead * 1000)
            except EventError as exc:
                out.dead_letters.append(DeadLetter(record, exc.field, str(exc)))
                continue
            user = item.user
            stored = cache.get(user)
            if stored is None:
                raw = load(user, record)
                if raw is None and isinstance(item, TestSend):
                    # Never seen: nothing to send to, and no empty state made for the asking.
                    _effects, reply = apply(UserState(user), item, item.at, campaigns)
                    out.test_replies.append({"request": item.occurrence, **reply})
                    continue
                stored = cache[user] = _stored(user, raw)
            if stored.partition == record.partition and record.offset <= stored.offset:
                self.metrics.replayed.inc()
                continue
            try:
                effects, reply = apply(stored.state, item, now, campaigns)
            except Exception as exc:  # a bug in the core costs this record, not the stream
                log.exception("applying a record failed")
                out.dead_letters.append(DeadLetter(record, "processing", f"processing failed: {exc!r}"))
                continue
            kind = _input_kind(item)
            kinds[kind] = kinds.get(kind, 0) + 1
            if reply is not None:
                out.test_replies.append({"request": item.occurrence, **reply})
            if isinstance(item, Event) and item.name in OUTCOME_EVENTS:
                _outcome_moves(out, stored, item, record, now)
            _applied(out, user, stored, record, effects, now)
        self.metrics.counted(out.counts())
        for kind, count in kinds.items():
            self.metrics.events.labels(kind).inc(count)
        return out

    def _run_step(self, record: Record, out: BatchResult, cache: dict[str, StoredState],
                  load: Callable[[str, Record], bytes | None], now: int, campaigns: CampaignSet) -> int:
        """Apply a run step's users, as the per-record path applies a run record for each
        (the same replay guard and shell step as the embedded runtime's run); returns how
        many were applied."""
        step, partition, offset = record.run, record.partition, record.offset
        applied = 0
        for user, raw, body in step.users:
            stored = cache.get(user)  # changed earlier in this batch: that state, not the store's
            if stored is None:
                if raw is None:
                    raw = load(user, record)
                    if raw is None:  # its events were dead letters: nobody to run for
                        continue
                try:
                    stored = StoredState.with_body(raw, body) if body is not None else StoredState.loads(raw)
                except Exception as exc:  # as the per-record path: never stops the partition
                    log.error("stored state of a user is unreadable (%r); starting it afresh", exc)
                    stored = StoredState(UserState(user))
                cache[user] = stored
            if stored.partition == partition and offset <= stored.offset:
                self.metrics.replayed.inc()
                continue
            run = ScheduledRun(user, step.campaign, step.slot, step.at)
            try:
                effects, _reply = apply(stored.state, run, now, campaigns)
            except Exception as exc:  # a dead letter that replays as this user's run record
                log.exception("applying a scheduled run failed")
                value, headers = encode_run(user, step.campaign, step.slot, step.at)
                letter = Record(user.encode(), value, headers, record.timestamp_ms, partition, offset, record.topic)
                out.dead_letters.append(DeadLetter(letter, "processing", f"processing failed: {exc!r}"))
                continue
            applied += 1
            _applied(out, user, stored, record, effects, now)
        return applied

    def _results(self, record: Record, out: BatchResult, cache: dict[str, StoredState],
                 load: Callable[[str, Record], bytes | None], now: int, campaigns: CampaignSet) -> int:
        """Apply a results record (records.encode_results: a sender batch's delivery results
        for this partition) in its place: each user's events together, loaded once, under
        one replay guard, the record's offset, which all of them share (so a user's second
        result is not taken for a replay of the first, and the record read again after a
        crash skips every user whose state applied it); returns how many were applied."""
        try:
            raws = decode_results(record.value)
        except EventError as exc:
            out.dead_letters.append(DeadLetter(record, exc.field, str(exc)))
            return 0
        max_ahead = campaigns.config.max_event_ahead * 1000
        by_user: dict[str, list[tuple[Event, object]]] = {}
        for raw in raws:
            try:
                event = parse_result(raw, record.timestamp_ms, max_ahead)
            except EventError as exc:
                out.dead_letters.append(DeadLetter(_one_event(record, raw), exc.field,
                                                   f"an event of a results record: {exc}"))
                continue
            by_user.setdefault(event.user, []).append((event, raw))
        applied = 0
        for user, events in by_user.items():
            stored = cache.get(user)
            if stored is None:
                stored = cache[user] = _stored(user, load(user, record))
            if stored.partition == record.partition and record.offset <= stored.offset:
                self.metrics.replayed.inc(len(events))
                continue
            for event, raw in events:
                try:
                    effects, _reply = apply(stored.state, event, now, campaigns)
                except Exception as exc:  # a dead letter that replays as the event alone
                    log.exception("applying a delivery result failed")
                    out.dead_letters.append(DeadLetter(_one_event(record, raw), "processing",
                                                       f"processing failed: {exc!r}"))
                    continue
                _outcome_moves(out, stored, event, record, now)
                _applied(out, user, stored, record, effects, now)
                applied += 1
        return applied


def _stored(user: str, raw: bytes | None) -> StoredState:
    """A user's stored state, a new one for a user never stored."""
    if raw is None:
        return StoredState(UserState(user))
    try:
        return StoredState.loads(raw)
    except Exception as exc:  # a corrupt stored state must not stop the partition
        log.error("stored state of a user is unreadable (%r); starting it afresh", exc)
        return StoredState(UserState(user))


def _one_event(record: Record, raw: object) -> Record:
    """One event of a results record as a record of its own, the plain form a result
    event had before they were batched: a dead letter that can be produced again as is."""
    user = raw.get("user") if isinstance(raw, dict) else None
    key = user.encode() if isinstance(user, str) else None
    return Record(key, orjson.dumps(raw), [], record.timestamp_ms, record.partition, record.offset, record.topic)


def _outcome_moves(out: BatchResult, stored: StoredState, event: Event, record: Record, now: int) -> None:
    """The stats a delivery result or report moves, each counted once per message and
    subscription (outcomes.py), tagged with the record that brought it."""
    for campaign, outcome in outcome_stats(stored.messages, event, now):
        for stat in with_series(outcome, now):
            out.moves.append(Move(record.partition, record.offset, campaign, stat, 1))


def _applied(out: BatchResult, user: str, stored: StoredState, record: Record, effects, now: int) -> None:
    """What an input applied to a user's state leaves in the batch: the state, marked with
    the record's offset (its replay guard), the stats it moved and its notifications."""
    partition, offset = record.partition, record.offset
    stored.partition, stored.offset = partition, offset
    out.states[user] = (stored, record)
    moves = out.moves
    for campaign, stat, amount in counts(effects):
        moves.append(Move(partition, offset, campaign, stat, amount))
    for effect in effects.items:
        if effect.__class__ is Notify:
            # A message decided again (same id) is sent once (the sender's
            # de-duplication) and counted once, as the embedded outbox does.
            if remember(stored.messages, effect, now):
                for stat in message_stats("sent", effect.variant, effect.test, now):
                    moves.append(Move(partition, offset, effect.campaign, stat, 1))
            out.notifications.append((effect, partition))


def _input_kind(item) -> str:
    if isinstance(item, WakeUp):
        return "wake"
    if isinstance(item, ScheduledRun):
        return "run"
    if isinstance(item, TestSend):
        return "test"
    return "system" if item.name in SYSTEM_EVENTS else "user"
