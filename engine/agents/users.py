"""The user agent's work, without Faust: a batch of events-topic records in, new states,
messages to send and dead letters out. `app.py` feeds it from the stream and writes back.

Per record: decode (or dead-letter), skip it if the stored state has already applied its
offset (a redelivery after a crash), call the core, keep the state in the batch's cache.
A test-send record also leaves its result in the batch's `test_replies`, which app.py
sends to the replies topic once the batch's notifications are in Kafka.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from engine.shell.metrics import Metrics
from engine.agents.records import ScheduledRun, StoredState, TestSendRequest, WakeUp, decode_record
from engine.core import (
    CampaignSet, Conversion, Effects, Event, EventError, Notify, Qualified, Suppressed, UserState,
    process_event, process_wake,
)
from engine.core.events import SYSTEM_EVENTS
from engine.core.schedule import process_scheduled_run
from engine.core.send_test import test_send

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


@dataclass
class DeadLetter:
    record: Record
    field: str
    reason: str


@dataclass
class BatchResult:
    states: dict[str, tuple[StoredState, Record]] = field(default_factory=dict)  # changed: user -> (state, last record)
    notifications: list[tuple[Notify, int]] = field(default_factory=list)  # (notify, events partition)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    test_replies: list[dict] = field(default_factory=list)  # results of test sends, for the requesters


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
        cache: dict[str, StoredState] = {}
        for record in records:
            try:
                item = decode_record(record.key, record.value, record.headers, record.timestamp_ms)
            except EventError as exc:
                out.dead_letters.append(DeadLetter(record, exc.field, str(exc)))
                continue
            user = item.user
            stored = cache.get(user)
            if stored is None:
                raw = load(user, record)
                if raw is None and isinstance(item, TestSendRequest):
                    # Never seen: nothing to send to, and no empty state made for the asking.
                    self._apply(UserState(user), item, campaigns, out)
                    continue
                try:
                    stored = StoredState.loads(raw) if raw is not None else StoredState(UserState(user))
                except Exception as exc:  # a corrupt stored state must not stop the partition
                    log.error("stored state of a user is unreadable (%r); starting it afresh", exc)
                    stored = StoredState(UserState(user))
                cache[user] = stored
            if stored.partition == record.partition and record.offset <= stored.offset:
                self.metrics.replayed.inc()
                continue
            try:
                effects = self._apply(stored.state, item, campaigns, out)
            except Exception as exc:  # a bug in the core costs this record, not the stream
                log.exception("applying a record failed")
                out.dead_letters.append(DeadLetter(record, "processing", f"processing failed: {exc!r}"))
                continue
            stored.partition, stored.offset = record.partition, record.offset
            out.states[user] = (stored, record)
            if not isinstance(item, TestSendRequest):  # test sends are counted apart
                self._count(effects)
            for effect in effects.items:
                if isinstance(effect, Notify):
                    out.notifications.append((effect, record.partition))
        return out

    def _apply(self, state: UserState, item, campaigns: CampaignSet, out: BatchResult) -> Effects:
        if isinstance(item, Event):
            self.metrics.events.labels("system" if item.name in SYSTEM_EVENTS else "user").inc()
            return process_event(state, item, campaigns)
        if isinstance(item, WakeUp):
            self.metrics.events.labels("wake").inc()
            # Never fire early: a wake-up is only as late as the clock says.
            return process_wake(state, min(item.at, self._clock_ms()), campaigns)
        if isinstance(item, TestSendRequest):
            self.metrics.events.labels("test").inc()
            effects, result = test_send(state, item, item.at, campaigns)
            if result["sent"]:
                self.metrics.sent.labels(item.campaign, "true").inc()
            out.test_replies.append({"request": item.request, **result})
            return effects
        assert isinstance(item, ScheduledRun)
        self.metrics.events.labels("run").inc()
        compiled = campaigns.get(item.campaign)
        # Waits due before the run fire first, as they would have on time.
        effects = process_wake(state, item.at, campaigns)
        if compiled is not None:
            effects.items.extend(process_scheduled_run(state, compiled, item.slot, item.at, campaigns).items)
        return effects

    def _count(self, effects: Effects) -> None:
        m = self.metrics
        for effect in effects.items:
            if isinstance(effect, Qualified):
                m.qualified.labels(effect.campaign).inc()
            elif isinstance(effect, Suppressed):
                m.suppressed.labels(effect.campaign, effect.reason).inc()
            elif isinstance(effect, Notify):
                m.sent.labels(effect.campaign, "false").inc()
            elif isinstance(effect, Conversion):
                m.conversions.labels(effect.campaign, effect.kind).inc()
