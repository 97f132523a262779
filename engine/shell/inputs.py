"""The typed inputs every runtime feeds the shell's step, besides the core's `Event`.

A runtime decodes its bytes (an HTTP body, a file line, a Kafka record) into one of
these, or into an `Event`; delivery results and browser reports become `Event`s through
`result_event` / `report_event`, so the core sees one kind of thing for each.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass

from engine.core import Event

TRACK_EVENTS = {"shown": "$notification_shown", "clicked": "$notification_clicked"}
_test_requests = itertools.count(1)


@dataclass(frozen=True)
class WakeUp:
    """Fire this user's waits due by now; `at` is when the earliest was due."""

    user: str
    at: int


@dataclass(frozen=True)
class ScheduledRun:
    """One user's share of a scheduled campaign's run, made at `at` (epoch ms) for the
    wall-time `slot`. It is decided at the time it is applied, so a run made late (after
    downtime) follows the campaign's `late` rule in every runtime."""

    user: str
    campaign: str
    slot: str
    at: int


@dataclass(frozen=True)
class TestSend:
    """Send `campaign` to this test user, decided at `at` (the request's time, so a
    redelivery decides the same message id); `occurrence` is the request's own part of
    the message id."""

    __test__ = False  # not a pytest class

    user: str
    campaign: str
    occurrence: str
    at: int


@dataclass(frozen=True)
class Report:
    """A shown/clicked report from a service worker, its signature already checked; the
    runtime takes its campaign and user from the message it sent when it still has it."""

    message_id: str
    kind: str  # shown | clicked
    campaign: str
    user: str
    action: str = ""
    variant: str = ""  # the A/B variant the report names (signed with the message)


def new_occurrence(now: int) -> str:
    """A test-send request's own part of the message ids: the time, a counter and a
    random tag (a restart resets the counter), so a second request is a new message."""
    return f"{now}:{next(_test_requests)}:{secrets.token_hex(4)}"


def report_event(user: str, kind: str, message_id: str, campaign: str, action: str, now: int,
                 variant: str = "") -> Event:
    """A verified shown/clicked report from a service worker, as the core's event."""
    props = {"message": message_id, "campaign": campaign, "action": action}
    if variant:
        props["variant"] = variant
    return Event(user, TRACK_EVENTS[kind], now, props)
