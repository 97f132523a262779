"""Delivery results and browser reports, counted once per message (and subscription),
with the embedded runtime's definitions (engine/shell/stats.py):

- `$notification_sent` / `$notification_failed` from the sender agent: delivered / failed,
  once per (message, subscription), the first final answer winning (the embedded
  runtime completes an outbox row once);
- `$push_unsubscribe` naming a message (a 404/410 from the push service, not a browser's
  own unsubscribe): unsubscribed, once per (message, subscription);
- `$notification_shown` / `$notification_clicked`: shown / clicked, once per message.

The sender reports a delivery again when its sends partition is read again after a crash
(Redis says it was done), and a browser may report twice; so the worker remembers each
user's recent messages in the user's stored value (`StoredState.messages`, written with
the state), as the embedded runtime remembers them in its outbox and reports tables:

    message id -> [campaign, flags (TEST | SHOWN | CLICKED), remembered at, [done], [unsubscribed], variant?]

where done/unsubscribed hold a short tag of each subscription's endpoint. A message is
remembered when the user agent decides it (so a test send's reports count under `test`)
and forgotten `HORIZON_MS` later, as the embedded runtime forgets its outbox rows, or
sooner past `MAX_MESSAGES` per user (the oldest first: a user's stored value stays
bounded; a result for a forgotten message counts under the campaign it names).
"""

from __future__ import annotations

import hashlib

from engine.core import Event, Notify
from engine.shell.step import message_stats

HORIZON_MS = 7 * 24 * 3600 * 1000  # as the embedded runtime's DEDUPE_HORIZON_MS
MAX_MESSAGES = 500  # remembered per user: far above what per-user limits let through
TEST, SHOWN, CLICKED = 1, 2, 4
RESULTS = {"$notification_sent": "delivered", "$notification_failed": "failed", "$push_unsubscribe": "unsubscribed"}
REPORTS = {"$notification_shown": ("shown", SHOWN), "$notification_clicked": ("clicked", CLICKED)}
OUTCOME_EVENTS = frozenset(RESULTS) | frozenset(REPORTS)


def _tag(endpoint: object) -> str:
    # Endpoints are long URLs; 8 bytes of a hash tell a user's few subscriptions apart.
    return hashlib.blake2b(str(endpoint or "").encode(), digest_size=8).hexdigest()


def forget_old(messages: dict, now: int) -> None:
    """Forget messages remembered more than `HORIZON_MS` before now, and the oldest past
    `MAX_MESSAGES - 1` (room for one more; dicts keep the order they were remembered in)."""
    cutoff = now - HORIZON_MS
    old = [message for message, entry in messages.items() if entry[2] < cutoff]
    for message in old:
        del messages[message]
    while len(messages) >= MAX_MESSAGES:
        del messages[next(iter(messages))]


def remember(messages: dict, notify: Notify, now: int) -> bool:
    """Remember a decided message; False when it was decided before (the same message
    decided again: sent and counted once, as the embedded outbox refuses a second row)."""
    if notify.message_id in messages:
        return False
    forget_old(messages, now)
    entry = [notify.campaign, TEST if notify.test else 0, now, [], []]
    if notify.variant is not None:  # the A/B variant its results and reports count for
        entry.append(notify.variant)
    messages[notify.message_id] = entry
    return True


def outcome_stats(messages: dict, event: Event, now: int) -> list[tuple[str, str]]:
    """The (campaign, stat) pairs a result or report event moves: none when it is about
    a message and subscription already counted, or names no message."""
    name = event.name
    if name not in OUTCOME_EVENTS:
        return []
    props = event.props
    message = props.get("message")
    if not isinstance(message, str) or not message:
        return []  # a browser's own unsubscribe, or a report about nothing
    entry = messages.get(message)
    if entry is None:
        # Decided before this worker remembered messages, or forgotten: the event's own
        # campaign, as the embedded runtime does for a report it cannot look up.
        campaign = props.get("campaign")
        if not isinstance(campaign, str) or not campaign:
            return []
        forget_old(messages, now)
        entry = messages[message] = [campaign, 0, now, [], []]
        variant = props.get("variant")  # a report's variant is signed with it
        if isinstance(variant, str) and variant:
            entry.append(variant)
    campaign, flags = entry[0], entry[1]
    variant = entry[5] if len(entry) > 5 else None
    test = bool(flags & TEST)
    if name in REPORTS:
        stat, bit = REPORTS[name]
        if flags & bit:
            return []
        entry[1] = flags | bit
        return [(campaign, s) for s in message_stats(stat, variant, test)]
    seen = entry[4] if name == "$push_unsubscribe" else entry[3]
    tag = _tag(props.get("endpoint"))
    if tag in seen:
        return []
    seen.append(tag)
    return [(campaign, s) for s in message_stats(RESULTS[name], variant, test)]
