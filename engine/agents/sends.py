"""The sender agent's work, without Faust: messages from the sends topic in, deliveries
through the `Sender` (rate limits shared through Redis), result events out (agent_records.py
produces a batch's as one `results` record per events partition: records.encode_results).

Each (message, subscription) is claimed in the de-duplication store first; a delivery
already done is not made again, only its outcome reported again, so the events topic
sees the result of every delivery at least once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

from connectors.push.errors import PushError
from connectors.push.message import PushMessage, SendResult
from connectors.push.sender import Sender
from connectors.push.subscription import Subscription as PushSubscription
from connectors.redis_dedup import BUSY, CLAIMED, DONE, RedisSendDedup
from engine.shell.metrics import Metrics
from engine.core import Notify

log = logging.getLogger(__name__)


def _failed_events(notify: Notify, endpoint: str, now_ms: int, status, reason: str, outcome: str) -> list[dict]:
    props = {"message": notify.message_id, "campaign": notify.campaign, "endpoint": endpoint}
    if outcome == "sent":
        return [{"user": notify.user, "event": "$notification_sent", "ts": now_ms, "props": {**props, "status": status}}]
    events = [{"user": notify.user, "event": "$notification_failed", "ts": now_ms,
               "props": {**props, "status": status, "reason": reason}}]
    if outcome == "unsubscribed":
        events.append({"user": notify.user, "event": "$push_unsubscribe", "ts": now_ms, "props": dict(props)})
    return events


class SendProcessor:
    def __init__(self, sender: Sender, dedup: RedisSendDedup, metrics: Metrics,
                 clock_ms: Callable[[], int], *, busy_poll: float = 0.25):
        self.sender = sender
        self.dedup = dedup
        self.metrics = metrics
        self._clock_ms = clock_ms
        self._busy_poll = busy_poll

    def _report_time(self, notify: Notify) -> int:
        # A report never precedes the decision (clocks of two workers may differ).
        return max(self._clock_ms(), notify.at)

    async def process(self, notifications: list[tuple[Notify, int]]) -> list[tuple[dict, int]]:
        """Deliver every (notify, events partition); return (result event, partition) pairs."""
        out: list[tuple[dict, int]] = []
        todo: list[tuple[str, PushMessage, Notify, int]] = []
        for notify, partition in notifications:
            for sub in notify.subscriptions:
                try:
                    subscription = PushSubscription(sub.endpoint, sub.p256dh, sub.auth)
                    message = PushMessage(notify.message_id, notify.campaign, notify.user, subscription,
                                          notify.payload, notify.ttl, notify.urgency)
                except PushError as exc:
                    self.metrics.push_answered("failed", "invalid")
                    out += [(e, partition) for e in _failed_events(
                        notify, sub.endpoint, self._report_time(notify), None, str(exc), "failed")]
                    continue
                todo.append((self.dedup.key(notify.message_id, sub.endpoint), message, notify, partition))
        while todo:
            claims = await self.dedup.claim([key for key, *_ in todo])
            to_send, busy = [], []
            for claim, item in zip(claims, todo):
                _key, message, notify, partition = item
                if claim.state == CLAIMED:
                    to_send.append(item)
                elif claim.state == DONE:
                    self.metrics.send_duplicates.inc()
                    out += [(e, partition) for e in _failed_events(
                        notify, message.subscription.endpoint, self._report_time(notify),
                        claim.status, claim.reason, claim.outcome)]
                else:
                    assert claim.state == BUSY
                    busy.append(item)
            if to_send:
                out += await self._send(to_send)
            todo = busy
            if busy:
                # Another worker holds these (it is sending, or it died and its lease runs out).
                await asyncio.sleep(self._busy_poll)
        return out

    async def _send(self, items) -> list[tuple[dict, int]]:
        keys = [key for key, *_ in items]
        renewer = asyncio.ensure_future(self._renew(keys)) if self.dedup.lease_ms else None
        try:
            results: list[SendResult] = await self.sender.send_many(message for _, message, _, _ in items)
        finally:
            if renewer is not None:
                renewer.cancel()
        await self.dedup.done([(key, r.outcome, r.status, r.reason) for key, r in zip(keys, results)])
        out = []
        for (_key, message, notify, partition), result in zip(items, results):
            service = message.subscription.host
            self.metrics.push_answered(result.outcome, service, result.latency, notify.at, self._clock_ms())
            out += [(e, partition) for e in result.to_events(self._report_time(notify))]
        return out

    async def _renew(self, keys: list[str]) -> None:
        while True:
            await asyncio.sleep(self.dedup.lease_ms / 3000)
            await self.dedup.renew(keys)
