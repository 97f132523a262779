"""The sender loop: takes queued outbox rows, sends them through the push `Sender`, and
hands each outcome back to the runtime, which marks the row done, counts it and feeds
the result events (`$notification_sent`, `$notification_failed`, `$push_unsubscribe`)
to the core in one transaction.

What is guaranteed: a row is marked done only after its push service answered (or the
sender gave up), so a crash never loses a send; a row marked done is never sent again.
A crash after the push service accepted a message but before its row was marked done
sends it again on restart: that window is one commit wide (milliseconds), and the
repeat carries the same `Topic` header, so a push service still holding the first copy
for an offline browser replaces it instead of showing two.
"""

from __future__ import annotations

import asyncio
import logging

import orjson

from connectors.push import PushError, PushMessage, Subscription
from engine.local.runtime import Runtime, SendDone
from engine.local.store import OutboxRow

log = logging.getLogger("pushcast.outbox")


class OutboxSender:
    def __init__(self, runtime: Runtime, sender, *, max_in_flight: int = 2048, metrics=None):
        self.runtime = runtime
        self.sender = sender
        self.max_in_flight = max_in_flight
        self.metrics = metrics
        self._in_flight: set[int] = set()
        self._tasks: set[asyncio.Task] = set()
        self._last_seq = 0
        self._slot_free = asyncio.Event()

    async def run(self) -> None:
        ready = self.runtime.outbox_ready
        while True:
            await ready.wait()
            ready.clear()
            while True:
                room = self.max_in_flight - len(self._in_flight)
                if room <= 0:
                    self._slot_free.clear()
                    await self._slot_free.wait()
                    continue
                rows = self.runtime.store.pending(room, self._last_seq)
                if not rows:
                    break
                for row in rows:
                    self._last_seq = max(self._last_seq, row.seq)
                    if row.seq in self._in_flight:
                        continue
                    self._in_flight.add(row.seq)
                    task = asyncio.create_task(self._send(row))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)

    async def _send(self, row: OutboxRow) -> None:
        try:
            try:
                message = PushMessage(row.message_id, row.campaign, row.user,
                                      Subscription(row.endpoint, row.p256dh, row.auth),
                                      orjson.loads(row.payload), row.ttl, row.urgency)
            except PushError as exc:  # stored before validation rules changed: never sendable
                log.warning("message %s to %s cannot be sent: %s", row.message_id, row.endpoint, exc)
                if self.metrics is not None:
                    self.metrics.push_answered("failed", "invalid")
                done = SendDone(row, "failed", [_failed_event(row, str(exc))])
            else:
                result = await self.sender.send(message)
                if result.outcome != "sent":
                    log.info("message %s (campaign %s) to %s: %s %s", row.message_id, row.campaign,
                             row.endpoint, result.outcome, result.reason)
                if self.metrics is not None:
                    self.metrics.push_answered(result.outcome, message.subscription.host, result.latency,
                                               row.created, self.runtime.clock.now())
                done = SendDone(row, result.outcome, result.to_events(0))
            while True:
                try:
                    await self.runtime.submit([done])
                    break
                except Exception:  # the disk refused the batch: keep the outcome, try again
                    await asyncio.sleep(1)
        finally:
            self._in_flight.discard(row.seq)
            self._slot_free.set()

    async def close(self, grace: float = 0.0) -> None:
        """Let sends in flight finish for up to `grace` seconds (their outcomes are
        committed: no repeat at the next start), then cancel the rest (sent again then)."""
        if grace > 0 and self._tasks:
            await asyncio.wait(list(self._tasks), timeout=grace)
        while self._tasks:  # cancelled again while any is left: a library may swallow one cancellation
            for task in list(self._tasks):
                task.cancel()
            await asyncio.wait(list(self._tasks), timeout=1.0)


def _failed_event(row: OutboxRow, reason: str) -> dict:
    return {"user": row.user, "event": "$notification_failed", "ts": 0,
            "props": {"message": row.message_id, "campaign": row.campaign, "endpoint": row.endpoint,
                      "status": None, "reason": reason}}
