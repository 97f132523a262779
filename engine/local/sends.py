"""The sends one writer batch decides: signed and kept in memory while the batch is
applied, then written to the outbox in one statement and counted once per message.

One INSERT per send cost as much as deciding it in scheduled runs (thousands of sends
per batch); the outbox's dedupe by (message id, endpoint) still decides which are new.
"""

from __future__ import annotations

import orjson

from connectors.push.message import MAX_TTL
from engine.core import Notify
from engine.local.store import Batch
from engine.shell.step import message_stats
from engine.shell.tracking import sign


class BatchSends:
    def __init__(self, secret: bytes):
        self.secret = secret
        self.rows: list[tuple] = []  # outbox rows, in decision order
        self.messages: list[tuple[str, str | None, bool, int]] = []  # (campaign, variant, test, rows)

    def add(self, notify: Notify, now: int) -> None:
        # The signature lets the service worker's reports prove they are about a real
        # message; `user` lets it say whose (the SDK may not know the user id offline).
        sig = sign(self.secret, notify.message_id, notify.campaign, notify.user, notify.variant)
        payload = orjson.dumps({**notify.payload, "user": notify.user, "sig": sig})
        ttl = max(0, min(int(notify.ttl), MAX_TTL))
        test = int(notify.test)
        for sub in notify.subscriptions:
            self.rows.append((notify.message_id, sub.endpoint, notify.user, notify.campaign, sub.p256dh, sub.auth,
                              payload, ttl, notify.urgency, test, now))
        self.messages.append((notify.campaign, notify.variant, notify.test, len(notify.subscriptions)))

    def write(self, batch: Batch, now: int) -> int:
        """Queue the rows in the outbox and count each message with a new row as sent
        (as one INSERT per send did); returns how many rows are new."""
        if not self.rows:
            return 0
        fresh = batch.enqueue_many(self.rows)
        sent: dict[tuple, int] = {}  # the same few per batch: (campaign, variant, test) -> messages sent
        queued = start = 0
        for campaign, variant, test, rows in self.messages:
            new = int(fresh[start]) if rows == 1 else sum(fresh[start:start + rows])
            start += rows
            if new:
                queued += new
                key = (campaign, variant, test)
                sent[key] = sent.get(key, 0) + 1
        for (campaign, variant, test), messages in sent.items():
            for stat in message_stats("sent", variant, test, now):
                batch.count(campaign, stat, messages)
        return queued
